"""The evidence behind each finding of the ledger (``hwlib.analysis.ledger``), as the claims chapter shows it: one
table or figure per finding, from the same ``evidence.gather()`` the verdicts are computed from, and the verdict
itself as a short Markdown block. Figures quoted from papers, never from our runs, are in ``PUBLISHED``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib.analysis import findings as F
from hwlib.analysis.findings import NAMES, ORDER

# Figures quoted from papers, never from our runs (shown apart from measurements in the book).
PUBLISHED = [
    {"source": "beltagy2019scibert", "model": "BERT-Base", "dataset": "ACL-ARC", "metric": "macro-F1", "value": 63.91,
     "spread": None, "note": "SciBERT paper, Table 1 (fine-tuned)"},
    {"source": "beltagy2019scibert", "model": "SciBERT (scivocab, uncased)", "dataset": "ACL-ARC", "metric": "macro-F1",
     "value": 70.98, "spread": None, "note": "SciBERT paper, Table 1 (fine-tuned)"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base", "dataset": "ACL-ARC", "metric": "macro-F1", "value": 63.0,
     "spread": 5.8, "note": "Don't Stop Pretraining, Table 5, mean ± std over 5 seeds"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base + TAPT", "dataset": "ACL-ARC", "metric": "macro-F1",
     "value": 67.4, "spread": 1.8, "note": "Don't Stop Pretraining, Table 5: 100 epochs of MLM on the task's text"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base + DAPT", "dataset": "ACL-ARC", "metric": "macro-F1",
     "value": 75.4, "spread": 2.5, "note": "Don't Stop Pretraining, Table 5: MLM on 8.1B tokens of CS papers (S2ORC)"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base", "dataset": "AG News (full 115k training set)",
     "metric": "macro-F1", "value": 93.9, "spread": 0.2, "note": "not agnews_sup: trained on the full training set"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base + TAPT", "dataset": "AG News (full 115k training set)",
     "metric": "macro-F1", "value": 94.5, "spread": 0.1,
     "note": "Don't Stop Pretraining, Table 5; not agnews_sup: trained on the full training set"},
]


# how a page names each source (the key is the bibliography's, book/references.bib)
CITED = {"beltagy2019scibert": "Beltagy et al. 2019", "gururangan2020dont": "Gururangan et al. 2020"}


def published() -> pd.DataFrame:
    """Figures quoted from papers (not measured here): ``paper`` as a page names it, ``source`` its bibliography
    key."""
    frame = pd.DataFrame(PUBLISHED)
    frame.insert(0, "paper", frame.source.map(CITED))
    return frame


def quoted(model: str, dataset: str = "ACL-ARC") -> float:
    """One quoted figure of ``PUBLISHED`` by model and dataset."""
    rows = [p for p in PUBLISHED if p["model"] == model and p["dataset"] == dataset]
    if len(rows) != 1:
        raise KeyError(f"no single quoted figure for {model!r} on {dataset!r}; quoted: "
                       f"{sorted({(p['model'], p['dataset']) for p in PUBLISHED})}")
    return rows[0]["value"]


def verdict_block(f: F.Finding) -> str:
    """A finding's verdict as the chapter prints it under its evidence: verdict, the report, what was measured, what
    would decide it, and what the course's settings gave."""
    lines = [f"**Verdict: {f.verdict}.** The report: *{f.report_said}*", "", f"Measured: {f.measured}."]
    if f.how_far:
        lines += ["", f"What would decide it: {f.how_far}."]
    if f.course:
        lines += ["", f"Under the course's settings (shown beside, not a second verdict): {f.course}."]
    return "\n".join(lines)


def by_key(findings) -> dict:
    return {f.key: f for f in findings}


def ordering_table(ev) -> pd.DataFrame:
    """Full fine-tuning per task, easiest first as the report orders them: test macro-F1, the mean with its t interval
    over seeds, under the recipes chosen on dev and under the course's settings."""
    rows = []
    for d in ORDER:
        row = {"task": NAMES[d]}
        for label, frame in (("recipes", ev.tuned), ("course", ev.course)):
            g = frame[(frame.method == "full") & (frame.dataset == d)]
            row[f"{label}: macro-F1"] = F.shown_mean(F.interval_over_seeds(g.macro_f1))
            row[f"{label}: seeds"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows).set_index("task")


def sized_table(ev) -> pd.DataFrame:
    """Difficulty with size held equal: each task's macro-F1 at ACL-ARC's training size (ACL-ARC itself, and the
    others' stratified draws), beside its number of labels, largest class and balance."""
    rows = []
    for d in ORDER:
        g = ev.tuned[(ev.tuned.method == "full") & (ev.tuned.dataset == d)] if d == "acl_sup" else \
            ev.sized[ev.sized.dataset == d]
        lab = ev.labels[d]
        rows.append({"task": NAMES[d], "labels": lab["labels"], "largest class %": round(lab["majority"], 1),
                     "balance": round(lab["balance"], 2),
                     f"macro-F1 at {ev.train_size:,} examples": F.shown_mean(F.interval_over_seeds(g.macro_f1)),
                     "runs": len(g)})
    return pd.DataFrame(rows).set_index("task")


