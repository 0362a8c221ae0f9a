"""The findings ledger: its rules decide the cases they are written for, the permutation tests count what they say,
and the ledger built from the stored runs lists every conclusion of the report with one verdict that rests on
enough runs."""
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from hwlib.analysis import findings as F
from hwlib.analysis.correlation import fmt_p, permutation_spearman, stratified_spearman

# the report's conclusions, one entry each, in its order (Task 2, then Task 3)
KEYS = ["ordering", "reason", "scibert", "domain", "elsewhere", "loss_within", "loss_between", "memory_full",
        "memory_adapter", "memory_saving", "trainable_share", "adapter_drop_acl_sup", "adapter_drop_restaurant_sup",
        "adapter_drop_agnews_sup", "drop_grows", "loss_gap"]


def paired(mean, half, n=10, std=1.0):
    return {"pairs": n, "mean": mean, "std": std, "low": mean - half, "high": mean + half}


@pytest.mark.parametrize("claimed, t, verdict", [
    (4.0, paired(3.5, 2.6), "holds"),  # inside, and narrow enough to tell 4 from its neighbours
    (0.5, paired(3.5, 2.6), "does not hold"),  # outside the interval
    (4.0, paired(3.5, 4.5), "not shown"),  # inside, but the interval is too wide to tell
    (4.0, paired(3.5, 1.0, n=4), "not shown"),  # four pairs: fewer than a verdict needs
])
def test_a_claimed_value_is_judged_by_the_one_interval_rule(claimed, t, verdict):
    v, how = F.judge_value(claimed, t, "points")
    assert v == verdict
    assert (how == "") == (verdict != "not shown")


def test_a_too_wide_interval_says_how_many_seeds_would_decide():
    _, how = F.judge_value(4.0, paired(3.5, 4.5, n=5, std=3.6), "points")
    assert "wider than ±3" in how and "seeds would" in how


def test_a_claim_just_outside_a_rounded_interval_is_shown_at_one_more_digit():
    t = paired(0.921, 0.910)  # +0.011 to +1.831
    assert F.judge_value(0.0, t, "points")[0] == "does not hold"
    assert F.edge_note(0.0, t) == "at 2 decimals the interval is +0.01 to +1.83: 0 lies just below it"
    assert F.edge_note(0.0, paired(1.0, 0.8)) == ""  # plainly outside at one decimal
    assert F.edge_note(1.0, t) == ""  # inside


def test_an_ordering_needs_separated_intervals_and_five_seeds_each():
    def num(mean, n=5):
        return F.number(mean, mean - 1, mean + 1, n, "points")

    assert F.ordered({"a": num(90), "b": num(80), "c": num(60)}, "abc")[0] == "holds"
    assert F.ordered({"a": num(90), "b": num(89.5), "c": num(60)}, "abc")[0] == "not shown"  # a, b overlap
    assert F.ordered({"a": num(70), "b": num(80), "c": num(60)}, "abc")[0] == "does not hold"
    # means the other way round but intervals overlapping: nothing is decided, and it says which pair is apart
    verdict, how = F.ordered({"a": num(89.5), "b": num(90), "c": num(60)}, "abc")
    assert verdict == "not shown" and "a's and b's intervals overlap" in how and "b is ahead of c" in how
    # equal means never separate; distinct ones say about how many seeds would (half-widths 1 at 5 seeds, means 0.8
    # apart: each half-width must shrink to 0.4, 6.25 times fewer, so 32 seeds each)
    assert "more seeds would not order them" in F.ordered({"a": num(70), "b": num(70.01), "c": num(60)}, "abc")[1]
    assert "about 32 seeds each would separate them" in F.ordered({"a": num(70.8), "b": num(70), "c": num(60)}, "abc")[1]
    verdict, how = F.ordered({"a": num(90, n=3), "b": num(80), "c": num(60)}, "abc")
    assert verdict == "not shown" and "3 of the 5 seeds" in how


def test_three_runs_can_never_give_a_rank_correlation_below_one_third():
    r = permutation_spearman([1, 2, 3], [3, 2, 1])
    assert r["exact"] and r["rho"] == pytest.approx(-1) and r["p"] == pytest.approx(1 / 3)
    assert r["p_floor"] == pytest.approx(1 / 3)
    r6 = permutation_spearman(np.arange(6), -np.arange(6.0))
    assert r6["p"] == pytest.approx(2 / 720)  # only the two perfect orderings are as extreme


