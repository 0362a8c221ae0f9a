"""The chapters' helpers: the command a missing-runs note prints trains exactly what is missing, and a setting added
to RunConfig reaches the command line, the notebook checks and those commands without any other edit."""
import re
import shlex

import dataclasses

import pandas as pd
import pytest

from hwlib import runs as E
from hwlib.analysis import paired as P
from hwlib.analysis import report as R
from hwlib.__main__ import configs, parser
from hwlib.train.config import RunConfig, check_parameters, setting


MIXED = (E.book_configs(["minilm-scratch"], ["full"], ["agnews_sup"], [2, 3])
         + E.book_configs(["minilm"], ["adapter"], ["agnews_sup"], [1], learning_rate=1e-3)
         + E.book_configs(["minilm"], ["adapter"], ["acl_sup", "agnews_sup"], [2, 3], learning_rate=1e-3))


@pytest.mark.parametrize("missing", [
    E.book_configs(["minilm"], ["adapter"], ["acl_sup", "restaurant_sup"], [3, 1], learning_rate=1e-3),
    E.book_configs(["minilm", "minilm-scratch"], ["full"], ["agnews_sup"], [2], epochs=1, max_train_samples=32),
    [RunConfig(seed=2, group_by_length=False)],
    [RunConfig(seed=1, precision="fp32", max_eval_samples=16, max_length=128)],
    MIXED,
])
def test_grid_commands_train_exactly_the_missing_runs(missing):
    trained = []
    for cmd in E.grid_commands(missing):
        argv = shlex.split(cmd)
        assert argv[:4] == ["python", "-m", "hwlib", "grid"]
        trained += configs(parser().parse_args(argv[3:]))
        shown = E.wrap_command(cmd)  # as the note prints it: broken into lines that fit the page
        assert shown in E.missing_note(missing) and all(len(line) <= 80 for line in shown.splitlines())
        assert shlex.split(shown.replace("\\\n", " ")) == argv
    assert sorted(map(repr, trained)) == sorted(map(repr, missing))  # each once, nothing beyond


def test_every_field_has_its_flag_and_its_help():
    subcommands = parser()._subparsers._group_actions[0].choices
    for cmd in ("train", "grid"):
        helps = {a.dest: a.help for a in subcommands[cmd]._actions}
        for f in dataclasses.fields(RunConfig):
            assert helps[f.name].startswith(f.metadata["help"]), (cmd, f.name)


@dataclasses.dataclass(frozen=True)
class WithWarmup(RunConfig):
    """RunConfig plus one new setting, declared as every field is: the whole change a new setting needs."""
    warmup_ratio: float = setting(0.0, "fraction of the steps spent warming the learning rate up",
                                  valid=lambda v: isinstance(v, float) and 0 <= v < 1, accepts="a number in [0, 1)")


def test_a_new_field_reaches_the_cli_the_checks_and_the_commands(capsys):
    with pytest.raises(SystemExit):
        parser(WithWarmup).parse_args(["train", "--help"])
    assert "--warmup-ratio WARMUP_RATIO" in capsys.readouterr().out
    ns = parser(WithWarmup).parse_args(["train", "--warmup-ratio", "0.06", "--seed", "4"])
    assert configs(ns, WithWarmup) == [WithWarmup(seed=4, warmup_ratio=0.06)]
    wanted = E.book_configs(["minilm"], ["full"], ["acl_sup", "agnews_sup"], [2, 3], config_cls=WithWarmup,
                            warmup_ratio=0.1)
    cmds = E.grid_commands(wanted)
    assert cmds == ["python -m hwlib grid --models minilm --methods full --datasets acl_sup agnews_sup --seeds 2 3 "
                    "--warmup-ratio 0.1"]
    assert configs(parser(WithWarmup).parse_args(shlex.split(cmds[0])[3:]), WithWarmup) == wanted
    with pytest.raises(ValueError, match=re.escape("warmup_ratio=1.5 (a number in [0, 1))")):
        WithWarmup(warmup_ratio=1.5)
    with pytest.raises(ValueError, match=re.escape("head_warmup_ratio=-0.1: must be a number in [0, 1)")):
        check_parameters(WithWarmup, head_warmup_ratio=-0.1)
    assert WithWarmup().settings() == {} and WithWarmup(warmup_ratio=0.1).settings() == {"warmup_ratio": 0.1}