def seen_table(ev) -> pd.DataFrame:
    """ACL-ARC full fine-tuning (recipes chosen on dev) scored apart on the test rows whose text is also in train
    and on the others, per seed that keeps its predictions, with the mean."""
    from hwlib.analysis.errors import scored_apart, seen_in_train

    full = [r for r in ev.tuned_records if r["config"]["method"] == "full" and r["config"]["dataset"] == "acl_sup"]
    mask = seen_in_train("acl_sup")
    t = scored_apart(full, mask)
    if t.empty:
        return t
    t.loc["mean"] = t.mean()
    t.columns = pd.MultiIndex.from_tuples([(f"{p} ({int(mask.sum()) if p.startswith('seen') else int((~mask).sum())}"
                                            f" rows)", m.replace("_", "-")) for p, m in t.columns])
    return t.round(1)


def loss_groups(ev) -> pd.DataFrame:
    """Per task and method, the learned runs' Spearman correlation of final training loss and test macro-F1 with its
    permutation p-value (groups of fewer than ``MIN_RUNS`` runs are listed, not tested)."""
    from hwlib.analysis.correlation import fmt_p, permutation_spearman

    rows = []
    for (d, m), g in ev.learned.groupby(["dataset", "method"], sort=True):
        if d not in NAMES:
            continue
        tested = len(g) >= F.MIN_RUNS
        r = permutation_spearman(g.final_train_loss, g.macro_f1) if tested else None
        rows.append({"task": NAMES[d], "method": m, "runs": len(g), "settings": g.settings.nunique(),
                     "Spearman": round(r["rho"], 2) if r else np.nan,
                     "p": fmt_p(r).removeprefix("p ").removeprefix("= ") if r else "too few runs"})
    return pd.DataFrame(rows).set_index(["task", "method"])


def plot_loss_within(ev, ax=None):
    """Final training loss against test macro-F1, one panel per task, methods told apart by marker and colour."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(1, 3, figsize=(7.4, 2.8))
    markers = {"full": ("o", "C0"), "adapter": ("s", "C1"), "lora": ("^", "C2")}
    for a, d in zip(ax, reversed(ORDER)):
        g = ev.learned[ev.learned.dataset == d]
        for m, (mk, c) in markers.items():
            h = g[g.method == m]
            a.scatter(h.final_train_loss, h.macro_f1, marker=mk, color=c, s=16, alpha=0.8, label=m)
        a.set_title(NAMES[d])
        a.set_xlabel("final training loss")
        a.grid(alpha=0.3)
    ax[0].set_ylabel("test macro-F1")
    ax[0].figure.legend(*ax[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False,
                        bbox_to_anchor=(0.5, -0.1))  # below the panels, off the points
    return ax


def gap_table(ev) -> pd.DataFrame:
    """Full fine-tuning minus adapters per task (accuracy points; adapters minus full in final training loss), the
    book's paired rule over seeds, under the recipes chosen on dev, under the configurations a later search on that
    task's dev chose for either method (``evidence.refined_frame``: only the tasks that have one) and under the
    course's settings."""
    from hwlib.analysis.evidence import refined_frame
    from hwlib.analysis.intervals import fmt
    from hwlib.analysis.report import adapter_gap

    rows = []
    later = {d for d, m in ev.refined if m in ("full", "adapter")}
    for label, frame, tasks in (("recipes", ev.tuned, ORDER), ("later choice", refined_frame(ev), later),
                                ("course", ev.course, ORDER)):
        gap = adapter_gap(frame)
        for d in reversed(ORDER):
            if d not in gap.index or d not in tasks:
                continue
            r = gap.loc[d]
            rows.append({"runs": label, "task": NAMES[d], "seeds": int(r.seeds),
                         "accuracy lost": fmt(r.accuracy_gap, r.accuracy_gap_low, r.accuracy_gap_high),
                         "training loss higher by": fmt(r.final_train_loss_gap, r.final_train_loss_gap_low,
                                                        r.final_train_loss_gap_high, 3)})
    return pd.DataFrame(rows).set_index(["runs", "task"])


def tapt_table(ev) -> pd.DataFrame:
    """The domain-pretraining effects per task (macro-F1 points, paired by seed, the book's one rule): each arm minus
    what it is compared with."""
    from hwlib.analysis.intervals import fmt

    rows = []
    for task, t in ev.tapt.items():
        e = t["effects"]
        for r in ([] if e is None or e.empty else e.to_dict("records")):
            rows.append({"task": NAMES.get(task, task), "comparison": f"{r['arm']} minus {r['minus']}",
                         "macro-F1 difference": fmt(r["mean"], r["low"], r["high"]), "seeds": int(r["pairs"])})
    return pd.DataFrame(rows).set_index(["task", "comparison"]) if rows else pd.DataFrame()
