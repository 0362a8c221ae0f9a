"""Real fine-tuning on real data with the embedded MiniLM: learning happens, adapters freeze what they should,
seeds reproduce, stored runs are reused, and bad configurations are refused before anything loads.

Arithmetic: every training here pins ``precision="fp32"``, so the thresholds and the bit-exact seed check mean the
same on every CPU, whatever ``auto`` would choose there (bf16 training is checked in ``test_precision.py``)."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from hwlib.store.runs import ResultStore
from hwlib.train.config import RunConfig
from hwlib.train.finetune import build_trainer, finetune
from hwlib.runs.load_or_train import run

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision

# AG News: 4 balanced classes, so the majority baseline is about 25 %
SMALL = RunConfig(dataset="agnews_sup", max_train_samples=192, max_eval_samples=128, epochs=2, learning_rate=1e-4,
                  precision="fp32")


def _majority_accuracy(tok):
    train = np.asarray(tok["train"]["label"])
    test = np.asarray(tok["test"]["label"])
    return float(np.mean(test == np.bincount(train).argmax()))


@pytest.fixture(scope="module")
def full_run():
    return finetune(SMALL, progress=False)


@pytest.mark.slow
def test_finetuning_beats_the_majority_baseline(full_run):
    acc = full_run["metrics"]["accuracy"]
    assert acc > 0.6, full_run["metrics"]  # majority class is ~0.25 on balanced AG News
    curve = [c["loss"] for c in full_run["train_curve"]]
    assert np.mean(curve[-3:]) < np.mean(curve[:3])  # the training loss fell
    assert len(full_run["eval_history"]) == SMALL.epochs  # evaluated every epoch


@pytest.mark.slow
def test_record_keeps_every_test_prediction_and_they_give_its_metrics(full_run):
    from sklearn.metrics import f1_score

    from hwlib.train.predictions import arrays

    from hwlib.train.inputs import load_splits

    gold, pred, prob = arrays(full_run, "test")
    assert len(gold) == len(pred) == full_run["data"]["test"] == 128 and prob.shape == (128, 4)
    # in the split's own order (the Trainer evaluates length-grouped batches in a seeded order of its own)
    assert gold.tolist() == load_splits(SMALL, "[SEP]")["test"]["label"][:]
    assert np.allclose(prob.sum(axis=1), 1, atol=1e-3) and (pred == prob.argmax(axis=1)).all()
    assert np.mean(gold == pred) == pytest.approx(full_run["metrics"]["accuracy"])
    assert f1_score(gold, pred, average="macro") == pytest.approx(full_run["metrics"]["macro_f1"])
    assert "dev" not in full_run["predictions"]  # the course's runs evaluate on test only
    with pytest.raises(KeyError, match="keeps no dev predictions"):
        arrays(full_run, "dev")


@pytest.mark.slow
def test_record_has_metrics_curves_and_provenance(full_run):
    r = full_run
    assert set(r["metrics"]) >= {"accuracy", "micro_f1", "macro_f1"}
    assert r["metrics"]["micro_f1"] == pytest.approx(r["metrics"]["accuracy"])  # single-label: micro-F1 = accuracy
    assert r["params"]["trainable"] == r["params"]["total"] > 20_000_000
    assert {k: r["data"][k] for k in ("train", "test", "num_labels")} == {"train": 192, "test": 128, "num_labels": 4}
    assert r["data"]["train_tokens_per_epoch"] > 192 * 10
    assert r["timing"]["train_examples_per_s"] > 0 and len(r["timing"]["epoch_s"]) == 2
    assert r["memory"]["peak_bytes"] > 100e6
    prov = r["provenance"]
    assert {"hwlib", "torch", "transformers", "device", "date", "precision"} <= set(prov)
    assert prov["torch"] == torch.__version__


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the per-run peak needs /proc/self/clear_refs")
def test_peak_memory_belongs_to_the_run_not_to_the_process():
    import os

    from hwlib.machine.peak import peak_rss_bytes

    big = np.ones(4 * 10**9, dtype=np.uint8)  # an earlier 4 GB peak in the same process, as a grid's earlier run
    high_water = peak_rss_bytes()
    del big
    r = finetune(SMALL.replace(max_train_samples=32, max_eval_samples=32, epochs=1), progress=False)
    if os.environ.get("HWLIB_PEAK_MEMORY") == "process":  # forced, as on a machine that cannot reset the mark
        assert r["memory"]["kind"] == "process_peak_rss"
        assert r["memory"]["peak_bytes"] > high_water - 1e9  # the earlier 4 GB counts: it is the process's peak
    else:
        assert r["memory"]["kind"] == "run_peak_rss"
        assert 100e6 < r["memory"]["peak_bytes"] < high_water - 1e9  # ru_maxrss would report >= high_water


def test_the_peak_memory_switch_forces_either_kind_and_refuses_a_bad_value(monkeypatch):
    from hwlib.train import record

    if torch.cuda.is_available():
        pytest.skip("on a GPU the peak is torch.cuda.max_memory_allocated, whatever the switch says")
    monkeypatch.setenv("HWLIB_PEAK_MEMORY", "process")
    with record.PeakMemory() as m:
        pass
    assert m.kind == "process_peak_rss" and m.bytes > 100e6  # this process, torch loaded
    monkeypatch.setenv("HWLIB_PEAK_MEMORY", "run")
    monkeypatch.setattr(record.PeakMemory, "_reset_rss", staticmethod(lambda: False))  # a machine that forbids it
    with pytest.raises(RuntimeError, match="HWLIB_PEAK_MEMORY=run, but this machine cannot reset"):
        record.PeakMemory().__enter__()
    monkeypatch.delenv("HWLIB_PEAK_MEMORY")
    with record.PeakMemory() as m:  # unset: the fallback, said in the record
        pass
    assert m.kind == "process_peak_rss"
    monkeypatch.setenv("HWLIB_PEAK_MEMORY", "rss")
    with pytest.raises(ValueError, match="HWLIB_PEAK_MEMORY='rss': must be 'run' or 'process'"):
        finetune(SMALL, progress=False)  # refused before anything loads


@pytest.mark.slow
def test_adapter_training_changes_only_adapters_and_head(tmp_path):
    cfg = SMALL.replace(method="adapter", max_train_samples=48, epochs=1, learning_rate=1e-3)
    trainer, tok = build_trainer(cfg, str(tmp_path), progress=False)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in before if "adapter" in n or n.startswith("classifier")}
    assert changed == trainable  # every adapter weight moved, every frozen weight is bit-identical


@pytest.mark.slow
def test_same_seed_same_result():
    cfg = SMALL.replace(max_train_samples=32, max_eval_samples=32, epochs=1)
    a, b = finetune(cfg, progress=False), finetune(cfg, progress=False)
    assert a["metrics"] == b["metrics"]
    assert a["train_curve"] == b["train_curve"]


@pytest.mark.slow
def test_run_reuses_a_stored_run_and_trains_only_when_allowed(results_dir, monkeypatch):
    from hwlib.data import fingerprint
    from hwlib.store.runs import REQUIRED

    store = ResultStore(results_dir / "runs")
    cfg = SMALL.replace(seed=7)

    def must_not_train(*a, **k):
        raise AssertionError("trained although not allowed to")

    monkeypatch.setattr("hwlib.runs.load_or_train.finetune", must_not_train)
    assert run(cfg, store=store, train=False) is None  # missing and not allowed to train: nothing happens
    store.put(cfg, {**{k: {} for k in REQUIRED}, "metrics": {"accuracy": 0.123}}, fingerprint(cfg.dataset))
    lines = []
    assert run(cfg, store=store, train=False, log=lines.append)["metrics"]["accuracy"] == 0.123
    assert lines == [f"stored: {store.path(cfg, fingerprint(cfg.dataset))}"]
    with pytest.raises(AssertionError, match="trained"):
        run(cfg, store=store, retrain=True)


@pytest.mark.slow
def test_record_keeps_the_data_it_was_trained_on(full_run):
    from hwlib.data import SOURCES

    assert full_run["data"]["files"] == {"ag_news/test.csv": SOURCES[("ag_news", "test.csv")].md5}
    assert full_run["data"]["modified"] == []


@pytest.mark.parametrize(
    "field, value",
    [("method", "prompt"), ("dataset", "acl_sp"), ("epochs", 0), ("adapter_size", 0), ("batch_size", -1),
     ("learning_rate", -1e-3), ("learning_rate", 2.0), ("precision", "int8"), ("max_train_samples", 0), ("stratified_train_samples", 1),
     ("group_by_length", "no"), ("seed", True)],
)
def test_bad_config_is_refused_naming_the_value(field, value):
    with pytest.raises(ValueError, match=f"{field}={value!r}"):
        RunConfig(**{field: value})


def test_cli_refuses_bad_values_before_loading_a_model_or_data(results_dir):
    # the command line as `python -m hwlib train --dataset acl_sp`, then which heavy libraries it had imported
    probe = ("import runpy, sys\nsys.argv = ['hwlib', 'train', '--dataset', 'acl_sp']\ntry:\n"
             "    runpy.run_module('hwlib', run_name='__main__')\nexcept SystemExit as e:\n"
             "    print(e.code, 'transformers' in sys.modules, 'datasets' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert p.stdout.split() == ["2", "False", "False"], p.stdout + p.stderr  # refused before any model or data
    assert "acl_sp" in p.stderr and "acl_sup" in p.stderr
    assert not (results_dir / "runs").exists()


@pytest.mark.slow
def test_cli_cuda_memory_without_a_gpu_writes_nothing(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the command would measure")
    out = tmp_path / "cuda.json"
    p = subprocess.run([sys.executable, "-m", "hwlib", "cuda-memory", "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 2 and "CUDA device" in p.stderr and not out.exists()


def test_cli_help():
    p = subprocess.run([sys.executable, "-m", "hwlib", "grid", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--preset" in p.stdout and "--seeds" in p.stdout


@pytest.mark.slow
def test_data_parallel_under_torchrun(results_dir):
    """Two gloo processes on the CPU train one run; only rank 0 stores it."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29617",
           "-m", "hwlib", "train", "--dataset", "acl_sup", "--max-train-samples", "32", "--max-eval-samples", "16",
           "--epochs", "1", "--precision", "fp32", "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    stored = ResultStore(results_dir / "runs").all()
    assert len(stored) == 1
    rec = stored[0]
    assert rec["provenance"]["world_size"] == 2
    assert rec["data"]["train"] == 32
    # 32 examples, global batch 16 = 2 steps in total, not 2 per process
    assert rec["train_curve"] == [] or rec["train_curve"][-1]["step"] <= 2