def test_the_key_names_only_what_differs_from_the_defaults():
    """Adding a setting (with its default) must not change the keys of the runs already stored."""
    from hwlib.store.runs import config_key

    assert config_key(WithWarmup(seed=2)) == config_key(RunConfig(seed=2))
    assert config_key(WithWarmup(seed=2, warmup_ratio=0.1)) != config_key(RunConfig(seed=2))


def test_unknown_notebook_parameter_is_refused():
    with pytest.raises(TypeError, match="'warmup' is not a setting of RunConfig"):
        check_parameters(warmup=0.1)


def test_trainer_default_learning_rate_is_the_trainers():
    from transformers import TrainingArguments

    from hwlib.train.config import TRAINER_DEFAULT_LR

    assert TRAINER_DEFAULT_LR == TrainingArguments.__dataclass_fields__["learning_rate"].default


def test_mixed_settings_get_one_command_each():
    assert len(E.grid_commands(MIXED)) == 3


def test_no_missing_runs():
    assert E.missing_note([]) == ""  # nothing to say: the chapter shows its results


@pytest.mark.parametrize("bad", [0, -1e-3, 1.5, "1e-3", True])
def test_bad_adapter_learning_rate_is_refused(bad):
    with pytest.raises(ValueError, match=f"adapter_learning_rate={bad!r}"):
        E.validate(adapter_learning_rate=bad)


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
    assert "`minilm` adapter, learning rate 5e-05, on restaurant: 1 of 2" in R.describe_floor(df)
    assert "No run scores" in R.describe_floor(df[df.method == "full"])


def test_method_gaps_pair_full_fine_tuning_with_each_method_per_recipe_and_name_floored_arms():
    floor = R.majority_baseline(["restaurant_sup"]).loc["restaurant_sup"]
    cols = R.runs_frame([]).columns
    rows = [("full", 1, 80.0, 70.0), ("full", 2, 82.0, 72.0), ("adapter", 1, 77.0, 66.0), ("adapter", 2, 78.0, 67.0),
            ("lora", 1, floor.accuracy, floor.macro_f1), ("lora", 2, 70.0, 60.0)]
    df = pd.DataFrame([{**dict.fromkeys(cols), "model": "minilm", "method": m, "learning_rate": 1e-3,
                        "dataset": "restaurant_sup", "seed": s, "accuracy": a, "macro_f1": f,
                        "precision": "fp32", "device": "cpu"} for m, s, a, f in rows])
    better = df.assign(accuracy=df.accuracy.where(df.method != "adapter", df.accuracy + 2))
    t = P.method_gaps({"carried": df, "own dev": better})
    assert t.loc[("restaurant_sup", "adapter", "accuracy", "carried"), "mean"] == pytest.approx(3.5)
    assert t.loc[("restaurant_sup", "adapter", "accuracy", "own dev"), "mean"] == pytest.approx(1.5)
    assert t.loc[("restaurant_sup", "adapter", "macro_f1", "carried"), "pairs"] == 2
    assert t.loc[("restaurant_sup", "lora", "accuracy", "carried"), "at the floor"] == "lora: 1 of 2"
    assert t.loc[("restaurant_sup", "adapter", "accuracy", "carried"), "at the floor"] == "-"
    assert P.method_gaps({"carried": df[df.method == "full"]}).empty  # nothing to set against full fine-tuning


def test_batching_check_pairs_seeds():
    g = pd.DataFrame({"seed": [1, 2, 3], "accuracy": [60.0, 61.0, 62.0], "macro_f1": [20.0, 22.0, 24.0]})
    r = pd.DataFrame({"seed": [2, 3, 4], "accuracy": [63.0, 62.0, 99.0], "macro_f1": [25.0, 24.0, 99.0]})
    t = P.batching_check(g, r)
    assert list(t.index) == [2, 3, "mean", "std", "95 % low", "95 % high"]
    assert t.loc["mean", "accuracy difference"] == -1.0 and t.loc["mean", "macro_f1 difference"] == -1.5
    # differences -2 and 0: sd 1.41, t(0.975, 1) = 12.71, so -1 +- 12.7: the book's one rule
    assert t.loc["95 % high", "accuracy difference"] == pytest.approx(-1.0 + 12.7062 * 2 ** 0.5 / 2 ** 0.5, abs=0.01)
    assert "note" in P.batching_check(g, r[r.seed == 4])