def test_p_values_never_print_as_zero():
    assert fmt_p({"p": 4e-5}) == "p < 0.001" and fmt_p({"p": 0.0123}) == "p = 0.012"


def test_the_stratified_test_is_not_fooled_by_groups_at_different_levels():
    """Two tasks whose runs are unrelated within each task, but one task has lower losses and higher scores: pooled,
    the runs correlate strongly; within the tasks they do not, and the stratified test says so."""
    rng = np.random.default_rng(0)
    groups = [(rng.normal(0.2, 0.05, 8), rng.normal(90, 1, 8)), (rng.normal(0.9, 0.05, 8), rng.normal(60, 1, 8))]
    pooled = permutation_spearman(np.r_[groups[0][0], groups[1][0]], np.r_[groups[0][1], groups[1][1]])
    assert pooled["rho"] < -0.5 and pooled["p"] < 0.05
    within = stratified_spearman(groups, draws=2000)
    assert within["p"] > 0.05 and within["groups"] == 2 and within["n"] == 16
    aligned = [(x, -x) for x, _ in groups]  # within each group: lower loss, higher score
    assert stratified_spearman(aligned, draws=2000)["p"] < 0.01


def test_a_finding_names_a_known_verdict_and_section():
    with pytest.raises(ValueError, match="verdict 'maybe'"):
        F.Finding("k", "Task 2", "f", "said", "measured", "maybe", "rests", "claims-ordering")
    with pytest.raises(ValueError, match="section 'nowhere'"):
        F.Finding("k", "Task 2", "f", "said", "measured", "holds", "rests", "nowhere")


def test_a_memory_figure_holds_within_the_band_of_the_measurement():
    from hwlib.analysis.ledger_task3 import memory_findings

    nums = {"report": {"full_GB": 30.0, "adapters_GB": 12.12, "saved_percent": 59.6, "trainable_percent": 0.6668,
                       "total_adapter_params": 20_003_232},
            "measured": {"fp32": {"full": 31.0, "adapter": 20.0}, "bf16": {"full": 30.0, "adapter": 19.0}},
            "zero": {"full": 60.0, "adapter": 20.0}, "zero_floor": {"full": 43.0, "adapter": 6.4},
            "trainable_added": 0.6624, "device": "test GPU"}
    v = {f.key: f.verdict for f in memory_findings(nums)}
    assert v == {"memory_full": "holds", "memory_adapter": "does not hold", "memory_saving": "does not hold",
                 "trainable_share": "holds"}


def test_test_rows_seen_in_training_are_scored_apart():
    from hwlib.analysis.errors import scored_apart

    rec = {"config": {"seed": 1},
           "predictions": {"test": {"label": [0, 1, 1, 2], "pred": [0, 1, 0, 0], "prob": [[1, 0, 0]] * 4}}}
    t = scored_apart([rec], np.array([True, True, False, False]))
    assert t.loc[1, ("seen in train", "accuracy")] == 100 and t.loc[1, ("unseen", "accuracy")] == 0
    with pytest.raises(ValueError, match="4 test predictions against a mask of 3 rows"):
        scored_apart([rec], np.array([True, False, True]))


@pytest.fixture(scope="module")
def stored_ledger():
    from hwlib.analysis.evidence import gather
    from hwlib.analysis.ledger import ledger

    ev = gather()
    return ev, ledger(ev)


def test_the_ledger_lists_every_conclusion_of_the_report_once(stored_ledger):
    _, found = stored_ledger
    assert [f.key for f in found] == KEYS
    assert all(f.verdict in F.VERDICTS and f.report_said and f.measured and f.rests_on for f in found)
    assert all(f.how_far for f in found if f.verdict == "not shown")  # every undecided verdict says how far


def test_no_verdict_rests_on_fewer_than_five_runs(stored_ledger):
    _, found = stored_ledger
    for f in found:
        if f.verdict in ("holds", "does not hold") and f.number["unit"] in ("points", "loss", "Spearman"):
            assert f.number["n"] >= F.MIN_RUNS, f"{f.key}: {f.verdict} on {f.number['n']} runs"
        if f.verdict in ("holds", "does not hold"):  # and no number it shows rests on fewer
            counts = [int(n) for n in re.findall(r"(\d+) (?:seeds|draws)\b", f.measured + " " + f.rests_on)]
            assert all(n >= F.MIN_RUNS for n in counts), f"{f.key}: {f.verdict} shows a number over {min(counts)} runs"
    measured = " ".join(f.measured for f in found)
    assert "p = 0.000" not in measured  # an artefact of printing, never a verdict


