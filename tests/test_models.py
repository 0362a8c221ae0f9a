"""Models by name: the embedded MiniLM, the from-scratch baseline, and clear errors offline."""
import pytest
import torch

from hwlib.models.encoders import PAPER_MODELS, load_model, resolve

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision


def test_minilm_is_the_pretrained_embedded_model():
    model, tok = load_model("minilm", num_labels=4, seed=0)
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (6, 384, 12)
    assert model.classifier.out_features == 4
    assert tok("Hello World")["input_ids"] == tok("hello world")["input_ids"]  # uncased
    assert tok.sep_token == "[SEP]"


def test_scratch_has_the_same_shape_and_different_weights():
    pre, _ = load_model("minilm", num_labels=2, seed=0)
    scratch, _ = load_model("minilm-scratch", num_labels=2, seed=0)
    a, b = pre.state_dict(), scratch.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    w = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(a[w], b[w])
    scratch2, _ = load_model("minilm-scratch", num_labels=2, seed=0)
    assert torch.equal(scratch2.state_dict()[w], b[w])  # seeded


def test_an_already_loaded_tokenizer_is_reused():
    from hwlib.models.encoders import load_tokenizer

    tok = load_tokenizer("minilm")
    model, same = load_model("minilm", num_labels=2, seed=0, tokenizer=tok)
    assert same is tok and model.config.vocab_size == len(tok)


def test_paper_models_resolve_to_hub_ids():
    assert resolve("scibert") == "allenai/scibert_scivocab_uncased"
    assert set(PAPER_MODELS) == {"bert", "roberta", "scibert"}


def test_offline_hub_model_names_the_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="minilm"):
        load_model("bert", num_labels=2)


@pytest.mark.parametrize("bad", [1, 0, "3"])
def test_bad_num_labels(bad):
    with pytest.raises(ValueError, match="num_labels"):
        load_model("minilm", num_labels=bad)
