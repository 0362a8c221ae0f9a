"""precision="auto" on a CPU: bf16 only where the CPU has native bf16 and a timed matmul shows it faster."""
import json

import pytest

from hwlib.machine import precision
from hwlib.machine import provenance

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision

NATIVE = {"cpu": "test cpu", "flags": {"avx512_bf16": True}, "onednn_bf16": True, "native": True}
EMULATED = {"cpu": "test cpu", "flags": {"avx512_bf16": False}, "onednn_bf16": True, "native": False}


def test_without_native_bf16_auto_is_fp32_and_nothing_is_timed():
    assert precision.decide(EMULATED, None)[0] == "fp32"
    assert "emulated" in precision.decide(EMULATED, None)[1]


@pytest.mark.parametrize("speedup, chosen", [(2.0, "bf16"), (1.3, "bf16"), (1.1, "fp32"), (0.6, "fp32")])
def test_native_bf16_is_chosen_only_when_its_matmul_is_measured_faster(speedup, chosen):
    got, reason = precision.decide(NATIVE, {"speedup": speedup})
    assert got == chosen and f"{speedup:.2f}x" in reason


def test_native_bf16_without_a_timing_is_an_error():
    with pytest.raises(ValueError, match="time_matmuls"):
        precision.decide(NATIVE, None)


@pytest.fixture
def measured(monkeypatch):
    """What ``auto`` measures on its own: no forced decision, whatever this run of the suite was told."""
    monkeypatch.delenv("HWLIB_AUTO_PRECISION", raising=False)


def test_the_choice_is_measured_once_and_cached(tmp_path, monkeypatch, measured):
    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(precision, "bf16_capability", lambda: NATIVE)
    calls = []
    monkeypatch.setattr(precision, "time_matmuls", lambda: calls.append(1) or {"speedup": 2.0})
    first = precision.cpu_choice()
    second = precision.cpu_choice()
    assert first["precision"] == second["precision"] == "bf16" and len(calls) == 1
    assert precision.cpu_choice(refresh=True)["precision"] == "bf16" and len(calls) == 2
    stored = json.loads((tmp_path / "precision.json").read_text())
    assert [v["precision"] for v in stored.values()] == ["bf16"]


def test_an_unreadable_cache_is_measured_again_not_trusted(tmp_path, monkeypatch, measured):
    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path))
    (tmp_path / "precision.json").write_text("{not json")
    monkeypatch.setattr(precision, "bf16_capability", lambda: NATIVE)
    monkeypatch.setattr(precision, "time_matmuls", lambda: {"speedup": 0.5})
    assert precision.cpu_choice()["precision"] == "fp32"
    assert json.loads((tmp_path / "precision.json").read_text())  # rewritten whole