def test_the_ledger_rests_on_runs_that_learned(stored_ledger):
    from hwlib.analysis.evidence import at_floor_runs

    ev, _ = stored_ledger
    assert not at_floor_runs(ev.learned).any()
    assert set(ev.tuned.method) == {"full", "adapter", "lora"}  # the recipes chosen on dev, never the course's


def test_a_tasks_own_drop_rests_on_the_adapters_dev_chose_later_and_comparisons_across_tasks_on_one_recipe(
        stored_ledger):
    from hwlib.analysis.evidence import refined_frame
    from hwlib.analysis.intervals import fmt
    from hwlib.analysis.report import adapter_gap

    ev, found = stored_ledger
    arm = ev.refined[("acl_sup", "adapter")]  # the stored search around the sweep's adapter recipe prefers a variant
    assert arm["settings"]["learning_rate"] == 3e-3 and not arm["settings"].get("train_layernorm")
    seeds = sorted(r["config"]["seed"] for r in arm["records"])
    assert seeds == sorted(set(seeds)) and len(seeds) >= 3
    own, sweep = adapter_gap(refined_frame(ev)).loc["acl_sup"], adapter_gap(ev.tuned).loc["acl_sup"]
    by_key = {f.key: f for f in found}
    drop = by_key["adapter_drop_acl_sup"]
    assert drop.number["mean"] == pytest.approx(own.accuracy_gap) and drop.number["n"] == len(seeds)
    assert f"at the sweep's recipe {fmt(sweep.accuracy_gap, sweep.accuracy_gap_low, sweep.accuracy_gap_high)}" \
        in drop.measured
    # across tasks one recipe: the drop-with-difficulty finding reads the sweep's ACL-ARC gap
    assert by_key["drop_grows"].number["mean"] == pytest.approx(sweep.accuracy_gap)
    # other tasks have no later search: their rows are the sweep's
    assert adapter_gap(refined_frame(ev)).loc["agnews_sup"].equals(adapter_gap(ev.tuned).loc["agnews_sup"])


def test_a_carried_recipe_that_restaurants_dev_changes_is_what_restaurants_verdict_rests_on(stored_ledger):
    from hwlib import runs as E
    from hwlib.analysis.evidence import REFINE_CARRIED, refined_frame
    from hwlib.analysis.report import adapter_gap

    ev, found = stored_ledger
    drop = {f.key: f for f in found}["adapter_drop_restaurant_sup"]
    changed = {m: arm for (d, m), arm in ev.refined.items() if d == "restaurant_sup"}
    assert set(changed) <= {m for d, m in REFINE_CARRIED if d == "restaurant_sup"}
    for method, arm in changed.items():
        setting, value = arm["label"].split(" ", 1)  # e.g. "learning_rate 5e-05": one setting that dev changed
        assert setting in REFINE_CARRIED[("restaurant_sup", method)][0] or setting == "head"
        assert {r["config"]["seed"] for r in arm["records"]} <= set(E.TRANSFER_SEEDS)
        if method in ("full", "adapter"):  # the two this finding compares
            assert f"at {arm['label'].replace('_', ' ')}" in drop.measured
    if {"full", "adapter"} & set(changed):
        assert "dev's choice in a search around the recipe carried from the sweep)" in drop.measured
    own = adapter_gap(refined_frame(ev)).loc["restaurant_sup"]
    assert drop.number["mean"] == pytest.approx(own.accuracy_gap)
    # the carried recipes' gap is shown beside a changed one, and only then
    assert ("; at the recipe carried from the sweep" in drop.measured) == bool(changed)


def test_a_search_where_dev_keeps_the_recipe_refines_nothing(stored_ledger):
    from hwlib.analysis.evidence import refined_arms

    ev, _ = stored_ledger
    acl = [r for r in ev.recipes if r["dataset"] == "acl_sup"]
    # the LayerNorms alone: dev keeps the recipe on the stored seeds 1-3
    assert refined_arms(acl, [1, 2], {("acl_sup", "adapter"): ({"train_layernorm": [True]}, (1, 2, 3))}) == {}
    # no run of the search stored: nothing to choose from
    assert refined_arms(acl, [1], {("acl_sup", "adapter"): ({"learning_rate": [0.5]}, (97,))}) == {}


