"""The majority-class floor, run by run: a run that scores its task's floor in accuracy and macro-F1 predicted the
most frequent training label for every test example, so it learned the label frequencies and nothing else. The one
check that the tables (``report.at_floor``), the ledger (``evidence``) and the searches (``paired_changes``) use."""
from __future__ import annotations

import pandas as pd

from hwlib.data.stats import majority_floor


def at_floor_runs(df: pd.DataFrame, tol: float = 0.05) -> pd.Series:
    """Per row (``dataset``, ``accuracy`` and ``macro_f1`` in points): does it score its task's majority-class floor
    in both, within ``tol`` points?"""
    floors = {d: majority_floor(d) for d in dict.fromkeys(df.dataset)}
    acc, f1 = (df.dataset.map({d: f[m] for d, f in floors.items()}) for m in ("accuracy", "macro_f1"))
    return ((df.accuracy - acc).abs() < tol) & ((df.macro_f1 - f1).abs() < tol)
