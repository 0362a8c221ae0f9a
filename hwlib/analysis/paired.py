"""Paired comparisons: two arms over the same seeds (the same seed gives both the same data order and the same new
head), as differences per seed with their mean and spread, or as a mean with a Student-t interval.

Task 2 uses them for its two checks of one setting (length-grouped vs random batches, bf16 vs fp32), the recipes
chapter for the gaps between methods. Nothing here trains: the runs are read from the store.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib import runs as E
from hwlib.analysis.intervals import pairable_seeds, paired_t
from hwlib.analysis.report import at_floor, runs_frame


def paired_check(a: pd.DataFrame, b: pd.DataFrame, names=("grouped", "random"),
                 cols=("accuracy", "macro_f1")) -> pd.DataFrame:
    """Arm ``a`` minus arm ``b``, per seed present in both (points), with the mean and std over the seeds, and for
    the differences the book's 95 % interval (``intervals.paired_t``) in the rows ``95 % low`` and ``high``."""
    seeds = sorted(set(a.seed) & set(b.seed))
    if not seeds:
        return pd.DataFrame({"note": [f"no seed has both a {names[0]} and a {names[1]} run stored"]})
    x, y = a.set_index("seed").loc[seeds], b.set_index("seed").loc[seeds]
    out = pd.DataFrame({**{f"{c} {names[0]}": x[c] for c in cols}, **{f"{c} {names[1]}": y[c] for c in cols},
                        **{f"{c} difference": x[c] - y[c] for c in cols}})
    out.loc["mean"] = out.loc[seeds].mean()
    out.loc["std"] = out.loc[seeds].std(ddof=1) if len(seeds) > 1 else np.nan
    for c in cols:
        t = paired_t(out.loc[seeds, f"{c} difference"])
        out.loc["95 % low", f"{c} difference"], out.loc["95 % high", f"{c} difference"] = t["low"], t["high"]
    return out.round(2)


def batching_check(grouped: pd.DataFrame, random: pd.DataFrame, cols=("accuracy", "macro_f1")) -> pd.DataFrame:
    """Length-grouped minus random batches, per seed present in both (points), with the mean and std."""
    return paired_check(grouped, random, ("grouped", "random"), cols)


def batching_checks(datasets, seeds, model="minilm", **settings) -> pd.DataFrame:
    """``batching_check`` per dataset: the stored length-grouped and random-batch full fine-tuning runs of ``model``
    (nothing is trained), paired by seed."""
    out = {}
    for d in datasets:
        frames = {g: runs_frame(E.collect(configs, train_missing=False)[0])
                  for g, configs in E.batching_configs(d, seeds, model, **settings).items()}
        out[d] = batching_check(frames[True], frames[False])
    if not out:
        return pd.DataFrame({"note": [f"no dataset of {list(E.BATCHING_DATASETS)} is among those shown"]})
    return pd.concat(out, names=["dataset"])


def precision_checks(datasets, seeds, model="minilm", **settings) -> pd.DataFrame:
    """bf16 autocast minus fp32, per dataset and seed (points): the stored full fine-tuning runs of ``model`` with
    ``precision="bf16"`` against the default runs whose records say they trained in fp32 (nothing is trained)."""
    out = {}
    for d in datasets:
        frames = {}
        for arm, configs in E.precision_configs(d, seeds, model, **settings).items():
            records = E.collect(configs, train_missing=False)[0]
            frames[arm] = runs_frame([r for r in records if r["provenance"]["precision"] == arm])
        out[d] = paired_check(frames["bf16"], frames["fp32"], ("bf16", "fp32"))
    if not out:
        return pd.DataFrame({"note": ["no dataset given"]})
    return pd.concat(out, names=["dataset"])


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, col: str = "macro_f1", level: float = 0.95) -> dict:
    """``a - b`` over the seeds both have (same seed, same data order and head initialisation) in the same arithmetic
    on the same kind of device (``pairable_seeds``), by the book's one rule (``intervals.paired_t``): mean,
    standard deviation, number of pairs and the Student-t interval."""
    seeds = pairable_seeds(a, b)
    return paired_t(a.set_index("seed").loc[seeds, col] - b.set_index("seed").loc[seeds, col], level)


def method_gaps(frames: dict, others=("adapter", "lora")) -> pd.DataFrame:
    """Full fine-tuning minus each other method, per dataset and recipe (``frames``: recipe label -> runs frame), in
    accuracy and macro-F1, by ``paired_difference``. The last column names an arm with seeds at the majority-class
    floor (``report.at_floor``): a gap computed from it says that the arm learned the label frequencies only."""
    rows = []
    for recipe, frame in frames.items():
        for name in dict.fromkeys(frame.dataset):
            f = frame[frame.dataset == name]
            t = at_floor(f)
            t = t[t.at_floor > 0]
            for other in [m for m in others if m in set(f.method)]:
                floored = ", ".join(f"{r.method}: {r.at_floor} of {r.seeds}"
                                    for r in t[t.method.isin(["full", other])].itertuples())
                for col in ("accuracy", "macro_f1"):
                    gap = paired_difference(f[f.method == "full"], f[f.method == other], col)
                    rows.append({"recipe": recipe, "dataset": name, "vs": other, "metric": col, **gap,
                                 "at the floor": floored or "-"})
    return (pd.DataFrame(rows).set_index(["dataset", "vs", "metric", "recipe"]).sort_index() if rows
            else pd.DataFrame())
