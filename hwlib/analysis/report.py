"""Tables, figures and sentences for the Task 2, Task 3 and claims chapters, computed from run records: the runs as
a table, summaries over seeds, the adapter gap, the majority floor, loss curves and metric bars.

The records come from ``hwlib.runs.collect``; nothing here trains or invents a number. Paired checks of one
setting (batching, precision) are in ``paired``, what runs cost in ``costs``, and the reading of a sweep
in ``hwlib.analysis.ablation``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib.analysis.intervals import fmt, pairable_seeds, paired_t, seeds_text
from hwlib.data.tasks import title
from hwlib.machine.provenance import device_words
from hwlib.train.config import learning_rate

METRICS = ["accuracy", "micro_f1", "macro_f1"]
# Memory records that belong to one run. "process_peak_rss" (runs stored before hwlib reset the high-water mark per
# run) is the peak of a whole grid process, earlier runs included, so it is not shown.
PER_RUN_MEMORY = ("run_peak_rss", "cuda_max_allocated")
RUN_COLUMNS = ["model", "method", "learning_rate", "dataset", "seed", *METRICS, "final_train_loss", "epoch_s",
               "examples_per_s", "trainable_params", "total_params", "trainable_pct", "peak_memory_gb", "device",
               "precision"]


def setup_notebook() -> None:
    """A chapter's set-up in one call: no progress bars or load reports from ``datasets`` and ``transformers``, no
    FutureWarnings, tables with two decimals and empty cells as dashes, figures at the column's width with text of at
    least 9 pt."""
    import warnings

    from hwlib.analysis.style import book_figures, book_tables
    from hwlib.speed.bench import quiet

    quiet()
    warnings.filterwarnings("ignore", category=FutureWarning)
    pd.set_option("display.precision", 2)
    book_figures()
    book_tables()


def runs_frame(records) -> pd.DataFrame:
    """One row per run: configuration, final test metrics, training loss, speed and memory."""
    rows = []
    for r in records:
        c = r["config"]
        rows.append({
            "model": c["model"], "method": c["method"],
            "learning_rate": learning_rate(c),
            "dataset": c["dataset"], "seed": c["seed"],
            **{m: 100 * r["metrics"][m] for m in METRICS},
            "final_train_loss": r["final_train_loss"],
            "epoch_s": r["timing"]["mean_epoch_s"],
            "examples_per_s": r["timing"]["train_examples_per_s"],
            "trainable_params": r["params"]["trainable"], "total_params": r["params"]["total"],
            "trainable_pct": 100 * r["params"]["trainable"] / r["params"]["total"],
            "peak_memory_gb": r["memory"]["peak_bytes"] / 1e9 if r["memory"]["kind"] in PER_RUN_MEMORY else np.nan,
            "device": device_words(r["provenance"]["device"]),
            "precision": r["provenance"].get("precision"),  # the arithmetic it trained in (auto resolved)
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def summary(df: pd.DataFrame, by=("model", "method", "dataset"), cols=METRICS) -> pd.DataFrame:
    """Mean and standard deviation over seeds (in points), and how many seeds there are."""
    g = df.groupby(list(by), sort=False)
    out = g[list(cols)].agg(["mean", "std"])
    out[("seeds", "n")] = g.size()
    return out.round(2)


def adapter_gap(df: pd.DataFrame, model="minilm") -> pd.DataFrame:
    """Per dataset: full fine-tuning minus adapters (points, and training loss), with the spread over seeds.

    Seeds are paired (same seed, same data order), so the gap's spread is the std of the per-seed differences, and
    its 95 % interval the book's one rule (``intervals.paired_t``: ``*_gap_low``, ``*_gap_high``). The
    epoch-time and peak-memory ratios use only the pairs whose two runs were made on the same device with the same
    number of torch threads (``same_device_pairs``): a run with two threads and one with one do not compare.
    """
    d = df[df.model == model]
    rows = []
    for dataset, g in d.groupby("dataset", sort=False):
        full = g[g.method == "full"].set_index("seed")
        ad = g[g.method == "adapter"].set_index("seed")
        seeds = pairable_seeds(full.reset_index(), ad.reset_index())  # same arithmetic, same kind of device
        if len(seeds) == 0:
            continue
        row = {"dataset": dataset, "seeds": len(seeds)}
        for col in ("accuracy", "macro_f1", "final_train_loss"):
            diff = (full.loc[seeds, col] - ad.loc[seeds, col]) if col != "final_train_loss" else (ad.loc[seeds, col] - full.loc[seeds, col])
            t = paired_t(diff)  # the book's one rule for a paired comparison
            row[f"{col}_gap"], row[f"{col}_gap_std"] = t["mean"], t["std"]
            row[f"{col}_gap_low"], row[f"{col}_gap_high"] = t["low"], t["high"]
        row["trainable_pct_adapter"] = ad["trainable_pct"].iloc[0]
        # speed and memory only from pairs made on the same device with the same torch threads (in its name)
        same = [s for s in seeds if full.loc[s, "device"] == ad.loc[s, "device"]]
        row["same_device_pairs"] = len(same)
        row["epoch_speedup"] = (full.loc[same, "epoch_s"].mean() / ad.loc[same, "epoch_s"].mean()) if same else np.nan
        # memory: only the pairs in which both runs recorded it (older runs did not), so the ratio stays paired
        mem = [s for s in same if np.isfinite(full.loc[s, "peak_memory_gb"]) and np.isfinite(ad.loc[s, "peak_memory_gb"])]
        row["memory_pairs"] = len(mem)
        row["peak_memory_ratio"] = (ad.loc[mem, "peak_memory_gb"].mean() / full.loc[mem, "peak_memory_gb"].mean()
                                    if mem else np.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("dataset") if rows else pd.DataFrame()


def loss_curves(records) -> pd.DataFrame:
    """Training loss against epoch, one row per logged step and run."""
    rows = []
    for r in records:
        c = r["config"]
        for p in r["train_curve"]:
            rows.append({"model": c["model"], "method": c["method"], "dataset": c["dataset"], "seed": c["seed"], **p})
    return pd.DataFrame(rows, columns=["model", "method", "dataset", "seed", "step", "epoch", "loss"])


def plot_loss_curves(records, hue=("model", "method"), axes=None, smooth=5, entropy: bool = True):
    """One panel per dataset; one line per ``hue`` group (mean over seeds, shaded min-max). With ``entropy``, the
    entropy of the training labels is drawn dashed: the loss of a model that predicts the label frequencies for
    every example, so a curve that flattens there has learned only those frequencies."""
    import matplotlib.pyplot as plt

    curves = loss_curves(records)
    datasets = list(dict.fromkeys(curves.dataset)) or ["no stored runs"]
    if axes is None:
        _, axes = plt.subplots(1, len(datasets), figsize=(7.4, 3.0), squeeze=False)
        axes = axes[0]
    for ax, dataset in zip(axes, datasets):
        d = curves[curves.dataset == dataset]
        for key, g in d.groupby(list(hue), sort=False):
            wide = g.pivot_table(index="epoch", columns="seed", values="loss").sort_index()
            wide = wide.rolling(smooth, min_periods=1).mean()
            label = " ".join(key) if isinstance(key, tuple) else str(key)
            line, = ax.plot(wide.index, wide.mean(axis=1), label=f"{label} ({wide.shape[1]} seeds)")
            ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color=line.get_color(), alpha=0.2)
        if entropy and not d.empty:
            from hwlib.data.stats import label_entropy

            ax.axhline(label_entropy(dataset), color="gray", ls="--", lw=1, label="label entropy")
        ax.set(title=title(dataset), xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training loss")
    if not curves.empty:  # below the panels, off the curves
        axes[0].figure.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False,
                              bbox_to_anchor=(0.5, -0.12))
    return axes


def plot_metric_bars(df: pd.DataFrame, metric="macro_f1", hue=("model", "method"), ax=None, floor: bool = True,
                     references: dict | None = None):
    """Mean ± std over seeds per dataset (groups of bars), one bar per ``hue`` group; seeds as dots. ``floor`` draws
    each dataset's majority-class floor (dashed); ``references`` maps a label to ``{dataset: value}`` lines to draw
    the same way (dotted), such as the linear probe's score."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    if df.empty:
        ax.text(0.5, 0.5, "no stored runs", ha="center", va="center", transform=ax.transAxes)
        return ax
    datasets = list(dict.fromkeys(df.dataset))
    groups = list(dict.fromkeys(map(tuple, df[list(hue)].values)))
    width = 0.8 / len(groups)
    labelled = set()
    for i, key in enumerate(groups):
        sel = (df[list(hue)].apply(tuple, axis=1) == key)
        for j, dataset in enumerate(datasets):
            vals = df[sel & (df.dataset == dataset)][metric]
            if vals.empty:
                continue
            x = j + (i - (len(groups) - 1) / 2) * width
            label = None if key in labelled else " ".join(key)
            labelled.add(key)
            ax.bar(x, vals.mean(), width, yerr=vals.std(ddof=1) if len(vals) > 1 else None, capsize=3,
                   color=f"C{i}", label=label)
            # the seeds to the right of the error bar, so that neither hides the other
            ax.plot(x + width * (0.25 + np.linspace(-0.08, 0.08, len(vals))), vals, "o", color="black", ms=3,
                    mec="white", mew=0.5, zorder=3)
    lines = dict(references or {})
    if floor:
        from hwlib.data.stats import majority_floor

        lines = {"majority floor": {d: majority_floor(d)[metric] for d in datasets}} | lines
    for k, (label, values) in enumerate(lines.items()):
        for j, dataset in enumerate(datasets):
            if dataset in values:
                ax.hlines(values[dataset], j - 0.45, j + 0.45, colors="gray" if k == 0 else "k",
                          linestyles="--" if k == 0 else ":", label=label if j == 0 else None)
                labelled.add(label)
    ax.set_xticks(range(len(datasets)), [title(d) for d in datasets])
    ax.set_ylabel(f"{metric.replace('macro_f1', 'macro-F1').replace('_', '-')} (%)")
    if labelled:  # beside the bars, off the data
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return ax