@pytest.mark.parametrize("bad", [[], [1, -2], [1.5], "1"])
def test_bad_batching_seeds_are_refused(bad):
    with pytest.raises(ValueError, match=re.escape(f"batching_seeds={bad!r}")):
        E.validate(batching_seeds=bad)


def test_describe_gap_gives_the_signed_gaps():
    gap = pd.DataFrame([{"seeds": 3, "accuracy_gap": -1.25, "accuracy_gap_std": 0.5, "accuracy_gap_low": -2.49,
                         "accuracy_gap_high": -0.01, "macro_f1_gap": 2.0, "macro_f1_gap_low": float("nan"),
                         "macro_f1_gap_high": float("nan"),
                         "final_train_loss_gap": 0.1, "trainable_pct_adapter": 2.56, "epoch_speedup": 2.0,
                         "same_device_pairs": 2, "peak_memory_ratio": float("nan")}], index=pd.Index(["acl_sup"], name="dataset"))
    text = R.describe_gap(gap, None)
    assert "full fine-tuning minus adapters is -1.2 (-2.5 to -0.0) accuracy points and +2.0 macro-F1 points" in text
    assert "**ACL-ARC**" in text and "x the time" not in text and "peak memory" not in text


def test_batching_checks_pair_only_stored_runs(results_dir):
    assert "note" in P.batching_checks([], [1]).columns
    t = P.batching_checks(["acl_sup"], [1, 2])  # an empty store: nothing to pair, and nothing trained
    assert "no seed has both" in t.loc["acl_sup"].note.iloc[0]
    assert not (results_dir / "runs").exists()


def test_speed_ratios_pair_only_runs_on_the_same_device_and_threads():
    cols = R.runs_frame([]).columns
    rows = [("full", 1, 100.0, "cpu (x86_64, 2 threads)"), ("adapter", 1, 90.0, "cpu (x86_64, 1 threads)"),
            ("full", 2, 100.0, "cpu (x86_64, 1 threads)"), ("adapter", 2, 50.0, "cpu (x86_64, 1 threads)")]
    df = pd.DataFrame([{**dict.fromkeys(cols), "model": "minilm", "method": m, "dataset": "acl_sup", "seed": s,
                        "accuracy": 60.0, "macro_f1": 20.0, "final_train_loss": 1.0, "trainable_pct": 2.5,
                        "epoch_s": t, "peak_memory_gb": 1.0, "device": dev} for m, s, t, dev in rows])
    gap = R.adapter_gap(df).loc["acl_sup"]
    assert gap.same_device_pairs == 1 and gap.epoch_speedup == 2.0  # seed 1 mixed 2 and 1 threads: left out
    text = R.describe_gap(R.adapter_gap(df), df)
    assert "an epoch takes" not in text and "epoch" not in text  # one speed: the paired benchmark's


def test_the_memory_ratio_pairs_only_runs_that_both_recorded_memory():
    cols = R.runs_frame([]).columns
    nan = float("nan")
    rows = [("full", 1, 4.0), ("adapter", 1, nan), ("full", 2, 2.0), ("adapter", 2, 1.0), ("full", 3, nan),
            ("adapter", 3, 9.0)]
    df = pd.DataFrame([{**dict.fromkeys(cols), "model": "minilm", "method": m, "dataset": "acl_sup", "seed": s,
                        "accuracy": 60.0, "macro_f1": 20.0, "final_train_loss": 1.0, "trainable_pct": 2.5,
                        "epoch_s": 1.0, "peak_memory_gb": mem, "device": "cpu (x86_64, 1 threads)"}
                       for m, s, mem in rows])
    gap = R.adapter_gap(df).loc["acl_sup"]
    assert gap.memory_pairs == 1 and gap.peak_memory_ratio == 0.5  # unpaired 4.0 and 9.0 left out
    assert "0.50x full fine-tuning's (one pair, one seed" in R.describe_gap(R.adapter_gap(df), df)


