"""What each change of a recipe buys, one at a time: the sweep's candidates set against the recipe dev chose.

A sweep crosses settings (``python -m hwlib sweep --vary ...``), so most pairs of its candidates differ in more than
one setting. ``one_change_table`` keeps the pairs that differ in exactly one, the chosen recipe against each
neighbour, so that each row reads as "this setting, changed from the chosen value to another, moved dev macro-F1 by
so much". Pooling and the adapters' pooler count as one change: with mean pooling BERT's pooler is not used, so
``train_pooler`` has no meaning there (``RunConfig`` resets it). ``budget_row`` adds the one change a sweep does not
cross: the course's three epochs, read on test after the last, against the sweep's budget (up to 10 epochs, early
stopping on dev, warm-up, weight decay) at the course's own pooling and learning rate.

Everything here reads stored records; the test scores are shown beside the dev scores but chose nothing.
"""
from __future__ import annotations

import pandas as pd

from .config import RunConfig

HEAD = ("pooling", "train_pooler")  # one change: what the classifier reads, and whether that layer trains


def _label(settings: dict, key: str) -> str:
    if key == "head":
        pooling = settings.get("pooling", "cls")
        return "mean" if pooling == "mean" else "[CLS]" + (" + pooler trains" if settings.get("train_pooler") else "")
    value = settings.get(key, getattr(RunConfig(), key))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _differences(a: dict, b: dict) -> list[str]:
    keys = sorted((set(a) | set(b)) - set(HEAD))
    diff = [k for k in keys if a.get(k) != b.get(k)]
    if any(a.get(k) != b.get(k) for k in HEAD):
        diff.append("head")
    return diff


def one_change_table(sweep_records) -> pd.DataFrame:
    """Per dataset and method (seeds averaged per candidate): the candidate with the best mean dev macro-F1 (the
    recipe) against every candidate that differs from it in one setting; the change in dev and test macro-F1
    (points, candidate minus recipe), with the seeds each rests on."""
    groups: dict = {}
    for r in sweep_records:
        c = RunConfig(**r["config"])
        key = (c.dataset, c.method, tuple(sorted(c.settings().items())))
        groups.setdefault(key, []).append(r)
    cands: dict = {}
    for (dataset, method, settings), recs in groups.items():
        cands.setdefault((dataset, method), []).append({
            "settings": dict(settings), "seeds": len(recs),
            "dev": 100 * sum(r["selection"]["dev_macro_f1"] for r in recs) / len(recs),
            "test": 100 * sum(r["metrics"]["macro_f1"] for r in recs) / len(recs)})
    rows = []
    for (dataset, method), cs in cands.items():
        best = max(cs, key=lambda c: c["dev"])
        for c in cs:
            diff = _differences(best["settings"], c["settings"])
            if len(diff) != 1:
                continue
            key = diff[0]
            rows.append({"dataset": dataset, "method": method, "setting": key,
                         "recipe": _label(best["settings"], key), "changed to": _label(c["settings"], key),
                         "dev macro-F1 change": c["dev"] - best["dev"],
                         "test macro-F1 change": c["test"] - best["test"], "seeds": min(c["seeds"], best["seeds"])})
    if not rows:
        return pd.DataFrame({"note": ["no two stored candidates differ in exactly one setting"]})
    return pd.DataFrame(rows).set_index(["dataset", "method", "setting"]).sort_index()


def budget_row(course_records, sweep_records) -> pd.DataFrame:
    """The training budget, one change: the course's runs (3 epochs, no warm-up or weight decay, the last epoch
    read on test) against the sweep's candidate at the course's pooling and learning rate, on the seeds both have;
    test macro-F1 only (the course's runs never saw the dev split)."""
    rows = []
    default = RunConfig()
    for course in course_records:
        cc = RunConfig(**course["config"])
        if cc.settings():
            continue  # only the course's own runs
        for r in sweep_records:
            c = RunConfig(**r["config"])
            same = (c.dataset, c.method, c.seed, c.pooling, c.learning_rate, c.train_pooler) == (
                cc.dataset, cc.method, cc.seed, default.pooling, default.learning_rate, default.train_pooler)
            if same:
                rows.append({"dataset": c.dataset, "method": c.method, "seed": c.seed,
                             "course (3 epochs)": 100 * course["metrics"]["macro_f1"],
                             f"budget ({c.epochs} epochs max, chose {r['selection']['chosen_epoch']:g})":
                                 100 * r["metrics"]["macro_f1"]})
    if not rows:
        return pd.DataFrame({"note": ["no sweep candidate at the course's pooling and learning rate is stored"]})
    return pd.DataFrame(rows).set_index(["dataset", "method", "seed"])