def describe_datasets(df: pd.DataFrame, metric="macro_f1") -> str:
    """Markdown sentences: datasets ranked by ``metric`` for each model, and what pretraining adds."""
    if df.empty:
        return "No stored runs to describe yet."
    means = df[df.method == "full"].groupby(["model", "dataset"])[metric].mean().unstack()
    lines = []
    for model, row in means.iterrows():
        ranked = row.dropna().sort_values()
        lines.append(f"- `{model}`: hardest to easiest by {metric.replace('_f1', '-F1')}: "
                     + ", ".join(f"{title(d)} ({v:.1f})" for d, v in ranked.items()) + ".")
    if {"minilm", "minilm-scratch"} <= set(means.index):
        diff = (means.loc["minilm"] - means.loc["minilm-scratch"]).dropna()
        if not diff.empty:
            gains = ", ".join(f"{v:+.1f} points on {title(d)}" for d, v in diff.items())
            lines.append(f"- Pretraining (`minilm` minus `minilm-scratch`) adds {gains} of {metric.replace('_f1', '-F1')}.")
            t = at_floor(df[(df.model == "minilm-scratch") & (df.method == "full")])
            for r in t[(t.at_floor == t.seeds) & t.dataset.isin(diff.index)].itertuples():
                lines.append(f"- On {title(r.dataset)} every `minilm-scratch` seed sits at the majority-class floor: it "
                             f"learned only the label frequencies, so the difference there is all that `minilm` "
                             f"learned above the floor, not a comparison of two models that learned the task.")
    return "\n".join(lines)


