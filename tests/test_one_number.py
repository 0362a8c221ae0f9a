"""One number per quantity: a quantity that two chapters show comes from the same runs through the same function and
prints the same in each (read from the chapters' stored outputs, which ``pytest --nbval`` checks against a fresh
execution)."""
import json
import re
from pathlib import Path

import pytest

NB = Path(__file__).resolve().parent.parent / "notebooks"


def outputs(chapter: str) -> str:
    """Every text a chapter's stored outputs show (plain text, Markdown and HTML tables), joined."""
    cells = json.loads((NB / f"{chapter}.ipynb").read_text(encoding="utf-8"))["cells"]
    texts = []
    for c in cells:
        for o in c.get("outputs", []):
            texts.append("".join(o.get("text", "")))
            for kind in ("text/plain", "text/markdown", "text/html"):
                texts.append("".join(o.get("data", {}).get(kind, "")))
    return "\n".join(texts)


@pytest.fixture(scope="module")
def ev():
    from hwlib.analysis.evidence import gather

    return gather()


def test_the_adapter_gap_under_the_recipes_prints_the_same_in_every_chapter(ev):
    from hwlib.analysis.intervals import fmt
    from hwlib.analysis.report import adapter_gap

    r = adapter_gap(ev.tuned).loc["acl_sup"]
    shown = fmt(r.accuracy_gap, r.accuracy_gap_low, r.accuracy_gap_high)
    assert shown in outputs("claims"), f"the claims chapter does not show the ACL-ARC adapter gap as {shown}"
    row = (rf"{int(r.seeds)}\s+{r.accuracy_gap:.2f}\s+{r.accuracy_gap_std:.2f}\s+{r.accuracy_gap_low:.2f}\s+"
           rf"{r.accuracy_gap_high:.2f}")
    assert re.search(row, outputs("recipes")), "the recipes chapter's gap table differs from the ledger's gap"


def test_the_adapter_gap_the_acl_arc_verdict_rests_on_prints_the_same_in_every_chapter(ev):
    from hwlib.analysis.evidence import refined_frame
    from hwlib.analysis.intervals import fmt
    from hwlib.analysis.report import adapter_gap

    r = adapter_gap(refined_frame(ev)).loc["acl_sup"]
    shown = fmt(r.accuracy_gap, r.accuracy_gap_low, r.accuracy_gap_high)
    # the findings page, the claims chapter's ledger entry and the recipes chapter's search, where it was measured
    for chapter in ("findings", "claims", "recipes"):
        assert shown in outputs(chapter), f"{chapter} does not show the ACL-ARC adapter gap as {shown}"


def test_the_adapter_gap_restaurants_verdict_rests_on_prints_the_same_in_every_chapter(ev):
    from hwlib.analysis.evidence import refined_frame
    from hwlib.analysis.intervals import fmt
    from hwlib.analysis.report import adapter_gap

    r = adapter_gap(refined_frame(ev)).loc["restaurant_sup"]
    shown = fmt(r.accuracy_gap, r.accuracy_gap_low, r.accuracy_gap_high)
    for chapter in ("findings", "claims"):
        assert shown in outputs(chapter), f"{chapter} does not show restaurant's adapter gap as {shown}"
    # the recipes chapter measured it: under restaurant's own choices if its dev changed a recipe, else carried
    label = "own dev" if any(d == "restaurant_sup" for d, _ in ev.refined) else "tuned"
    row = (rf"{label}\s+{int(r.seeds)}\s+{r.accuracy_gap:.2f}\s+{r.accuracy_gap_std:.2f}\s+"
           rf"{r.accuracy_gap_low:.2f}\s+{r.accuracy_gap_high:.2f}")
    assert re.search(row, outputs("recipes")), "the recipes chapter's restaurant gap differs from the ledger's"


def test_the_adapter_gap_under_the_course_settings_prints_the_same_in_task3_and_the_claims(ev):
    from hwlib.analysis.intervals import fmt
    from hwlib.analysis.report import adapter_gap

    r = adapter_gap(ev.course).loc["acl_sup"]
    shown = fmt(r.accuracy_gap, r.accuracy_gap_low, r.accuracy_gap_high)
    assert shown in outputs("task3") and shown in outputs("claims")


def test_the_course_full_fine_tuning_on_acl_arc_is_the_same_three_seeds_everywhere(ev):
    g = ev.course[(ev.course.method == "full") & (ev.course.dataset == "acl_sup")]
    assert sorted(g.seed) == [1, 2, 3]
    assert f"{g.macro_f1.mean():.2f}" in outputs("task2")
    assert f"course's recipe {g.macro_f1.mean():.1f} (3 seeds)" in outputs("recipes")


def test_the_adapters_speed_is_the_paired_benchmark_in_every_chapter():
    from hwlib.store.summaries import load_bench

    ratio = load_bench("adapter_step")["summary"]["adapter_step_speedup"]
    for chapter in ("task3", "recipes"):
        text = outputs(chapter)
        assert f"a full fine-tuning step took {ratio:.2f}x as long as an adapter step" in text
        assert "an epoch takes" not in text and "x the time of full fine-tuning" not in text
