"""What the run store holds, one entry per configuration (all its seeds): what ``python -m hwlib results`` prints."""
from __future__ import annotations

import json
import statistics

from hwlib.data.stats import majority_floor
from hwlib.store.runs import ResultStore
from hwlib.train.config import RunConfig


def stored_groups(store=None) -> list[dict]:
    """One entry per stored configuration (all seeds together): model, method, dataset, the settings that differ
    from the course's (and ``modified_data``, the files that differ from the originals, for runs on modified data),
    how many seeds, accuracy and macro-F1 mean and standard deviation (points), and ``at_floor``:
    true when every seed scores exactly the majority-class floor (within 0.05 points, in both metrics)."""
    groups: dict = {}
    for rec in (store or ResultStore()).all():
        c = RunConfig(**rec["config"])
        modified = {"modified_data": rec["data"]["modified"]} if rec["data"]["modified"] else {}
        key = (c.model, c.method, c.dataset, json.dumps(c.settings() | modified, sort_keys=True))
        groups.setdefault(key, []).append(rec["metrics"])
    floors, out = {}, []
    for (model, method, dataset, settings), ms in groups.items():
        floor = floors.setdefault(dataset, majority_floor(dataset))
        acc, f1 = [100 * m["accuracy"] for m in ms], [100 * m["macro_f1"] for m in ms]
        std = (lambda v: statistics.stdev(v) if len(v) > 1 else None)
        out.append({"model": model, "method": method, "dataset": dataset, "settings": json.loads(settings),
                    "seeds": len(ms), "accuracy_mean": statistics.fmean(acc), "accuracy_std": std(acc),
                    "macro_f1_mean": statistics.fmean(f1), "macro_f1_std": std(f1),
                    "at_floor": all(abs(a - floor["accuracy"]) < 0.05 and abs(f - floor["macro_f1"]) < 0.05
                                    for a, f in zip(acc, f1))})
    return out
