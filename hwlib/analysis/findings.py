"""The findings ledger: every conclusion of the original report, one entry each, with one verdict.

Each entry (``Finding``) holds what the report concluded (as the course's summary of it states it: the report itself
is not part of this book), what this book measured, the deciding number with its 95 % interval, the verdict, what it
rests on, what the course's own settings gave (shown beside, never a second verdict), and the section that explains
it. ``ledger(evidence.gather())`` builds them all; ``python -m hwlib findings [--json]`` prints them.

The rules, one per kind of finding:

- **A paired comparison** (adapters against full fine-tuning, TAPT against its control) is the book's one rule
  (``intervals.paired_t``): the mean over paired seeds with its Student-t 95 % interval. A claimed value *holds* when
  it lies inside the interval and the interval is narrow enough to tell it from its neighbours (half-width at most
  ``TOLERANCE``); *does not hold* when it lies outside; otherwise *not shown*, with how far.
- **An ordering of datasets**: each dataset's mean over seeds with its t interval (not paired: the datasets differ);
  A is *ahead* of B when A's interval lies wholly above B's, *behind* when wholly below; overlapping intervals order
  nothing, whichever way their means lie.
- **A correlation across runs**: Spearman's rank correlation with a permutation p-value (``correlation``); it holds
  at p < 0.05 with the claimed sign.
- **A memory figure**: it holds when the GPU measurement (or, where none exists, the corrected formula) lies within
  ``MEMORY_BAND`` of it.

No verdict rests on fewer than ``MIN_RUNS`` runs (pairs, for a paired comparison; runs per test, for a correlation),
and every verdict rests on runs that learned: the recipes chosen on dev, never runs at the majority-class floor.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from hwlib.analysis.intervals import fmt, from_summary, half_width, seeds_for
from hwlib.data.tasks import title

MIN_RUNS = 5
TOLERANCE = {"points": 3.0, "loss": 0.1}  # the widest half-width at which a claimed value is told from its neighbours
MEMORY_BAND = 0.10
ORDER = ["agnews_sup", "restaurant_sup", "acl_sup"]  # the report's ordering of the datasets, best first
NAMES = {d: title(d) for d in ORDER}
# where the book decides each finding: a label of the claims chapter, and its section's title
SECTIONS = {
    "claims-ordering": "The ordering of the datasets",
    "claims-hardest": "Why ACL-ARC is hardest",
    "claims-domain": "The SciBERT claim, measured through its mechanism",
    "claims-published": "Published figures for the models not run here",
    "claims-loss": "Training loss and test performance",
    "claims-memory": "The memory figures",
    "claims-adapters": "What adapters cost",
}
VERDICTS = ("holds", "does not hold", "not shown", "not testable here", "cannot be run here")


@dataclass
class Finding:
    key: str
    task: str  # "Task 2" or "Task 3"
    finding: str  # short name
    report_said: str  # the report's conclusion, as the course's summary states it
    measured: str  # what this book measured, in words and numbers
    verdict: str  # one of VERDICTS
    rests_on: str  # the runs, measurement or formula
    section: str  # where the book decides it: a label of ``SECTIONS``
    number: dict = field(default_factory=dict)  # the deciding number: mean, low, high, n, unit (nan where none)
    how_far: str = ""  # for "not shown": what would decide it
    course: str = ""  # what the course's settings gave, beside the verdict
    headline: str = ""  # what was measured, in a few words, for the table at a glance (else from ``number``)

    def __post_init__(self):
        if self.section not in SECTIONS:
            raise ValueError(f"section {self.section!r} of finding {self.key!r} is not one of {sorted(SECTIONS)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} of finding {self.key!r} is not one of {VERDICTS}")


def combine(verdicts) -> str:
    """One verdict from several parts: *does not hold* if any part does not, *holds* if every part holds."""
    verdicts = list(verdicts)
    if "does not hold" in verdicts:
        return "does not hold"
    return "holds" if verdicts and all(v == "holds" for v in verdicts) else "not shown"


def gap_number(row, col: str, unit: str = "points") -> dict:
    """A row of ``report.adapter_gap`` as the deciding number of column ``col``."""
    return number(row[f"{col}_gap"], row[f"{col}_gap_low"], row[f"{col}_gap_high"], row["seeds"], unit)


def paired_of(row, col: str) -> dict:
    """A row of ``report.adapter_gap`` as a ``paired_t`` result for column ``col``."""
    return {"pairs": int(row["seeds"]), "mean": row[f"{col}_gap"], "std": row[f"{col}_gap_std"],
            "low": row[f"{col}_gap_low"], "high": row[f"{col}_gap_high"]}


def number(mean=math.nan, low=math.nan, high=math.nan, n=0, unit="") -> dict:
    return {"mean": float(mean), "low": float(low), "high": float(high), "n": int(n), "unit": unit}


def shown(num: dict, digits: int = 1) -> str:
    """The deciding number as the book prints every paired result: ``+3.5 (+0.8 to +6.1) points, 10 seeds``."""
    if not np.isfinite(num["mean"]):
        return "—"
    digits = 3 if num["unit"] == "loss" else digits
    return f"{fmt(num['mean'], num['low'], num['high'], digits)} {num['unit']}, {num['n']} seeds".replace(" ,", ",")


def headline(f: Finding) -> str:
    """What was measured, in a few words: the finding's own ``headline``, else its deciding number."""
    num = f.number
    if f.headline or not np.isfinite(num.get("mean", np.nan)):
        return f.headline or "—"
    if num["unit"] in ("GB", "%"):
        return f"{num['mean']:.4g} {num['unit']}"
    if num["unit"] == "Spearman":
        return f"Spearman {num['mean']:+.2f}, {num['n']} runs"
    return shown(num)


