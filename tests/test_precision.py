"""precision="auto" on a CPU: bf16 only where the CPU has native bf16 and a timed matmul shows it faster."""
import json

import pytest

from hwlib import precision, record

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


def test_the_choice_is_measured_once_and_cached(tmp_path, monkeypatch):
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


def test_an_unreadable_cache_is_measured_again_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path))
    (tmp_path / "precision.json").write_text("{not json")
    monkeypatch.setattr(precision, "bf16_capability", lambda: NATIVE)
    monkeypatch.setattr(precision, "time_matmuls", lambda: {"speedup": 0.5})
    assert precision.cpu_choice()["precision"] == "fp32"
    assert json.loads((tmp_path / "precision.json").read_text())  # rewritten whole


def test_auto_on_a_cpu_trains_in_the_measured_choice(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_choice", lambda: {"precision": "bf16"})
    assert record.device_and_precision("auto")[1] == "bf16"
    assert record.device_and_precision("fp32")[1] == "fp32"  # an explicit precision is kept as it is


def test_the_timed_matmuls_give_flop_rates_and_refuse_bad_rounds():
    t = precision.time_matmuls(rounds=2, shape=(64, 64, 64))
    assert t["fp32_flops"] > 0 and t["bf16_flops"] > 0 and t["speedup"] == t["bf16_flops"] / t["fp32_flops"]
    with pytest.raises(ValueError, match="rounds=0"):
        precision.time_matmuls(rounds=0)


def test_a_bf16_run_really_computes_in_bf16_under_the_trainer(tmp_path):
    import torch

    from hwlib.train import RunConfig, build_trainer

    seen = []
    trainer, _ = build_trainer(RunConfig(precision="bf16", max_train_samples=16, max_eval_samples=16, epochs=1),
                               str(tmp_path), progress=False)
    query = trainer.model.bert.encoder.layer[0].attention.self.query
    query.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    trainer.train()
    assert seen and set(seen) == {torch.bfloat16}
    assert query.weight.dtype == torch.float32  # autocast: the weights stay fp32
