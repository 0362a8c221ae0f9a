"""One change at a time around a recipe, over several seeds, paired by seed.

``ablation.one_change_table`` reads a sweep run on one seed: each neighbour's mean against the recipe's mean. With
a few seeds per neighbour the book's one rule applies instead (``intervals.paired_t``): each seed's neighbour minus
the same seed's recipe, in dev macro-F1 (what chooses), and in test accuracy and macro-F1 (shown, never used to
choose). A reference arm (full fine-tuning, say) gives each variant's gap to it over the same seeds, so a change that
closes a gap shows it as a smaller gap, with its interval.
"""
from __future__ import annotations

import pandas as pd

from hwlib.analysis.ablation import HEAD, _by_configuration, _differences, _label
from hwlib.analysis.intervals import fmt, pairable_seeds, paired_t, seed_list
from hwlib.analysis.floors import at_floor_runs
from hwlib.train.config import RunConfig


def scores(records) -> pd.DataFrame:
    """One row per run: its seed, arithmetic and device (what may be paired), scores in points, weights trained."""
    return pd.DataFrame([{
        "seed": r["config"]["seed"], "dataset": r["config"]["dataset"],
        "precision": r.get("provenance", {}).get("precision"),
        "device": r.get("provenance", {}).get("device"), "trainable": r.get("params", {}).get("trainable"),
        "dev_macro_f1": 100 * r["selection"]["dev_macro_f1"],
        **{m: 100 * r["metrics"][m] for m in ("accuracy", "macro_f1")}} for r in records])


def _paired(a: pd.DataFrame, b: pd.DataFrame, col: str) -> dict:
    seeds = pairable_seeds(a, b)
    return paired_t(a.set_index("seed").loc[seeds, col] - b.set_index("seed").loc[seeds, col])


def paired_changes(records, centre: dict, reference=None) -> pd.DataFrame:
    """Rows: the recipe (``centre``: a ``RunConfig``'s keyword arguments, the seed aside) and every stored variant
    that differs from it in one setting. Columns: the setting changed and its value, the seeds paired, the change of
    dev macro-F1, test accuracy and test macro-F1 (variant minus recipe, points, paired by seed, with the interval),
    and, with ``reference`` records, the reference's test accuracy minus the variant's, paired over the seeds both
    have (the variant's own)."""
    settings = RunConfig(**centre).settings()
    groups = {s: scores(recs) for (_, _, s), recs in _by_configuration(records).items()}
    base = groups.get(tuple(sorted(settings.items())))
    if base is None:
        raise ValueError(f"no stored run of the recipe {settings}: its seeds are what the variants pair with")
    ref = scores(reference) if reference else None
    rows = []
    for key, runs in groups.items():
        diff = _differences(settings, dict(key))
        if len(diff) > 1:
            continue
        row = {"change": "the recipe" if not diff else f"{diff[0]}: {_label(settings, diff[0])} → "
                                                        f"{_label(dict(key), diff[0])}"}
        row["seeds"] = len(pairable_seeds(runs, base))
        row["trainable weights"] = f"{int(runs.trainable.iloc[0]):,}" if runs.trainable.notna().all() else "—"
        row["dev macro-F1"] = f"{runs.dev_macro_f1.mean():.1f}"
        for col, name in (("dev_macro_f1", "dev macro-F1"), ("accuracy", "test accuracy"),
                          ("macro_f1", "test macro-F1")):
            t = _paired(runs, base, col) if diff else None
            row[f"{name} change"] = fmt(t["mean"], t["low"], t["high"]) if t else "—"
        if ref is not None:
            t = _paired(ref, runs, "accuracy")
            row["full minus it, accuracy"] = fmt(t["mean"], t["low"], t["high"])
        rows.append(row)
    rows.sort(key=lambda r: r["change"] != "the recipe")
    return pd.DataFrame(rows).set_index("change")