def shown_mean(num: dict, digits: int = 1) -> str:
    """A mean over seeds with its t interval, unsigned: ``62.5 (59.5 to 65.4)`` (a paired difference is ``shown``)."""
    if not np.isfinite(num["mean"]):
        return "—"
    if not np.isfinite(num["low"]):
        return f"{num['mean']:.{digits}f}"
    return f"{num['mean']:.{digits}f} ({num['low']:.{digits}f} to {num['high']:.{digits}f})"


def seeds_short(n: int) -> str:
    return f"{n} of the {MIN_RUNS} seeds a verdict needs ({MIN_RUNS - n} more)"


def judge_value(claimed: float, t: dict, unit: str) -> tuple[str, str]:
    """``(verdict, how_far)`` for a claimed value against a ``paired_t`` result in ``unit`` (``"points"``/``"loss"``)."""
    n, tol = t["pairs"], TOLERANCE[unit]
    if n < MIN_RUNS or not np.isfinite(t["low"]):
        return "not shown", seeds_short(n)
    half = (t["high"] - t["low"]) / 2
    if not t["low"] <= claimed <= t["high"]:
        return "does not hold", ""
    if half > tol:
        need = seeds_for(t["std"], tol)
        return "not shown", (f"the interval (±{half:.2f}) is wider than ±{tol:g}: it cannot tell {claimed:g} from "
                             f"its neighbours; at this spread {need or 'over 1,000'} seeds would")
    return "holds", ""


def edge_note(claimed: float, t: dict, digits: int = 1) -> str:
    """For a claimed value just outside an interval that, rounded to ``digits``, seems to contain it: the interval at
    one more digit, so the verdict can be checked by eye ("" otherwise)."""
    low, high = round(t["low"], digits), round(t["high"], digits)
    if t["low"] <= claimed <= t["high"] or not low <= claimed <= high:
        return ""
    d = digits + 1
    return (f"at {d} decimals the interval is {t['low']:+.{d}f} to {t['high']:+.{d}f}: {claimed:g} lies just "
            f"{'below' if claimed < t['low'] else 'above'} it")


def judge_effect(e: dict, target: float = TOLERANCE["points"]) -> tuple[str, str]:
    """An effect claimed to exist (TAPT over its control): *holds* when its interval lies above zero over at least
    ``MIN_RUNS`` pairs, *does not hold* when it lies below zero or within ±``target`` around it, else *not shown*."""
    n = int(e["pairs"])
    if n < MIN_RUNS or not np.isfinite(e["low"]):
        return "not shown", seeds_short(n)
    if e["low"] > 0:
        return "holds", ""
    if e["high"] < 0 or (e["high"] - e["low"]) / 2 <= target:
        return "does not hold", ""
    need = seeds_for(e["std"], abs(e["mean"])) if e["mean"] > 0 else None
    return "not shown", (f"±{half_width(e['std'], n):.1f} points over {n} seeds; at this spread an effect of the "
                         f"measured +{e['mean']:.1f} would be shown from {need} seeds" if need else
                         f"±{half_width(e['std'], n):.1f} points over {n} seeds, and the mean is not above zero")


def interval_over_seeds(values) -> dict:
    """A dataset's mean over its seeds with its Student-t 95 % interval (not paired: one arm's own spread)."""
    v = np.asarray(values, dtype=float)
    t = from_summary(float(v.mean()) if len(v) else math.nan, float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                     len(v))
    return number(t["mean"], t["low"], t["high"], len(v), "points")