def describe_gap(gap: pd.DataFrame, df: pd.DataFrame) -> str:
    """Markdown: the gaps of ``adapter_gap``'s table with their intervals, the trainable share and the peak-memory
    ratio where pairs recorded it; speed is the step benchmark's (``costs.describe_step_bench``), not these runs'."""
    if gap.empty:
        return "No paired full/adapter runs are stored yet."
    lines = []
    for dataset, r in gap.iterrows():
        acc, f1 = (fmt(r[f"{c}_gap"], r.get(f"{c}_gap_low", np.nan), r.get(f"{c}_gap_high", np.nan))
                   for c in ("accuracy", "macro_f1"))
        memory = (f"; their peak memory is {r.peak_memory_ratio:.2f}x full fine-tuning's"
                  + (" (one pair, one seed: indicative)" if r.memory_pairs == 1 else
                     f" ({int(r.memory_pairs)} pairs with a memory record in both runs)")
                  if np.isfinite(r.peak_memory_ratio) else "")
        lines.append(f"- **{title(dataset)}**: full fine-tuning minus adapters is {acc} accuracy points and {f1} "
                     f"macro-F1 points (paired over {seeds_text(int(r.seeds))}, 95 % intervals); the adapters' final "
                     f"training loss minus full fine-tuning's is {r.final_train_loss_gap:+.3f}; they train "
                     f"{r.trainable_pct_adapter:.2f} % of the weights{memory}.")
    return "\n".join(lines)