def _near(records, centre: dict) -> dict:
    """``label -> (changes, runs)`` for the recipe (label "the recipe", no changes) and every variant one change
    away; ``changes`` are the ``RunConfig`` keyword arguments that make the centre that variant."""
    settings = RunConfig(**centre).settings()
    near = {}
    for (_, _, key), recs in _by_configuration(records).items():
        diff, other = _differences(settings, dict(key)), dict(key)
        if len(diff) > 1:
            continue
        names = () if not diff else HEAD if diff[0] == "head" else (diff[0],)
        changes = {k: other.get(k, getattr(RunConfig(), k)) for k in names}
        near["the recipe" if not diff else f"{diff[0]} {_label(other, diff[0])}"] = (changes, scores(recs))
    return near


def dev_choice(records, centre: dict) -> tuple[str, dict, list]:
    """What the mean dev macro-F1 chooses, over the seeds the recipe and every variant have: ``(label, the chosen
    configuration's keyword arguments, the seeds)``; the recipe itself unless a variant's mean is higher. The test
    scores choose nothing."""
    near, common, means = _dev_means(records, centre)
    best = max(means, key=means.get)
    return best, centre | near[best][0], common


def _dev_means(records, centre: dict) -> tuple[dict, list, dict]:
    """``_near``, the seeds the recipe and every variant have, and each one's mean dev macro-F1 over them."""
    near = _near(records, centre)
    if "the recipe" not in near:
        raise ValueError(f"no stored run of the recipe {RunConfig(**centre).settings()}")
    common = sorted(set.intersection(*(set(runs.seed) for _, runs in near.values())))
    return near, common, {label: runs[runs.seed.isin(common)].dev_macro_f1.mean() for label, (_, runs) in near.items()}


def chosen_on_dev(records, centre: dict) -> str:
    """Markdown: the mean dev macro-F1 of the recipe and of each variant over the seeds they all have, and which
    ``dev_choice`` takes."""
    near, common, means = _dev_means(records, centre)
    best = dev_choice(records, centre)[0]
    listed = ", ".join(f"{k} {v:.1f}" for k, v in sorted(means.items(), key=lambda kv: -kv[1]))
    return (f"Mean dev macro-F1 over {seed_list(common)}: {listed}. Dev chooses **{best}**"
            + ("." if best == "the recipe" else ", whose further seeds measure the gap again below.")
            + _edge(near, centre, best) + _floors(near))


def _floors(near: dict) -> str:
    """A sentence naming the arms whose seeds end at the majority-class floor: they learned the label frequencies and
    nothing else, so their changes measure a collapse, not the setting's effect on what is learned."""
    counts = {label: (int(at_floor_runs(runs).sum()), len(runs)) for label, (_, runs) in near.items()}
    floored = [f"{label} ({k} of {n} seeds)" for label, (k, n) in counts.items() if k]
    return (" At the majority-class floor, having learned only the label frequencies: " + ", ".join(floored) + "."
            if floored else "")


def _edge(near: dict, centre: dict, best: str) -> str:
    """A note where the chosen value of a numeric setting is the highest or lowest value tried for it: the bracket is
    open on that side, so a further step that way is untried, and dev may prefer it."""
    changes = near[best][0]
    if len(changes) != 1:
        return ""
    (name, value), = changes.items()
    tried = {centre.get(name, getattr(RunConfig(), name))} | {c[name] for c, _ in near.values() if name in c}
    if isinstance(value, bool) or not isinstance(value, (int, float)) or len(tried) < 2:
        return ""
    side = "highest" if value == max(tried) else "lowest" if value == min(tried) else None
    return (f" It is the {side} `{name}` tried ({', '.join(f'{v:g}' for v in sorted(tried))}): the bracket is open"
            f" on that side, and a further step {'up' if side == 'highest' else 'down'} is untried." if side else "")


DEV_COLUMNS = ["seeds", "trainable weights", "dev macro-F1", "dev macro-F1 change"]


def split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ``paired_changes`` table as two that fit the page: what chooses (dev), and what it gives on test."""
    return table[DEV_COLUMNS], table.drop(columns=DEV_COLUMNS)