def ordered(intervals: dict, order) -> tuple[str, str]:
    """``(verdict, how_far)`` for "``order[0]`` > ``order[1]`` > ...": *holds* when each is ahead of the next
    (interval wholly above), *does not hold* when one lies wholly below the next, else *not shown*, saying which
    neighbours the intervals tell apart; every dataset needs at least ``MIN_RUNS`` seeds."""
    short = min(intervals[d]["n"] for d in order)
    if short < MIN_RUNS:
        return "not shown", seeds_short(short)
    pairs = list(zip(order, order[1:]))
    if all(intervals[a]["low"] > intervals[b]["high"] for a, b in pairs):
        return "holds", ""
    if any(intervals[a]["high"] < intervals[b]["low"] for a, b in pairs):
        return "does not hold", ""

    def name(d):
        return NAMES.get(d, d)

    ahead = [f"{name(a)} is ahead of {name(b)}" for a, b in pairs if intervals[a]["low"] > intervals[b]["high"]]
    overlap = [f"{name(a)}'s and {name(b)}'s intervals overlap (means {intervals[a]['mean']:.1f} and "
               f"{intervals[b]['mean']:.1f}), and overlapping intervals order nothing"
               + _to_separate(intervals[a], intervals[b])
               for a, b in pairs if not intervals[a]["low"] > intervals[b]["high"]]
    return "not shown", "; ".join(ahead + overlap)


def _to_separate(a: dict, b: dict) -> str:
    """How far two overlapping intervals are from separating: means within 0.05 will not separate with more seeds;
    otherwise about how many seeds each would need at their spreads (a half-width shrinks as 1/sqrt(n)) for each
    half-width to fit in half the distance between the means."""
    gap = abs(a["mean"] - b["mean"])
    if gap < 0.05:
        return ": with means this close, more seeds would not order them"
    need = max(math.ceil(x["n"] * ((x["high"] - x["low"]) / gap) ** 2) for x in (a, b))
    return f": at these spreads about {need} seeds each would separate them" if need <= 1000 else \
        ": at these spreads over 1,000 seeds each would separate them"


def as_records(findings) -> list[dict]:
    return [asdict(f) for f in findings]


def to_json(findings) -> str:
    def clean(x):
        if isinstance(x, float) and not np.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        return x

    return json.dumps([clean(r) for r in as_records(findings)], indent=1, ensure_ascii=False)


def table(findings) -> pd.DataFrame:
    """The ledger at a glance: the report said, we measured (in a few words), verdict, where it is explained."""
    rows = [{"task": f.task, "the report said": f.finding, "we measured": headline(f), "verdict": f.verdict,
             "where": SECTIONS[f.section]} for f in findings]
    return pd.DataFrame(rows)


def tally(findings) -> str:
    """How many findings got each verdict, in words: ``In all: 8 do not hold, 5 hold, 1 is not shown.``"""
    plural = {"holds": "hold", "does not hold": "do not hold"}
    counts = table(findings).verdict.value_counts()
    return "In all: " + ", ".join(f"{n} {v if n == 1 else plural.get(v, v)}" for v, n in counts.items()) + "."


def markdown(findings, links: bool = False) -> str:
    """``table`` as a Markdown table, numbered, the verdict in bold; ``links``: the sections as MyST ``{ref}`` links
    (for a cell whose Markdown output is rendered as MyST)."""
    head = "| | the report said | we measured | verdict | where |\n| --- | --- | --- | --- | --- |"
    rows = [f"| {i} | {r['the report said']} | {r['we measured']} | **{r['verdict']}** | "
            f"{'{ref}`' + f.section + '`' if links else r['where']} |"
            for i, (r, f) in enumerate(zip(table(findings).to_dict("records"), findings), 1)]
    return "\n".join([head, *rows])


def text(findings, width: int = 100) -> str:
    """The ledger for a terminal: per finding its verdict, what the report said, what was measured and where."""
    import textwrap

    out = []
    for f in findings:
        out.append(f"[{f.verdict}] {f.task}: {f.finding}")
        for label, body in (("report", f.report_said), ("measured", f.measured), ("to decide", f.how_far),
                            ("course settings", f.course), ("rests on", f.rests_on),
                            ("see", f"the claims chapter, {SECTIONS[f.section]}")):
            if body:
                out.append(textwrap.fill(body, width, initial_indent=f"  {label}: ",
                                         subsequent_indent=" " * (len(label) + 4)))
    return "\n".join(out)