def test_auto_on_a_cpu_trains_in_the_measured_choice(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_choice", lambda: {"precision": "bf16"})
    assert provenance.device_and_precision("auto")[1] == "bf16"
    assert provenance.device_and_precision("fp32")[1] == "fp32"  # an explicit precision is kept as it is


def test_the_timed_matmuls_give_flop_rates_and_refuse_bad_rounds():
    t = precision.time_matmuls(rounds=2, shape=(64, 64, 64))
    assert t["fp32_flops"] > 0 and t["bf16_flops"] > 0 and t["speedup"] == t["bf16_flops"] / t["fp32_flops"]
    with pytest.raises(ValueError, match="rounds=0"):
        precision.time_matmuls(rounds=0)


@pytest.mark.slow
def test_a_bf16_run_really_computes_in_bf16_under_the_trainer(tmp_path):
    import torch

    from hwlib.train.config import RunConfig
    from hwlib.train.finetune import build_trainer

    seen = []
    # 16 tokens a text: the check is of dtypes, and a CPU without native bf16 emulates it slowly
    trainer, _ = build_trainer(RunConfig(precision="bf16", max_train_samples=16, max_eval_samples=16, epochs=1,
                                         max_length=16), str(tmp_path), progress=False)
    query = trainer.model.bert.encoder.layer[0].attention.self.query
    query.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    trainer.train()
    assert seen and set(seen) == {torch.bfloat16}
    assert query.weight.dtype == torch.float32  # autocast: the weights stay fp32


# ------------------------------------------------------------------------------------------------ forcing auto
@pytest.mark.parametrize("decision", ["bf16", "fp32"])
def test_the_forced_decision_stands_without_measuring_or_caching(decision, tmp_path, monkeypatch):
    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HWLIB_AUTO_PRECISION", decision)
    for capability in (NATIVE, EMULATED):  # either way on either kind of CPU
        monkeypatch.setattr(precision, "bf16_capability", lambda: capability)
        monkeypatch.setattr(precision, "time_matmuls", lambda: pytest.fail("timed although the decision is forced"))
        choice = precision.cpu_choice()
        assert choice["precision"] == decision and choice["forced"]
        assert f"HWLIB_AUTO_PRECISION={decision}" in choice["reason"]
    assert not (tmp_path / "precision.json").exists()  # not cached as this CPU's own measured choice
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert provenance.device_and_precision("auto")[1] == decision
    assert provenance.device_and_precision("fp32")[1] == "fp32"  # an explicit precision is never overridden


@pytest.mark.parametrize("decision", ["bf16", "fp32"])
def test_the_forced_decision_holds_on_a_gpu_too(decision, monkeypatch, measured):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "test gpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert provenance.device_and_precision("auto") == ("test gpu", "fp16")  # measured: no bf16 on this GPU
    monkeypatch.setenv("HWLIB_AUTO_PRECISION", decision)
    assert provenance.device_and_precision("auto") == ("test gpu", decision)


@pytest.mark.parametrize("decision", ["bf16", "fp32"])
def test_auto_reaches_the_trainer_as_the_forced_decision(decision, tmp_path, monkeypatch):
    from hwlib.train.config import RunConfig
    from hwlib.train.finetune import training_arguments

    monkeypatch.setenv("HWLIB_AUTO_PRECISION", decision)
    args = training_arguments(RunConfig(), str(tmp_path))
    assert (args.bf16, args.fp16) == (decision == "bf16", False)


def test_a_bad_forced_decision_is_refused_before_anything_loads(tmp_path, monkeypatch):
    import hwlib.train as T

    monkeypatch.setenv("HWLIB_AUTO_PRECISION", "fp16")
    monkeypatch.setattr(T, "prepare", lambda *a, **k: pytest.fail("loaded a model although the setting is bad"))
    with pytest.raises(ValueError, match="HWLIB_AUTO_PRECISION='fp16': must be one of bf16, fp32"):
        T.build_trainer(T.RunConfig(), str(tmp_path), progress=False)
    monkeypatch.setenv("HWLIB_AUTO_PRECISION", "")  # empty is unset: auto measures
    assert precision.forced() is None


def test_this_run_of_the_suite_trains_auto_as_it_was_told():
    # CI runs the numerics-sensitive files once with each forced decision: check that the forcing reached them
    import os

    forced = os.environ.get("HWLIB_AUTO_PRECISION")
    if not forced:
        pytest.skip("HWLIB_AUTO_PRECISION is not set: auto measures this CPU")
    import torch

    if not torch.cuda.is_available():
        assert provenance.device_and_precision("auto")[1] == forced


def test_the_device_names_its_threads_in_words_old_records_included(monkeypatch):
    import torch

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert provenance.device_and_precision("fp32")[0].endswith(", 1 thread)")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert provenance.device_and_precision("fp32")[0].endswith(", 2 threads)")
    assert provenance.device_words("cpu (x86_64, 1 threads)") == "cpu (x86_64, 1 thread)"  # as stored before
    assert provenance.device_words("cpu (x86_64, 11 threads)") == "cpu (x86_64, 11 threads)"