def test_the_bill_counts_a_run_once_however_many_designs_list_it():
    from hwlib.analysis import costs

    def rec(key, device, wall_s):
        return {"key": key, "provenance": {"device": device}, "timing": {"wall_s": wall_s}}

    one = rec("a", "cpu (x86_64, 1 threads)", 3600)
    two = rec("b", "cpu (x86_64, 2 threads)", 1800)
    bill = costs.cost([one, two, one])
    assert bill["runs"].sum() == 2
    assert bill.loc["cpu (x86_64, 1 thread)", "cpu_or_gpu_hours"] == 1.0
    assert bill.loc["cpu (x86_64, 2 threads)", "cpu_or_gpu_hours"] == 1.0  # wall time x threads


def test_a_pair_never_mixes_arithmetic_or_kind_of_device():
    def arm(rows):
        return pd.DataFrame([{"seed": s, "macro_f1": f, "precision": p, "device": d} for s, f, p, d in rows])

    cpu1, cpu2, gpu = "cpu (x86_64, 1 threads)", "cpu (x86_64, 2 threads)", "NVIDIA H200"
    a = arm([(1, 60.0, "fp32", cpu1), (2, 62.0, "fp32", cpu2), (3, 70.0, "bf16", cpu1), (4, 70.0, "fp32", gpu)])
    b = arm([(1, 58.0, "fp32", cpu2), (2, 61.0, "fp32", cpu1), (3, 50.0, "fp32", cpu1), (4, 50.0, "fp32", cpu1)])
    assert P.pairable_seeds(a, b) == [1, 2]  # threads aside; seed 3 mixes bf16 with fp32, seed 4 a GPU with a CPU
    d = P.paired_difference(a, b)
    assert d["pairs"] == 2 and d["mean"] == 1.5


def test_each_stored_record_is_costed_to_the_chapter_that_made_it():
    from hwlib.analysis.costs import CHAPTERS, by_chapter, chapter_of

    def rec(**config):
        return {"config": config, "provenance": {"device": "cpu (x86_64, 2 threads)"}, "timing": {"wall_s": 3600.0}}

    assert chapter_of(rec(model="minilm", method="full")) == CHAPTERS[0]
    assert chapter_of(rec(model="minilm", method="adapter", select_on_dev=True)) == CHAPTERS[1]
    assert chapter_of(rec(model="minilm", method="probe")) == CHAPTERS[1]
    assert chapter_of(rec(model="minilm+tapt:acl_sup:e5", select_on_dev=True)) == CHAPTERS[2]
    assert chapter_of({**rec(dataset="acl_sup"), "checkpoint": {}}) == CHAPTERS[2]  # a pretraining record
    assert chapter_of(rec(model="minilm", select_on_dev=True, stratified_train_samples=1688)) == CHAPTERS[3]
    table = by_chapter([rec(model="minilm", method="full"), rec(model="minilm", method="full")])
    row = table.loc[(CHAPTERS[0], "cpu (x86_64, 2 threads)")]
    assert row.runs == 2 and row.hours == 2.0 and row.cpu_or_gpu_hours == 4.0  # two threads: twice the CPU-hours


def test_a_markdown_table_keeps_long_text_whole_and_shows_it_literally():
    from hwlib.analysis.views import markdown_table

    text = "And Collins ( 2000 ) argues for `` keeping track '' of *every* feature | " + "x" * 300
    md = markdown_table(pd.DataFrame({"text": [text], "gold": ["Background"]}))
    head, rule, row = md.splitlines()
    assert head == "| text | gold |" and rule == "| --- | --- |"
    assert "x" * 300 in row and row.endswith("| Background |")  # not cut
    assert r"\`\` keeping" in row and r"\*every\*" in row and r"feature \| x" in row  # no code span, italics, cell


def test_readable_tables_name_columns_and_datasets_in_words():
    from hwlib.analysis.views import readable

    frame = pd.DataFrame({"dataset": ["acl_sup", "agnews_sup"], "seed": [1, 1], "macro_f1": [60.0, 90.0]})
    shown = readable(frame.set_index(["dataset", "seed"]))
    assert list(shown.columns) == ["macro-F1"] and list(shown.index.get_level_values("dataset")) == ["ACL-ARC", "AG News"]
    assert readable(frame.set_index("dataset")).index.tolist() == ["ACL-ARC", "AG News"]
    assert readable(frame).dataset.tolist() == ["ACL-ARC", "AG News"]
