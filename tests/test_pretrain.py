"""Task-adaptive pretraining: names, a real (tiny) MLM pretraining that lowers the held-out loss, the saved encoder
that fine-tuning loads, resuming after an interruption, and clear errors.

Arithmetic: ``hwlib.train.pretrain`` trains in fp32 on every machine (it has no precision setting and no autocast),
and the masked-only head is compared with the stock head in direct fp32 calls, so ``precision="auto"`` decides
nothing here."""
import json
import subprocess
import sys

import pytest
import torch

from hwlib.models.encoders import load_model
from hwlib.models import tapt as T
from hwlib.runs import pretrained
from hwlib.store import pretrainings
from hwlib.train import pretrain as P

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision


def test_names_resolve_to_configurations_and_bad_ones_are_refused():
    assert T.parse("minilm") is None
    assert T.parse("minilm+tapt:acl_sup") == T.PretrainConfig(model="minilm", dataset="acl_sup")
    assert T.parse("minilm+tapt:agnews_sup:e5").epochs == 5
    assert T.parse("minilm+tapt:agnews_sup:e5").name() == "minilm+tapt:agnews_sup:e5"
    control = T.parse("minilm+tapt:agnews_sup:n1688")  # the cross-domain control: as many texts as ACL-ARC's
    assert (control.max_train_samples, control.epochs, control.name()) == (1688, 20, "minilm+tapt:agnews_sup:n1688")
    assert T.parse("minilm+tapt:agnews_sup:e5:n100").name() == "minilm+tapt:agnews_sup:e5:n100"
    odd = T.PretrainConfig(batch_size=8)  # not expressible as a name: the key tells it apart, and it is no model
    assert odd.name() == f"minilm+tapt:acl_sup@{odd.key()}"
    with pytest.raises(ValueError, match="write BASE\\+tapt:TASK"):
        T.parse(odd.name())
    with pytest.raises(ValueError, match="write BASE\\+tapt:TASK"):
        T.parse("minilm+tapt")
    with pytest.raises(ValueError, match="unknown dataset name"):
        T.parse("minilm+tapt:imdb_sup")


