"""Tables as the page shows them: the columns the prose reads, each number with its interval in one cell, so that the
table fits the book's column. The chapters keep the full table one click away, under a toggle."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib.analysis.intervals import fmt
from hwlib.analysis.style import titled


def gap_view(gap: pd.DataFrame) -> pd.DataFrame:
    """``report.adapter_gap`` per dataset: accuracy and macro-F1 lost to adapters and the training-loss gap, each with
    its 95 % interval (the book's one rule), the paired seeds, the trainable share and the peak-memory ratio (adapters
    over full fine-tuning, pairs on the same device only), datasets named as the book names them."""
    rows = {}
    for dataset, r in gap.iterrows():
        rows[dataset] = {
            "seeds": int(r.seeds),
            "accuracy lost": fmt(r.accuracy_gap, r.accuracy_gap_low, r.accuracy_gap_high),
            "macro-F1 lost": fmt(r.macro_f1_gap, r.macro_f1_gap_low, r.macro_f1_gap_high),
            "loss higher by": fmt(r.final_train_loss_gap, r.final_train_loss_gap_low, r.final_train_loss_gap_high, 3),
            "trainable %": round(float(r.trainable_pct_adapter), 2),
            "peak memory, adapters / full": (round(float(r.peak_memory_ratio), 2) if np.isfinite(r.peak_memory_ratio)
                                             else "—"),
        }
    return readable(pd.DataFrame.from_dict(rows, orient="index").rename_axis("dataset"))


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table without its index, every cell in full (long text wraps on the page instead of
    being cut) and shown literally: Markdown's own characters are escaped."""
    def cell(value) -> str:
        text = str(value).replace("\\", "\\\\").replace("\n", " ")
        for ch in "`*_[]<>|$":
            text = text.replace(ch, "\\" + ch)
        return text

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def repository(url: str) -> str:
    """``owner/name`` of a GitHub address (raw or not), else the address's host: where a file comes from, in short."""
    parts = url.split("/")
    return "/".join(parts[3:5]) if "github" in url and len(parts) > 4 else parts[2] if len(parts) > 2 else url


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names as words (``chosen_epoch`` -> ``chosen epoch``, ``macro_f1`` -> ``macro-F1``), so that a table's
    headers can wrap and it fits the column, and datasets as the book names them (``acl_sup`` -> ``ACL-ARC``)."""
    def word(name):
        return str(name).replace("macro_f1", "macro-F1").replace("micro_f1", "micro-F1").replace("_", " ")

    return titled(frame.rename(columns=word))


def note(text: str) -> None:
    """Display the Markdown ``text``, or nothing when it is empty: an empty ``Markdown`` object would show its repr
    on the page. For notes that exist only sometimes, such as ``runs.missing_note``."""
    from IPython.display import Markdown, display

    if text:
        display(Markdown(text))