@pytest.mark.slow
def test_predictions_stored_in_evaluation_order_are_put_back_in_the_splits(full_run):
    # runs stored before predictions were reordered kept them in the Trainer's length-grouped evaluation order
    import copy
    import importlib.util
    from pathlib import Path

    from hwlib.models.encoders import load_tokenizer
    from hwlib.train.record import eval_order
    from hwlib.train.inputs import load_splits, tokenize

    path = Path(__file__).resolve().parent.parent / "scripts" / "reorder_predictions.py"
    spec = importlib.util.spec_from_file_location("reorder_predictions", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    tokenizer = load_tokenizer(SMALL.model)
    order = eval_order(tokenize(SMALL, tokenizer, load_splits(SMALL, tokenizer.sep_token))["test"], SMALL.seed, True)
    assert sorted(order) == list(range(128)) and list(order) != list(range(128))
    old = copy.deepcopy(full_run)
    for key in ("label", "pred", "prob"):
        old["predictions"]["test"][key] = [full_run["predictions"]["test"][key][i] for i in order]
    assert script.reorder(old) == "test: reordered" and old["predictions"] == full_run["predictions"]
    assert script.reorder(old) == "test: in order"


def test_a_stratified_sample_keeps_the_class_shares_and_is_drawn_anew_with_each_seed():
    from collections import Counter

    from hwlib.train.inputs import load_splits

    cfg = RunConfig(dataset="restaurant_sup", select_on_dev=True, stratified_train_samples=1688)
    whole = Counter(load_splits(cfg.replace(stratified_train_samples=None), "[SEP]")["train"]["label"])
    one, two = (load_splits(cfg.replace(seed=s), "[SEP]")["train"] for s in (1, 2))
    assert len(one) == len(two) == 1688
    shares = Counter(one["label"])
    n = sum(whole.values())
    assert all(abs(shares[c] - 1688 * k / n) <= 1 for c, k in whole.items())  # proportional to within one example
    assert one["text"] != two["text"]  # another seed, another draw
    assert load_splits(cfg, "[SEP]")["train"]["text"] == one["text"]  # the same seed, the same draw
    with pytest.raises(ValueError, match="stratified_train_samples=9999 is not below the 3452"):
        load_splits(cfg.replace(stratified_train_samples=9999), "[SEP]")