def majority_baseline(task_names) -> pd.DataFrame:
    """Test accuracy and macro-F1 (points) of always predicting the most frequent training label: the floor a
    model that learned nothing reaches (``hwlib.data.stats.majority_floor``)."""
    from hwlib.data.stats import majority_floor

    return pd.DataFrame({name: majority_floor(name) for name in task_names}).T.round(2)


def at_floor(df: pd.DataFrame, tol=0.05) -> pd.DataFrame:
    """Per model, method, learning rate and dataset: how many seeds score exactly the majority-class floor in both
    accuracy and macro-F1 (within ``tol`` points), i.e. predict the most frequent class for every test example."""
    if df.empty:
        return pd.DataFrame(columns=["model", "method", "learning_rate", "dataset", "seeds", "at_floor"])
    from hwlib.analysis.floors import at_floor_runs

    g = df.assign(hit=at_floor_runs(df, tol)).groupby(["model", "method", "learning_rate", "dataset"], sort=False)
    return g.hit.agg(seeds="size", at_floor="sum").reset_index()


def floor_only(df: pd.DataFrame) -> dict[str, list[str]]:
    """Per dataset, the methods whose every seed sits at the majority-class floor (``report.at_floor``)."""
    t = at_floor(df) if not df.empty else None
    if t is None or t.empty:
        return {}
    t = t[t.at_floor == t.seeds]
    return {d: list(dict.fromkeys(g.method)) for d, g in t.groupby("dataset", sort=False)}


def describe_floor(df: pd.DataFrame) -> str:
    """Markdown: the configurations whose runs learned nothing beyond the most frequent class."""
    t = at_floor(df)
    t = t[t.at_floor > 0]
    if t.empty:
        return "No run scores the majority-class floor: every configuration learned more than the class prior."
    lines = ["Runs that predict the most frequent class for every test example (accuracy and macro-F1 both exactly "
             "at the majority-class floor):", ""]
    lines += [f"- `{r.model}` {r.method}, learning rate {r.learning_rate:g}, on {title(r.dataset)}: {r.at_floor} of "
              f"{seeds_text(r.seeds)}" for r in t.itertuples()]
    return "\n".join(lines)


def gap_table(frames: dict, model="minilm") -> pd.DataFrame:
    """One row per dataset, one column per labelled frame of full + adapter runs: the paired accuracy and macro-F1
    gaps (full minus adapters, the mean over seeds and its 95 % interval: ``intervals``), or why there is none
    (an arm at the majority floor)."""
    out = {}
    for label, df in frames.items():
        gap, floored = adapter_gap(df, model), floor_only(df[df.model == model])
        for dataset, r in gap.iterrows():
            if floored.get(dataset):
                text = f"not testable: {', '.join(floored[dataset])} at the floor"
                out.setdefault(dataset, {})[(label, "accuracy gap")] = text
                out[dataset][(label, "macro-F1 gap")] = text
                continue
            for col, name in (("accuracy", "accuracy gap"), ("macro_f1", "macro-F1 gap")):
                out.setdefault(dataset, {})[(label, name)] = (
                    fmt(r[f"{col}_gap"], r[f"{col}_gap_low"], r[f"{col}_gap_high"]) + f", {int(r.seeds)} seeds")
    return pd.DataFrame(out).T
