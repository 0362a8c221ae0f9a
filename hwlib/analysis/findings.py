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
  A is *ahead* of B when A's interval lies wholly above B's.
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

MIN_RUNS = 5
TOLERANCE = {"points": 3.0, "loss": 0.1}  # the widest half-width at which a claimed value is told from its neighbours
MEMORY_BAND = 0.10
ORDER = ["agnews_sup", "restaurant_sup", "acl_sup"]  # the report's ordering of the datasets, best first
NAMES = {"acl_sup": "ACL-ARC", "restaurant_sup": "restaurant", "agnews_sup": "AG News"}
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
    section: str  # where the book explains it: "notebooks/<chapter>" and the section's title
    number: dict = field(default_factory=dict)  # the deciding number: mean, low, high, n, unit (nan where none)
    how_far: str = ""  # for "not shown": what would decide it
    course: str = ""  # what the course's settings gave, beside the verdict

    def __post_init__(self):
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
    """The deciding number as the book prints every paired result: ``+3.5 (+0.8 to +6.1)``, with its unit and runs."""
    if not np.isfinite(num["mean"]):
        return "—"
    return f"{fmt(num['mean'], num['low'], num['high'], digits)} {num['unit']}, {num['n']} runs".replace(" ,", ",")


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
    """``(verdict, how_far)`` for "``order[0]`` > ``order[1]`` > ...": each ahead of the next (interval wholly above),
    every dataset with at least ``MIN_RUNS`` seeds."""
    short = min(intervals[d]["n"] for d in order)
    if short < MIN_RUNS:
        return "not shown", seeds_short(short)
    pairs = list(zip(order, order[1:]))
    if all(intervals[a]["low"] > intervals[b]["high"] for a, b in pairs):
        return "holds", ""
    if any(intervals[a]["mean"] < intervals[b]["mean"] and intervals[a]["high"] < intervals[b]["low"] for a, b in pairs):
        return "does not hold", ""
    if any(intervals[a]["mean"] < intervals[b]["mean"] for a, b in pairs):
        return "does not hold", "the means are in another order, though the intervals overlap"
    return "not shown", "the means are in the claimed order but some intervals overlap"


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


def table(findings, width: int = 60) -> pd.DataFrame:
    """The ledger as the findings page shows it: finding, the report said, we measured, verdict, where."""
    rows = [{"finding": f.finding, "the report said": f.report_said,
             "we measured": f.measured + (f" ({f.how_far})" if f.how_far else ""),
             "verdict": f.verdict, "where": f.section.split(": ", 1)[-1]} for f in findings]
    return pd.DataFrame(rows).set_index("finding")


def markdown(findings) -> str:
    """The ledger as a Markdown table (for the page and the terminal), one row per finding."""
    head = "| finding | the report said | we measured | verdict |\n| --- | --- | --- | --- |"
    rows = [f"| {f.finding} | {f.report_said} | {f.measured}{' — ' + f.how_far if f.how_far else ''} | "
            f"**{f.verdict}** |" for f in findings]
    return "\n".join([head, *rows])


def text(findings, width: int = 100) -> str:
    """The ledger for a terminal: per finding its verdict, what the report said, what was measured and where."""
    import textwrap

    out = []
    for f in findings:
        out.append(f"[{f.verdict}] {f.task}: {f.finding}")
        for label, body in (("report", f.report_said), ("measured", f.measured), ("to decide", f.how_far),
                            ("course settings", f.course), ("rests on", f.rests_on), ("see", f.section)):
            if body:
                out.append(textwrap.fill(body, width, initial_indent=f"  {label}: ",
                                         subsequent_indent=" " * (len(label) + 4)))
    return "\n".join(out)