@pytest.fixture
def cache(tmp_path, monkeypatch, results_dir):
    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_missing_checkpoint_without_permission_to_train_is_a_clear_error(cache):
    with pytest.raises(FileNotFoundError, match="python -m hwlib pretrain --model minilm\\+tapt:acl_sup"):
        pretrained.checkpoint("minilm+tapt:acl_sup", train=False)
    with pytest.raises(FileNotFoundError, match="python -m hwlib pretrain --model minilm\\+tapt:acl_sup"):
        load_model("minilm+tapt:acl_sup", num_labels=6)  # loading never pretrains
    assert not (cache / "pretrained").exists()
    p = subprocess.run([sys.executable, "-m", "hwlib", "pretrain", "--model", "minilm+tapt"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "write BASE+tapt:TASK" in p.stderr


def _fake_record(cfg, sha, after, date):
    return {"name": cfg.name(), "key": cfg.key(), "config": {}, "heldout_mlm_loss": {"before": 10.0, "after": after},
            "heldout_curve": [], "train_curve": [], "data": {}, "timing": {"wall_s": 60.0},
            "checkpoint": {"path": str(T.checkpoint_dir(cfg)), "sha256": sha},
            "provenance": {"date": date, "device": "cpu (x86_64, 1 threads)", "precision": "fp32"}}


def test_a_checkpoint_made_again_keeps_the_first_record_and_says_whether_it_is_the_same(cache, monkeypatch):
    cfg = T.PretrainConfig(dataset="acl_sup", epochs=5)
    made = iter([("aaa", 4.5, "2026-12-01"), ("bbb", 4.5000001, "2026-12-06"), ("aaa", 4.5, "2026-12-07")])

    def fake_pretrain(config, progress=True, cross_domains=()):
        sha, after, date = next(made)
        T.checkpoint_dir(config).mkdir(parents=True, exist_ok=True)
        (T.checkpoint_dir(config) / "model.safetensors").write_bytes(b"w")
        return _fake_record(config, sha, after, date)

    monkeypatch.setattr(pretrained, "pretrain", fake_pretrain)
    for _ in range(3):
        pretrained.checkpoint(cfg, progress=False)
        (T.checkpoint_dir(cfg) / "model.safetensors").unlink()  # the cache emptied, as on a new machine
    rec = pretrainings.get(cfg)
    assert rec["checkpoint"]["sha256"] == "aaa" and rec["provenance"]["date"] == "2026-12-01"  # the first stays
    assert [(r["sha256"], r["same_checkpoint"], r["date"]) for r in rec["remade"]] == [
        ("bbb", False, "2026-12-06"), ("aaa", True, "2026-12-07")]
    assert rec["remade"][0]["heldout_mlm_loss"]["after"] == 4.5000001
    other = _fake_record(T.PretrainConfig(dataset="acl_sup", epochs=10), "ccc", 4.0, "2026-12-08")
    with pytest.raises(ValueError, match="is not a re-make of"):
        pretrainings.remade(rec, other)


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_pretraining_lowers_the_heldout_loss_saves_the_encoder_and_resumes(cache, results_dir, monkeypatch):
    from transformers import AutoModel, Trainer

    from hwlib.models.encoders import minilm_path

    cfg = T.PretrainConfig(dataset="acl_sup", epochs=2, max_train_samples=64, batch_size=16)
    train = Trainer.train

    def stop_after_first_epoch(self, *a, **k):  # the first attempt is interrupted once epoch 1 is saved
        self.args.num_train_epochs = 1
        train(self, *a, **k)
        raise Interrupt

    monkeypatch.setattr(Trainer, "train", stop_after_first_epoch)
    with pytest.raises(Interrupt):
        P.pretrain(cfg, progress=False, cross_domains=["restaurant_sup"])
    assert list((cache / "pretrained" / cfg.key() / "checkpoints").glob("checkpoint-*"))
    monkeypatch.setattr(Trainer, "train", train)
    path = pretrained.checkpoint(cfg, progress=False, cross_domains=["acl_sup", "restaurant_sup"])  # resumes, stores
    rec = pretrainings.get(cfg)
    assert path == rec["checkpoint"]["path"] and pretrained.checkpoint(cfg, train=False) == path
    assert rec["timing"]["resumed"] and rec["train_curve"][-1]["epoch"] == 2.0
    assert rec["timing"]["epochs_timed"] == 2  # both epochs timed, the one before the resume too
    from hwlib.analysis.pretraining_readings import timed

    minutes, over = timed(rec)
    assert minutes == pytest.approx(rec["timing"]["epochs_s"] / 60) and "more than one process" in over
    first_only = rec | {"timing": rec["timing"] | {"epochs_timed": 1, "epochs_s": 30.0}}
    assert timed(first_only) == (0.5, timed(first_only)[1]) and "its last 1 epoch:" in timed(first_only)[1]
    assert rec["heldout_mlm_loss"]["after"] < rec["heldout_mlm_loss"]["before"]
    curve = rec["heldout_curve"]  # measured after each epoch, the first one's kept through the resume
    assert [c["epoch"] for c in curve] == [0, 1, 2] and curve[0]["loss"] == rec["heldout_mlm_loss"]["before"]
    assert curve[-1]["loss"] == pytest.approx(rec["heldout_mlm_loss"]["after"])
    assert rec["data"]["files"]["acl_arc/dev.jsonl"] and rec["data"]["train_texts"] == 64
    assert rec["data"]["train_tokens"] > 64 * 10
    (other,) = rec["heldout_other_domains"]  # its own domain is the main held-out loss, not repeated here
    assert other == "restaurant_sup" and set(rec["heldout_other_domains"][other]) == {"before", "after"}
    stored = json.loads(next((results_dir / "pretrain").glob("*.json")).read_text())
    assert stored["checkpoint"]["sha256"] == rec["checkpoint"]["sha256"]
    adapted = AutoModel.from_pretrained(rec["checkpoint"]["path"], use_safetensors=True)
    base = AutoModel.from_pretrained(minilm_path(), use_safetensors=True)
    torch.testing.assert_close(adapted.pooler.dense.weight, base.pooler.dense.weight)  # MLM does not train it
    assert not torch.equal(adapted.encoder.layer[0].attention.self.query.weight,
                           base.encoder.layer[0].attention.self.query.weight)
    # fine-tuning loads it by name (here the tiny encoder stands in for the cached minilm+tapt:acl_sup)
    from hwlib.models import encoders

    monkeypatch.setattr(encoders, "pretrained_dir", lambda name: rec["checkpoint"]["path"])
    clf, _ = encoders.load_model("minilm+tapt:acl_sup", num_labels=6, seed=0)
    torch.testing.assert_close(clf.bert.encoder.layer[0].attention.self.query.weight,
                               adapted.encoder.layer[0].attention.self.query.weight)


def test_the_masked_only_head_gives_the_stock_loss_and_gradients():
    import torch
    from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling

    from hwlib.models.encoders import load_tokenizer, resolve
    from hwlib.train.pretrain import masked_only_head

    tok = load_tokenizer("minilm")
    batch = DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)(
        [{"input_ids": ids} for ids in tok(["the citation motivates the method used here",
                                            "we compare our results with prior work on parsing"])["input_ids"]])
    losses, grads = [], []
    for sparse in (False, True):
        torch.manual_seed(0)
        model = AutoModelForMaskedLM.from_pretrained(resolve("minilm"), use_safetensors=True).eval()
        if sparse:
            model = masked_only_head(model)
        out = model(**batch)
        out.loss.backward()
        losses.append(out.loss.detach())
        grads.append(model.bert.encoder.layer[0].attention.self.query.weight.grad.clone())
        n_masked = int((batch["labels"] != -100).sum())
        assert out.logits.shape[0] == (n_masked if sparse else 2)  # projected rows: only the masked ones
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_a_roberta_family_encoder_is_pretrained_and_saved_through_its_base_model_prefix(cache, tmp_path):
    """Pretraining finds the encoder by ``base_model_prefix`` (``.roberta`` here, ``.bert`` for MiniLM): a tiny
    random RoBERTa (MiniLM's tokenizer, whose vocabulary it shares) pretrains, and its saved encoder is the trained
    one, loadable by a RoBERTa classifier."""
    from transformers import AutoModel, AutoModelForSequenceClassification, RobertaConfig, RobertaForMaskedLM

    from hwlib.models.encoders import load_tokenizer

    tok = load_tokenizer("minilm")
    torch.manual_seed(0)
    tiny = RobertaForMaskedLM(RobertaConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=80, pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id))
    src = tmp_path / "tiny-roberta"
    tiny.save_pretrained(src, safe_serialization=True)
    tok.save_pretrained(src)
    cfg = T.PretrainConfig(model=str(src), dataset="acl_sup", epochs=1, max_train_samples=32, batch_size=16,
                           max_length=64, learning_rate=1e-3)
    rec = P.pretrain(cfg, progress=False, cross_domains=())
    saved = AutoModel.from_pretrained(rec["checkpoint"]["path"], use_safetensors=True)
    assert type(saved).__name__ == "RobertaModel"
    before = tiny.roberta.encoder.layer[0].attention.self.query.weight
    after = saved.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(before, after)  # the trained encoder was saved, not the initial one
    clf = AutoModelForSequenceClassification.from_pretrained(rec["checkpoint"]["path"], num_labels=6,
                                                             use_safetensors=True)
    torch.testing.assert_close(clf.roberta.encoder.layer[0].attention.self.query.weight, after)
