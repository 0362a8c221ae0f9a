"""The settings beyond the course's, each shown to do what it says; the probe; choosing on dev; sweeps and recipes;
and the listing of stored runs. Trainings are real and small (the embedded MiniLM on real data), in fp32 on every CPU
(``precision="fp32"``: the loss and pooling identities are fp32 algebra); direct model calls run in fp32 anyway."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from hwlib import runs as E
from hwlib.models.adapters import add_adapters
from hwlib.train.config import RunConfig
from hwlib.models.heads import MeanPooler, balanced_class_weights, use_mean_pooling, weighted_cross_entropy
from hwlib.models.encoders import load_model
from hwlib.train.finetune import build_trainer, finetune
from hwlib.runs.load_or_train import run

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision

TINY = RunConfig(dataset="agnews_sup", max_train_samples=48, max_eval_samples=32, epochs=1, learning_rate=1e-4,
                 precision="fp32")


@pytest.fixture(scope="module")
def minilm():
    return load_model("minilm", num_labels=3, seed=0)


def test_mean_pooling_feeds_the_head_the_mean_of_the_real_tokens(minilm):
    _, tok = minilm
    model, _ = load_model("minilm", num_labels=3, seed=0, tokenizer=tok)
    use_mean_pooling(model).eval()
    assert isinstance(model.bert.pooler, MeanPooler) and not any("pooler" in n for n, _ in model.named_parameters())
    texts = ["a short one", "a much longer sentence that needs padding in the other row of the batch"]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
        h = model.bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        expected = model.classifier((h * m).sum(1) / m.sum(1))
        alone = model(**tok(texts[:1], return_tensors="pt")).logits  # no padding at all
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(logits[:1], alone, atol=1e-5, rtol=1e-4)  # padding does not enter the mean


def test_mean_pooling_is_refused_where_the_head_does_not_read_the_pooler():
    from transformers import AutoModelForSequenceClassification, RobertaConfig

    with torch.device("meta"):
        roberta = AutoModelForSequenceClassification.from_config(RobertaConfig(num_hidden_layers=1))
    with pytest.raises(ValueError, match="pooling='mean' needs a BERT-style model"):
        use_mean_pooling(roberta)


def test_warmup_and_weight_decay_reach_the_optimizer(tmp_path):
    cfg = TINY.replace(warmup_ratio=0.25, weight_decay=0.01)
    trainer, _ = build_trainer(cfg, str(tmp_path), progress=False)
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.0  # warm-up starts from zero ...
    for _ in range(25):
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(1e-4)  # ... and peaks after 25 % of the steps
    decays = {g["weight_decay"] for g in trainer.optimizer.param_groups}
    assert decays == {0.0, 0.01}  # biases and LayerNorms are not decayed, the rest is
    plain, _ = build_trainer(TINY, str(tmp_path / "plain"), progress=False)
    plain.create_optimizer_and_scheduler(num_training_steps=100)
    assert plain.lr_scheduler.get_last_lr()[0] == pytest.approx(1e-4)
    assert {g["weight_decay"] for g in plain.optimizer.param_groups} == {0.0}


def test_train_pooler_makes_the_pooler_train_with_the_adapters(minilm):
    _, tok = minilm
    for flag in (False, True):
        model, _ = load_model("minilm", num_labels=3, seed=0, tokenizer=tok)
        add_adapters(model, size=8, train_pooler=flag)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        pooler = {n for n, _ in model.named_parameters() if n.startswith("bert.pooler.")}
        assert len(pooler) == 2 and (pooler <= trainable) == flag and not (pooler & trainable and not flag)


def test_settings_that_do_not_apply_are_reset_so_one_run_has_one_key():
    assert RunConfig(pooling="mean", method="adapter", train_pooler=True).train_pooler is False
    assert RunConfig(method="full", train_pooler=True).train_pooler is False
    probe = RunConfig(method="probe", epochs=10, learning_rate=1e-4, pooling="mean", patience=3, select_on_dev=True)
    assert probe.settings() == {"select_on_dev": True}
    with pytest.raises(ValueError, match="patience=3 \\(early stopping needs select_on_dev=True\\)"):
        RunConfig(patience=3)


def test_class_weights_are_balanced_and_weigh_the_loss():
    w = balanced_class_weights([0, 0, 0, 1], 2)
    torch.testing.assert_close(w, torch.tensor([4 / 6, 4 / 2]))
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    loss = weighted_cross_entropy(w)({"logits": logits}, labels)
    per = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    torch.testing.assert_close(loss, (per * w).sum() / w.sum())
    with pytest.raises(ValueError, match="every class needs a training example"):
        balanced_class_weights([0, 0], 2)


def test_class_weighted_run_trains_with_the_weighted_loss(tmp_path):
    trainer, tok = build_trainer(TINY.replace(class_weighted=True, dataset="acl_sup"), str(tmp_path), progress=False)
    assert trainer.compute_loss_func is not None
    batch = trainer.data_collator([tok["train"][i] for i in range(8)])
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids", "labels")}
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch))
        logits = trainer.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    w = balanced_class_weights(tok["train"]["label"][:], 6)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits, batch["labels"], weight=w))


@pytest.fixture(scope="module")
def dev_run():
    """Five epochs that choose their epoch on dev; a learning rate so small that dev never improves after epoch 1,
    so early stopping with patience 2 ends the run after epoch 3."""
    cfg = TINY.replace(dataset="restaurant_sup", epochs=5, learning_rate=1e-9, select_on_dev=True, patience=2)
    return cfg, finetune(cfg, progress=False)


@pytest.mark.slow
def test_select_on_dev_evaluates_on_dev_keeps_the_best_epoch_and_reads_test_once(dev_run):
    cfg, r = dev_run
    assert r["data"]["dev"] == 32 and r["data"]["test"] == 32
    assert "semeval14_restaurant/dev.json" in r["data"]["files"]
    dev = [e["macro_f1"] for e in r["eval_history"]]
    assert r["selection"]["chosen_epoch"] == 1.0 + int(np.argmax(dev))
    assert r["selection"]["epochs_run"] == len(dev) == 3 < cfg.epochs  # stopped early
    assert set(r["metrics"]) == {"accuracy", "micro_f1", "macro_f1", "loss"}


@pytest.mark.slow
def test_a_run_chosen_on_dev_keeps_the_chosen_epochs_dev_predictions_and_the_test_ones(dev_run):
    from sklearn.metrics import f1_score

    from hwlib.train.predictions import arrays

    cfg, r = dev_run
    from hwlib.train.inputs import load_splits

    splits = load_splits(cfg, "[SEP]")
    gold, pred, _ = arrays(r, "dev")
    assert gold.tolist() == splits["dev"]["label"][:]  # the split's own order
    assert r["predictions"]["dev"]["epoch"] == r["selection"]["chosen_epoch"] and len(gold) == r["data"]["dev"]
    assert f1_score(gold, pred, average="macro") == pytest.approx(r["selection"]["dev_macro_f1"])
    gold, pred, prob = arrays(r, "test")
    assert gold.tolist() == splits["test"]["label"][:] and prob.shape == (len(gold), 3)
    assert f1_score(gold, pred, average="macro") == pytest.approx(r["metrics"]["macro_f1"])


@pytest.mark.slow
def test_the_probe_is_a_real_classifier_on_frozen_features():
    cfg = RunConfig(method="probe", dataset="agnews_sup", max_train_samples=200, max_eval_samples=200,
                    select_on_dev=True)
    r = finetune(cfg, progress=False)
    assert r["metrics"]["accuracy"] > 0.6  # four balanced classes: the floor is about 0.25
    assert [h["C"] for h in r["eval_history"]] and r["selection"]["chosen_C"] in [h["C"] for h in r["eval_history"]]
    assert r["params"]["trainable"] == 4 * 384 + 4 and r["data"]["dev"] == 200
    from hwlib.train.predictions import arrays

    gold, pred, prob = arrays(r, "test")
    assert prob.shape == (200, 4) and np.mean(gold == pred) == pytest.approx(r["metrics"]["accuracy"])
    gold, pred, _ = arrays(r, "dev")  # at the chosen regularisation strength
    from sklearn.metrics import f1_score

    assert f1_score(gold, pred, average="macro") == pytest.approx(r["selection"]["dev_macro_f1"])
    assert r["predictions"]["dev"]["C"] == r["selection"]["chosen_C"]


def _rec(method, dataset, seed, dev, **settings):
    c = RunConfig(model="minilm", method=method, dataset=dataset, seed=seed, select_on_dev=True, **settings)
    return {"config": c.__dict__, "key": f"k{seed}{dev}", "selection": {"dev_macro_f1": dev},
            "metrics": {"accuracy": 0.9, "macro_f1": 0.1 + dev}}


def test_recipes_are_chosen_by_mean_dev_score_never_by_test():
    recs = [_rec("full", "acl_sup", 1, 0.55, learning_rate=1e-4), _rec("full", "acl_sup", 2, 0.70, learning_rate=1e-4),
            _rec("full", "acl_sup", 1, 0.65, learning_rate=3e-4), _rec("full", "acl_sup", 2, 0.55, learning_rate=3e-4)]
    recs[2]["metrics"]["macro_f1"] = 0.99  # a test score that must not matter
    (chosen,) = E.choose_recipes(recs)
    assert chosen["settings"] == {"learning_rate": 1e-4, "select_on_dev": True}
    assert chosen["dev_macro_f1"] == pytest.approx(0.625) and len(chosen["candidates"]) == 2


def test_grid_recipe_trains_the_chosen_settings_and_names_what_is_missing(results_dir):
    E.write_recipes("t", E.choose_recipes([_rec("full", "acl_sup", 1, 0.5, pooling="mean")]), "sweep ...")
    E.write_recipes("t", E.choose_recipes([_rec("adapter", "acl_sup", 1, 0.4, learning_rate=1e-3)]), "sweep ...")
    got = E.recipe_configs("t", [("minilm", "full"), ("minilm", "adapter")], ["acl_sup"], [1, 2])
    assert [(c.method, c.seed, c.settings()) for c in got][:2] == [
        ("full", 1, {"pooling": "mean", "select_on_dev": True}),
        ("adapter", 1, {"learning_rate": 1e-3, "select_on_dev": True})]
    with pytest.raises(ValueError, match=r"no recipe for \['minilm full restaurant_sup'\]"):
        E.recipe_configs("t", [("minilm", "full")], ["restaurant_sup"], [1])
    with pytest.raises(ValueError, match="run `python -m hwlib sweep --name other"):
        E.recipe_configs("other", [("minilm", "full")], ["acl_sup"], [1])


def test_vary_values_are_parsed_and_checked():
    assert E.parse_vary(["learning_rate=1e-4,3e-4", "pooling=cls,mean", "class_weighted=true,false"]) == {
        "learning_rate": [1e-4, 3e-4], "pooling": ["cls", "mean"], "class_weighted": [True, False]}
    with pytest.raises(ValueError, match="pooling='max'"):
        E.parse_vary(["pooling=max"])
    with pytest.raises(ValueError, match="write FIELD=VALUE,VALUE"):
        E.parse_vary(["learning_rate"])
    assert len(E.sweep_configs([RunConfig()], E.parse_vary(["learning_rate=1e-4,3e-4", "pooling=cls,mean"]))) == 4


@pytest.mark.slow
def test_results_json_lists_each_stored_configuration(results_dir):
    cfg = TINY.replace(seed=3, max_train_samples=16)
    run(cfg)
    p = subprocess.run([sys.executable, "-m", "hwlib", "results", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (g,) = json.loads(p.stdout)
    assert set(g) == {"model", "method", "dataset", "settings", "seeds", "accuracy_mean", "accuracy_std",
                      "macro_f1_mean", "macro_f1_std", "at_floor"}
    assert g["settings"] == {"epochs": 1, "learning_rate": 1e-4, "max_train_samples": 16, "max_eval_samples": 32,
                             "precision": "fp32"}
    assert g["seeds"] == 1 and g["accuracy_std"] is None and 0 <= g["accuracy_mean"] <= 100


def test_a_one_at_a_time_sweep_changes_one_setting_from_the_base():
    from hwlib.__main__ import configs, parser

    base = dict(method="adapter", learning_rate=1e-3, pooling="mean", train_pooler=True)
    got = E.neighbour_configs([base], E.parse_vary(["learning_rate=1e-3,3e-4", "pooling=mean,cls"]))
    assert [(c.learning_rate, c.pooling, c.train_pooler) for c in got] == [
        (1e-3, "mean", False), (3e-4, "mean", False), (1e-3, "cls", True)]  # 3 runs, not the cross's 4
    assert all(c.select_on_dev for c in got)
    ns = parser().parse_args(["sweep", "--methods", "full", "--datasets", "acl_sup", "--seeds", "1",
                              "--learning-rate", "1e-4", "--pooling", "mean", "--one-at-a-time",
                              "--vary", "learning_rate=1e-4,3e-4,5e-5", "pooling=mean,cls"])
    assert [(c.learning_rate, c.pooling) for c in configs(ns)] == [(1e-4, "mean"), (3e-4, "mean"), (5e-5, "mean"),
                                                                 (1e-4, "cls")]


def test_transferred_recipes_keep_their_settings_on_the_new_datasets_and_choose_on_their_dev():
    (recipe,) = E.choose_recipes([_rec("full", "acl_sup", 1, 0.6, learning_rate=1e-4, pooling="mean", epochs=10)])
    got = E.transferred_configs([recipe], {"restaurant": {}, "agnews": {"epochs": 3}}, [1, 2])
    assert [(c.dataset, c.seed, c.epochs) for c in got] == [
        ("restaurant_sup", 1, 10), ("agnews_sup", 1, 3), ("restaurant_sup", 2, 10), ("agnews_sup", 2, 3)]
    assert all(c.learning_rate == 1e-4 and c.pooling == "mean" and c.select_on_dev for c in got)
    with pytest.raises(ValueError, match="unknown dataset 'imdb'"):
        E.transferred_configs([recipe], {"imdb": {}}, [1])
