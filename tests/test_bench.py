"""hwlib.speed.bench: the pieces the benchmarks are built from (fast: small model loads, no training)."""
import json
import math
import random

import pytest

from hwlib.speed import bench
from hwlib.speed import flops


def _plan(sizes):
    return [{"indices": [i], "width": p, "padded": p, "real": p} for i, p in enumerate(sizes)]


def test_spread_takes_evenly_spaced_quantiles_of_batch_size():
    plan = _plan([50, 10, 40, 20, 30, 60, 70, 80])
    assert [b["padded"] for b in bench.spread(plan, 4)] == [20, 40, 60, 80]
    assert [b["padded"] for b in bench.spread(plan, 1)] == [50]
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        bench.spread(plan, 0)


def test_plan_totals_counts_padding():
    plan = [{"indices": [0, 1], "width": 5, "padded": 10, "real": 7}, {"indices": [2], "width": 3, "padded": 3, "real": 3}]
    assert bench.plan_totals(plan) == {"batches": 2, "examples": 3, "real_tokens": 10, "padded_tokens": 13,
                                       "pad_fraction": pytest.approx(3 / 13)}


def test_summary_line_is_the_json_of_the_figures():
    line = bench.summary_line({"b": 1.5, "a": {"c": 2}})
    assert line.startswith("SUMMARY ") and json.loads(line[len("SUMMARY "):]) == {"a": {"c": 2}, "b": 1.5}
    with pytest.raises(ValueError):
        bench.summary_line({"x": math.nan})


def test_adapter_flop_bound_for_minilm():
    from hwlib.models.adapters import add_adapters
    from hwlib.models.encoders import load_model

    full, _ = load_model("minilm", 6)
    adapted, _ = load_model("minilm", 6)
    add_adapters(adapted)
    fb = flops.adapter_flop_bound(full, adapted)
    L, H, F = 6, 384, 1536  # layers, hidden, feed-forward
    n = L * (4 * (H * H + H) + (H * F + F) + (F * H + H) + 2 * 2 * H)  # attention, FFN, two LayerNorms
    assert fb["n"] == n == flops.token_params(full)["per_token"]
    assert fb["n_below"] == 4 * (H * H + H)
    assert fb["bound"] == pytest.approx(6 * n / (4 * (n + fb["n_adapter"]) - 2 * fb["n_below"] + 2 * fb["n_adapter"]))
    assert 1.3 < fb["bound"] < 1.5


def test_epoch_plan_follows_the_trainers_sampler(tmp_path):
    from datasets import Dataset
    from transformers import Trainer

    from hwlib.models.encoders import load_model

    model, _ = load_model("minilm", 2)
    rng = random.Random(0)
    lengths = [rng.randint(5, 200) for _ in range(256)]
    ds = Dataset.from_dict({"input_ids": [[101] * n for n in lengths], "length": lengths, "n_real": lengths,
                            "label": [0] * len(lengths)})
    totals = {}
    for strategy in ("group_by_length", "random"):
        args = bench.quiet_trainer_args(per_device_train_batch_size=16, train_sampling_strategy=strategy,
                                        length_column_name="length", output_dir=str(tmp_path))
        plan = bench.epoch_plan(Trainer(model=model, args=args, train_dataset=ds))
        assert sorted(i for b in plan for i in b["indices"]) == list(range(len(lengths)))
        totals[strategy] = bench.plan_totals(plan)
        assert totals[strategy]["real_tokens"] == sum(lengths) and totals[strategy]["batches"] == 16
    assert totals["group_by_length"]["pad_fraction"] < totals["random"]["pad_fraction"] / 2
