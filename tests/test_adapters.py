"""Adapters: exact parameter counts, identity at insertion, and which parameters train.

Arithmetic: the models here are called directly, outside the Trainer and any autocast, so in fp32 on every machine;
the identity at insertion is checked to fp32's precision."""
import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, RobertaConfig

from hwlib.models.adapters import WithAdapter, add_adapters, adapter_parameter_count, count_parameters
from hwlib.models.encoders import load_model

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision


@pytest.fixture(scope="module")
def minilm():
    model, tok = load_model("minilm", num_labels=3, seed=0)
    return model, tok


def _meta_model(config):
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


def _head_size(model):
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith("classifier"))


@pytest.mark.parametrize(
    "config",
    [
        BertConfig(num_labels=6),  # bert-base-uncased: L=12, H=768, vocab 30522
        RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, num_labels=6),
    ],
    ids=["bert-base", "roberta-base"],
)
def test_adapter_count_matches_closed_form_on_paper_configs(config):
    model = _meta_model(config)
    before = count_parameters(model)["total"]
    add_adapters(model, size=64)
    counts = count_parameters(model)
    expected = adapter_parameter_count(config.num_hidden_layers, config.hidden_size, 64)
    assert expected == 2 * 12 * (2 * 768 * 64 + 768 + 64) == 2_379_264
    assert counts["adapter"] == expected
    assert counts["total"] == before + expected
    assert counts["trainable"] == expected + _head_size(model)


def test_adapter_count_on_minilm(minilm):
    model, _ = load_model("minilm", num_labels=3, seed=0)
    add_adapters(model, size=64)
    counts = count_parameters(model)
    assert counts["adapter"] == adapter_parameter_count(6, 384, 64) == 2 * 6 * (2 * 384 * 64 + 384 + 64)
    assert counts["trainable"] == counts["adapter"] + 384 * 3 + 3
    # every adapter parameter is named as one, and only those (plus the head) train
    for name, p in model.named_parameters():
        assert p.requires_grad == ("adapter" in name or name.startswith("classifier")), name


def test_two_adapters_per_layer_in_houlsby_positions(minilm):
    model, _ = load_model("minilm", num_labels=3, seed=0)
    add_adapters(model, size=8)
    for layer in model.bert.encoder.layer:
        assert isinstance(layer.attention.output.dropout, WithAdapter)
        assert isinstance(layer.output.dropout, WithAdapter)
    assert sum(isinstance(m, WithAdapter) for m in model.modules()) == 12


def test_insertion_keeps_the_pretrained_function(minilm):
    model, tok = minilm
    model = model.eval()
    batch = tok(["the soup was cold[SEP]soup", "a short one"], padding=True, return_tensors="pt")
    with torch.no_grad():
        before = model(**batch).logits.clone()
        add_adapters(model, size=64)
        after = model(**batch).logits
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


def test_only_adapters_and_head_get_gradients():
    model, tok = load_model("minilm", num_labels=3, seed=0)
    add_adapters(model, size=16)
    model.train()
    batch = tok(["good food", "bad service and cold soup"], padding=True, return_tensors="pt")
    # two steps: the zero-initialised up-projection must move before the down-projection sees a gradient
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        model(**batch, labels=torch.tensor([2, 0])).loss.backward()
        opt.step()
    for name, p in model.named_parameters():
        if "adapter" in name or name.startswith("classifier"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


def test_layernorm_option_trains_layernorms():
    model, _ = load_model("minilm", num_labels=3, seed=0)
    add_adapters(model, size=8, train_layernorm=True)
    ln = [p.requires_grad for n, p in model.named_parameters() if "LayerNorm" in n]
    assert ln and all(ln)
    assert not model.bert.embeddings.word_embeddings.weight.requires_grad


@pytest.mark.parametrize("size", [0, -3, 2.5, "64"])
def test_bad_adapter_size_is_refused(size):
    model = _meta_model(BertConfig(num_hidden_layers=1))
    with pytest.raises(ValueError, match="adapter size"):
        add_adapters(model, size=size)


def test_adapters_are_not_added_twice():
    model = _meta_model(BertConfig(num_hidden_layers=1))
    add_adapters(model, size=4)
    with pytest.raises(ValueError, match="already"):
        add_adapters(model, size=4)
