"""The chapters' helpers: the command a missing-runs note prints trains exactly what is missing."""
import re
import shlex

import pandas as pd
import pytest

from hwlib import report as R
from hwlib.__main__ import configs, parser
from hwlib.train import RunConfig


MIXED = (R.book_configs(["minilm-scratch"], ["full"], ["agnews_sup"], [2, 3])
         + R.book_configs(["minilm"], ["adapter"], ["agnews_sup"], [1], learning_rate=1e-3)
         + R.book_configs(["minilm"], ["adapter"], ["acl_sup", "agnews_sup"], [2, 3], learning_rate=1e-3))


@pytest.mark.parametrize("missing", [
    R.book_configs(["minilm"], ["adapter"], ["acl_sup", "restaurant_sup"], [3, 1], learning_rate=1e-3),
    R.book_configs(["minilm", "minilm-scratch"], ["full"], ["agnews_sup"], [2], epochs=1, max_train_samples=32),
    [RunConfig(seed=2, group_by_length=False)],
    [RunConfig(seed=1, precision="fp32", max_eval_samples=16, max_length=128)],
    MIXED,
])
def test_grid_commands_train_exactly_the_missing_runs(missing):
    trained = []
    for cmd in R.grid_commands(missing):
        argv = shlex.split(cmd)
        assert argv[:4] == ["python", "-m", "hwlib", "grid"]
        trained += configs(parser().parse_args(argv[3:]))
        assert cmd in R.missing_note(missing)
    assert sorted(map(repr, trained)) == sorted(map(repr, missing))  # each once, nothing beyond


def test_every_setting_field_has_its_flag():
    from hwlib.train import SETTING_FIELDS

    flags = {a.dest for a in parser()._subparsers._group_actions[0].choices["grid"]._actions}
    assert set(SETTING_FIELDS) <= flags
    assert set(SETTING_FIELDS) <= set(RunConfig.__dataclass_fields__)


def test_trainer_default_learning_rate_is_the_trainers():
    from transformers import TrainingArguments

    assert R.TRAINER_DEFAULT_LR == TrainingArguments.__dataclass_fields__["learning_rate"].default


def test_mixed_settings_get_one_command_each():
    assert len(R.grid_commands(MIXED)) == 3


def test_no_missing_runs():
    assert R.missing_note([]) == "All requested runs are stored."


@pytest.mark.parametrize("bad", [0, -1e-3, 1.5, "1e-3", True])
def test_bad_adapter_learning_rate_is_refused(bad):
    with pytest.raises(ValueError, match=f"adapter_learning_rate={bad!r}"):
        R.validate(adapter_learning_rate=bad)


def test_at_floor_counts_seeds_that_predict_only_the_majority_class():
    floor = R.majority_baseline(["restaurant_sup"]).loc["restaurant_sup"]
    df = R.runs_frame([])
    rows = [("adapter", 1, floor.accuracy, floor.macro_f1), ("adapter", 2, floor.accuracy + 0.9, floor.macro_f1 + 5),
            ("full", 1, 80.0, 68.0)]
    df = pd.DataFrame([{**dict.fromkeys(df.columns), "model": "minilm", "method": m, "learning_rate": 5e-5,
                        "dataset": "restaurant_sup", "seed": s, "accuracy": a, "macro_f1": f} for m, s, a, f in rows])
    t = R.at_floor(df).set_index("method")
    assert (t.loc["adapter", "seeds"], t.loc["adapter", "at_floor"]) == (2, 1)
    assert t.loc["full", "at_floor"] == 0
    assert "`minilm` adapter, learning rate 5e-05, on `restaurant_sup`: 1 of 2" in R.describe_floor(df)
    assert "No run scores" in R.describe_floor(df[df.method == "full"])


def test_batching_check_pairs_seeds():
    g = pd.DataFrame({"seed": [1, 2, 3], "accuracy": [60.0, 61.0, 62.0], "macro_f1": [20.0, 22.0, 24.0]})
    r = pd.DataFrame({"seed": [2, 3, 4], "accuracy": [63.0, 62.0, 99.0], "macro_f1": [25.0, 24.0, 99.0]})
    t = R.batching_check(g, r)
    assert list(t.index) == [2, 3, "mean", "std"]
    assert t.loc["mean", "accuracy difference"] == -1.0 and t.loc["mean", "macro_f1 difference"] == -1.5
    assert "note" in R.batching_check(g, r[r.seed == 4])


@pytest.mark.parametrize("bad", [[], [1, -2], [1.5], "1"])
def test_bad_batching_seeds_are_refused(bad):
    with pytest.raises(ValueError, match=re.escape(f"batching_seeds={bad!r}")):
        R.validate(batching_seeds=bad)


def test_describe_gap_gives_the_signed_gaps():
    gap = pd.DataFrame([{"seeds": 3, "accuracy_gap": -1.25, "accuracy_gap_std": 0.5, "macro_f1_gap": 2.0,
                         "final_train_loss_gap": 0.1, "trainable_pct_adapter": 2.56, "epoch_speedup": 2.0,
                         "peak_memory_ratio": float("nan")}], index=pd.Index(["acl_sup"], name="dataset"))
    text = R.describe_gap(gap, None)
    assert "full fine-tuning minus adapters is -1.2 ± 0.5 accuracy points and +2.0 macro-F1 points" in text
    assert "0.50x the time" in text and "no per-run memory record" in text


def test_batching_checks_pair_only_stored_runs(results_dir):
    assert "note" in R.batching_checks([], [1]).columns
    t = R.batching_checks(["acl_sup"], [1, 2])  # an empty store: nothing to pair, and nothing trained
    assert "no seed has both" in t.loc["acl_sup"].note.iloc[0]
    assert not (results_dir / "runs").exists()