def test_the_search_the_ledger_reads_is_the_one_the_recipes_chapter_runs():
    import ast

    from hwlib import runs as E
    from hwlib.analysis.evidence import REFINE, REFINE_CARRIED

    cells = json.loads(open("notebooks/recipes.ipynb", encoding="utf-8").read())["cells"]
    params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    values = {}
    for node in ast.parse("".join(params["source"])).body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ("houlsby", "houlsby_seeds", "transfer_from",
                                                                   "neighbours", "neighbour_seeds"):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values["transfer_from"] == "acl"
    assert REFINE == {("acl_sup", "adapter"): (values["houlsby"], tuple(values["houlsby_seeds"]))}
    assert REFINE_CARRIED == {(E.resolve_datasets(short)[0], method): (vary, tuple(values["neighbour_seeds"]))
                              for short, methods in values["neighbours"].items()
                              for method, vary in methods.items()}


def test_the_command_line_prints_the_ledger_as_json(capsys, stored_ledger):
    from hwlib.__main__ import main

    assert main(["findings", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["key"] for f in out] == KEYS
    assert {"report_said", "measured", "number", "verdict", "rests_on", "section", "how_far", "course"} <= set(out[0])
    assert all(v is None or math.isfinite(v) for f in out for v in f["number"].values() if not isinstance(v, str))


def test_the_tally_counts_each_verdict_in_words():
    def finding(verdict):
        return F.Finding("k", "Task 2", "f", "said", "measured", verdict, "rests on", "claims-ordering", F.number())

    found = [finding("does not hold")] * 2 + [finding("holds")] * 3 + [finding("not shown")]
    assert F.tally(found) == "In all: 3 hold, 2 do not hold, 1 not shown."
    assert F.tally(found[:1] + found[2:3]) in ("In all: 1 does not hold, 1 holds.", "In all: 1 holds, 1 does not hold.")


def test_every_quoted_figure_names_its_paper_and_its_bibliography_entry():
    from pathlib import Path

    from hwlib.analysis.claims import published

    quoted = published()
    bib = (Path(__file__).parents[1] / "book" / "references.bib").read_text()
    assert quoted.paper.notna().all()  # a new source without a name for the page fails here
    assert all(f"{{{key}," in bib for key in quoted.source.unique())


def test_the_domain_verdict_rests_on_the_tapt_arm_dev_chose_and_its_matched_control(stored_ledger):
    from hwlib.analysis.domain import experiment
    from hwlib.models.tapt import parse

    ev, found = stored_ledger
    spec = experiment("acl_sup")
    tapt, control = (parse(spec["arms"][spec[k]]) for k in ("tapt", "control"))
    assert control.dataset != "acl_sup" and tapt.epochs == control.epochs  # matched in length
    domain = next(f for f in found if f.key == "domain")
    assert f"({tapt.epochs} epochs, chosen on dev)" in domain.measured
    first, *_ = spec["also"]  # the shorter pair is reported beside it, never as the verdict
    assert f"the {parse(spec['arms'][first[0]]).epochs}-epoch pair, run first" in domain.measured


def test_the_experiments_tapt_arm_is_the_one_the_stored_runs_dev_score_chooses():
    from hwlib import runs as E
    from hwlib.analysis import domain
    from hwlib.analysis import domain_readings as readings

    spec = domain.experiment("acl_sup")
    settings, _ = domain.fine_tuning_settings("tuned", spec["arms"][domain.BASE], "acl_sup")
    candidates = {label: spec["arms"][label] for label in spec["epochs"]}
    configs = [c for cs in domain.arm_configs(candidates, settings, "acl_sup", [1, 2, 3, 4, 5]).values() for c in cs]
    records, missing = E.collect(configs, train_missing=False)
    assert not missing, [c.model for c in missing]
    table, _ = readings.epochs_on_dev(records, spec["arms"], spec["epochs"], spec["tapt"])
    assert readings.dev_choice(table, spec["arms"], spec["epochs"]) == spec["tapt"]
