"""How many seeds would decide? The book's interval (``intervals``) at the spreads the stored runs measured.

For a paired comparison whose per-seed differences have standard deviation ``sd``, the 95 % interval's half-width
after ``n`` seeds is ``t_{0.975, n-1} sd / sqrt(n)``. An effect of size ``e`` is *shown* (its interval excludes zero)
once the half-width falls below ``|e|``, if the mean stays where it is. ``plan`` gives, for each comparison, the
half-width now, the seeds a given target effect needs, and the seeds the measured effect itself would need;
``plot_half_widths`` draws the half-width against the number of seeds. This assumes the measured spread is the true
one; with five seeds it is itself uncertain (its own 95 % range is roughly 0.6x to 2.9x), so the seed counts are a
guide, not a guarantee.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib.analysis.intervals import half_width, seeds_for
from hwlib.data.tasks import title


def plan(effects: dict, target: float = 3.0) -> pd.DataFrame:
    """One row per comparison of ``effects`` (task -> a ``domain_readings.effects`` table): the seeds, the mean and the
    standard deviation of the paired differences (``sd``), the half-width now (``± now``), the seeds an effect of
    ``target`` points needs, and the seeds the measured mean needs (``None``: more than 1,000)."""
    rows = []
    for task, table in effects.items():
        for _, e in (table.iterrows() if table is not None and not table.empty else []):
            if e["pairs"] < 2:
                continue
            rows.append({"task": task, "comparison": f"{e['arm']} minus {e['minus']}", "seeds": int(e["pairs"]),
                         "mean": e["mean"], "sd": e["std"], "± now": half_width(e["std"], int(e["pairs"])),
                         f"seeds for ±{target:g}": seeds_for(e["std"], target),
                         "seeds for the mean": seeds_for(e["std"], abs(e["mean"]))})
    return pd.DataFrame(rows)


def plot_half_widths(table: pd.DataFrame, ax=None, target: float = 3.0, most: int = 30):
    """The interval's half-width against the number of seeds, one line per comparison (the dot: where it stands
    now), with the ``target`` as a dashed line: where a line crosses it, an effect of ``target`` points is shown."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    n = np.arange(2, most + 1)
    styles = ["-", "--", ":", "-."]
    for i, r in enumerate(table.to_dict("records")):
        line, = ax.plot(n, half_width(r["sd"], n), styles[i % 4], lw=1.6,
                        label=f"{r['task']}: {r['comparison']}")
        ax.plot([r["seeds"]], [r["± now"]], "o", color=line.get_color())
    ax.axhline(target, color="black", lw=0.8, ls="--")
    ax.annotate(f"±{target:g} points", (most, target), textcoords="offset points", xytext=(-4, 4), ha="right")
    top = float(np.nanmax(table["± now"])) * 1.15 if len(table) else 10
    ax.set(xlabel="seeds (paired)", ylabel="± of the 95 % interval (points)", ylim=(0, top), xlim=(2, most))
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, ncol=1)
    return ax


def how_far(e, target: float = 3.0) -> str:
    """One sentence for a comparison that is not shown: its half-width now, and the seeds at which the measured
    effect, and an effect of ``target``, would be shown at the measured spread."""
    if e["pairs"] < 2 or not np.isfinite(e["std"]):
        return "One seed gives no spread: at least two more seeds are needed before anything can be said."
    need, need_target = seeds_for(e["std"], abs(e["mean"])), seeds_for(e["std"], target)
    measured = (f"an effect of the measured size ({e['mean']:+.1f}) would be shown from {need} seeds"
                if need else f"an effect of the measured size ({e['mean']:+.1f}) would need more than 1,000 seeds")
    return (f"How far from shown: ±{half_width(e['std'], int(e['pairs'])):.1f} points now over {int(e['pairs'])} "
            f"seeds; at this spread (sd {e['std']:.1f}), {measured}, and one of {target:g} points from "
            f"{need_target} seeds.")


def show(table: pd.DataFrame) -> pd.DataFrame:
    """``plan``'s table for the page: rounded, the half-width to two decimals (3.04 is not yet within ±3, which one
    decimal would hide), seed counts as text (``> 1,000`` where none is enough), tasks as the book names them."""
    out = table.assign(task=[title(t) for t in table.task]).set_index(["task", "comparison"])
    for col in [c for c in out.columns if c.startswith("seeds for")]:
        out[col] = [f"{int(v)}" if v is not None and np.isfinite(v) else "> 1,000" for v in out[col]]
    out = out.round(1)
    out["± now"] = table["± now"].round(2).to_numpy()
    return out


def _span(low, high, form: str = "{:.1f}") -> str:
    a, b = form.format(low), form.format(high)
    return a if a == b else f"{a} to {b}"


def describe(table: pd.DataFrame, target: float = 3.0) -> str:
    """Markdown: per task, how far its paired differences spread and how many seeds ``target`` points need."""
    if table.empty:
        return "No comparison rests on two or more seeds yet."
    col, lines = f"seeds for ±{target:g}", []
    for task, g in table.groupby("task", sort=False):
        need = [int(v) for v in g[col] if v is not None and np.isfinite(v)]
        lines.append(f"- {title(task)}: the paired differences spread by {_span(g.sd.min(), g.sd.max())} points (sd) over "
                     f"{_span(g.seeds.min(), g.seeds.max(), '{:d}')} seeds; telling {target:g} points from zero needs "
                     + (f"{_span(min(need), max(need), '{:d}')} seeds" if need else "more than 1,000 seeds")
                     + (f" ({len(g) - len(need)} of its comparisons: more than 1,000)" if need and len(need) < len(g)
                        else "")
                     + ".")
    return "\n".join(lines)
