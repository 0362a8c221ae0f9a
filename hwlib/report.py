"""Tables and figures for the Task 2 and Task 3 chapters, computed from stored runs.

The notebooks call ``collect`` (load stored runs, train the missing ones) and then the summaries below; nothing here
trains by itself or invents a number.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .data import DATASET_NAMES
from .train import SETTING_FIELDS, RunConfig

BOOK_DATASETS = {"acl": "acl_sup", "restaurant": "restaurant_sup", "agnews": "agnews_sup"}
PROFILES = {"cpu": ["minilm", "minilm-scratch"], "paper": ["bert", "roberta", "scibert"]}
METRICS = ["accuracy", "micro_f1", "macro_f1"]
# Memory records that belong to one run. "process_peak_rss" (runs stored before hwlib reset the high-water mark per
# run) is the peak of a whole grid process, earlier runs included, so it is not shown.
PER_RUN_MEMORY = ("run_peak_rss", "cuda_max_allocated")
TRAINER_DEFAULT_LR = 5e-5  # what RunConfig.learning_rate=None means
RUN_COLUMNS = ["model", "method", "learning_rate", "dataset", "seed", *METRICS, "final_train_loss", "epoch_s", "examples_per_s",
               "trainable_params", "total_params", "trainable_pct", "peak_memory_gb", "device"]

# Figures quoted from papers, never from our runs (shown apart from measurements in the book).
PUBLISHED = pd.DataFrame([
    {"source": "beltagy2019scibert", "model": "BERT-Base", "dataset": "ACL-ARC", "metric": "macro-F1", "value": 63.91, "spread": None,
     "note": "SciBERT paper, Table 1 (fine-tuned)"},
    {"source": "beltagy2019scibert", "model": "SciBERT (scivocab, uncased)", "dataset": "ACL-ARC", "metric": "macro-F1", "value": 70.98,
     "spread": None, "note": "SciBERT paper, Table 1 (fine-tuned)"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base", "dataset": "ACL-ARC", "metric": "macro-F1", "value": 63.0, "spread": 5.8,
     "note": "Don't Stop Pretraining, Table 5, mean ± std over 5 seeds"},
    {"source": "gururangan2020dont", "model": "RoBERTa-base", "dataset": "AG News (full 115k training set)", "metric": "macro-F1",
     "value": 93.9, "spread": 0.2, "note": "not agnews_sup: trained on the full training set"},
])


def resolve_datasets(dataset) -> list[str]:
    """``"all"``, a short name (``acl``, ``restaurant``, ``agnews``), a task name, or a list of these."""
    items = list(BOOK_DATASETS) if dataset == "all" else ([dataset] if isinstance(dataset, str) else list(dataset))
    out = []
    for d in items:
        name = BOOK_DATASETS.get(d, d)
        if name not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {d!r}; choose 'all', one of {list(BOOK_DATASETS)}, or one of {DATASET_NAMES}")
        out.append(name)
    return out


def validate(*, seeds=None, epochs=None, adapter_size=None, batch_size=None, profile=None, adapter_learning_rate=None,
             batching_seeds=None):
    """Refuse bad notebook parameters before anything loads, naming the value and what is accepted."""
    for name, v in (("seeds", seeds), ("batching_seeds", batching_seeds)):
        if v is not None and (not v or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v)):
            raise ValueError(f"{name}={v!r}: give a non-empty list of integers >= 0")
    for name, v in (("epochs", epochs), ("adapter_size", adapter_size), ("batch_size", batch_size)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ValueError(f"{name}={v!r}: must be an integer >= 1")
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile={profile!r}: choose one of {list(PROFILES)}")
    lr = adapter_learning_rate
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1):
        raise ValueError(f"adapter_learning_rate={lr!r}: must be a number between 0 and 1, such as 1e-3")


def train_missing_default() -> bool:
    """Missing runs are trained unless ``HWLIB_NO_TRAIN=1`` (set by the test suite so that checking the stored
    notebooks never trains)."""
    return os.environ.get("HWLIB_NO_TRAIN", "0") != "1"


def collect(configs, retrain=False, train_missing=None, store=None, progress=True):
    """Stored records for ``configs``, training those not stored (or all, with ``retrain``).

    Returns ``(records, missing)``: ``missing`` lists the configurations neither stored nor trained.
    """
    from .results import ResultStore
    from .train import run

    store = store if store is not None else ResultStore()
    train_missing = train_missing_default() if train_missing is None else train_missing
    records, missing = [], []
    for c in configs:
        if not retrain and (rec := store.get(c)) is not None:
            records.append(rec)
        elif retrain or train_missing:
            records.append(run(c, retrain=retrain, store=store, progress=progress))
        else:
            missing.append(c)
    return records, missing


def runs_frame(records) -> pd.DataFrame:
    """One row per run: configuration, final test metrics, training loss, speed and memory."""
    rows = []
    for r in records:
        c = r["config"]
        rows.append({
            "model": c["model"], "method": c["method"],
            "learning_rate": c["learning_rate"] if c["learning_rate"] is not None else TRAINER_DEFAULT_LR,
            "dataset": c["dataset"], "seed": c["seed"],
            **{m: 100 * r["metrics"][m] for m in METRICS},
            "final_train_loss": r["final_train_loss"],
            "epoch_s": r["timing"]["mean_epoch_s"],
            "examples_per_s": r["timing"]["train_examples_per_s"],
            "trainable_params": r["params"]["trainable"], "total_params": r["params"]["total"],
            "trainable_pct": 100 * r["params"]["trainable"] / r["params"]["total"],
            "peak_memory_gb": r["memory"]["peak_bytes"] / 1e9 if r["memory"]["kind"] in PER_RUN_MEMORY else np.nan,
            "device": r["provenance"]["device"],
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def summary(df: pd.DataFrame, by=("model", "method", "dataset"), cols=METRICS) -> pd.DataFrame:
    """Mean and standard deviation over seeds (in points), and how many seeds there are."""
    g = df.groupby(list(by), sort=False)
    out = g[list(cols)].agg(["mean", "std"])
    out[("seeds", "n")] = g.size()
    return out.round(2)


def mean_std(df: pd.DataFrame, by=("model", "method", "dataset"), col="accuracy") -> pd.Series:
    """``"mean ± std (n)"`` strings, for compact tables."""
    g = df.groupby(list(by), sort=False)[col]
    return g.apply(lambda s: f"{s.mean():.1f} ± {s.std(ddof=1):.1f} (n={len(s)})" if len(s) > 1 else f"{s.mean():.1f} (n=1)")


def adapter_gap(df: pd.DataFrame, model="minilm") -> pd.DataFrame:
    """Per dataset: full fine-tuning minus adapters (points, and training loss), with the spread over seeds.

    Seeds are paired (same seed, same data order), so the gap's spread is the std of the per-seed differences.
    """
    d = df[df.model == model]
    rows = []
    for dataset, g in d.groupby("dataset", sort=False):
        full = g[g.method == "full"].set_index("seed")
        ad = g[g.method == "adapter"].set_index("seed")
        seeds = full.index.intersection(ad.index)
        if len(seeds) == 0:
            continue
        row = {"dataset": dataset, "seeds": len(seeds)}
        for col in ("accuracy", "macro_f1", "final_train_loss"):
            diff = (full.loc[seeds, col] - ad.loc[seeds, col]) if col != "final_train_loss" else (ad.loc[seeds, col] - full.loc[seeds, col])
            row[f"{col}_gap"] = diff.mean()
            row[f"{col}_gap_std"] = diff.std(ddof=1) if len(seeds) > 1 else np.nan
        row["trainable_pct_adapter"] = ad["trainable_pct"].iloc[0]
        row["epoch_speedup"] = full.loc[seeds, "epoch_s"].mean() / ad.loc[seeds, "epoch_s"].mean()
        row["peak_memory_ratio"] = ad.loc[seeds, "peak_memory_gb"].mean() / full.loc[seeds, "peak_memory_gb"].mean()
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


def plot_loss_curves(records, hue=("model", "method"), axes=None, smooth=5):
    """One panel per dataset; one line per ``hue`` group (mean over seeds, shaded min-max)."""
    import matplotlib.pyplot as plt

    curves = loss_curves(records)
    datasets = list(dict.fromkeys(curves.dataset)) or ["no stored runs"]
    if axes is None:
        _, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.2), squeeze=False, dpi=90)
        axes = axes[0]
    for ax, dataset in zip(axes, datasets):
        d = curves[curves.dataset == dataset]
        for key, g in d.groupby(list(hue), sort=False):
            wide = g.pivot_table(index="epoch", columns="seed", values="loss").sort_index()
            wide = wide.rolling(smooth, min_periods=1).mean()
            label = " ".join(key) if isinstance(key, tuple) else str(key)
            line, = ax.plot(wide.index, wide.mean(axis=1), label=f"{label} ({wide.shape[1]} seeds)")
            ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color=line.get_color(), alpha=0.2)
        ax.set(title=dataset, xlabel="epoch", ylabel="training loss")
        ax.grid(alpha=0.3)
    if not curves.empty:
        axes[0].legend(fontsize=8)
    return axes


def plot_metric_bars(df: pd.DataFrame, metric="macro_f1", hue=("model", "method"), ax=None):
    """Mean ± std over seeds per dataset (groups of bars), one bar per ``hue`` group; seeds as dots."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
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
            ax.plot([x] * len(vals), vals, "k.", ms=3)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel(f"{metric} (%)")
    if labelled:
        ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return ax


def book_configs(models, methods, datasets, seeds, **overrides) -> list[RunConfig]:
    """The grid a chapter shows, in the order ``python -m hwlib grid`` trains it (seed-major)."""
    return [RunConfig(model=m, method=meth, dataset=d, seed=s, **overrides)
            for s in seeds for d in datasets for m in models for meth in methods]


def grid_commands(configs) -> list[str]:
    """``python -m hwlib grid`` commands that together train exactly ``configs`` (stored runs are skipped).

    One command per model, method and shared settings, and per set of datasets that its seeds share, so that no
    command's grid reaches beyond the configurations asked for.
    """
    groups: dict = {}
    for c in configs:
        by_seed = groups.setdefault(c.replace(dataset="acl_sup", seed=0), {})
        by_seed.setdefault(c.seed, []).append(c.dataset)
    default, cmds = RunConfig(), []
    for key, by_seed in groups.items():
        seeds_of: dict = {}
        for seed, datasets in by_seed.items():
            seeds_of.setdefault(tuple(dict.fromkeys(datasets)), []).append(seed)
        for datasets, seeds in seeds_of.items():
            cmd = (f"python -m hwlib grid --models {key.model} --methods {key.method} --datasets {' '.join(datasets)}"
                   f" --seeds {' '.join(map(str, seeds))}")
            for field in SETTING_FIELDS:
                if getattr(key, field) != getattr(default, field):
                    cmd += f" --{field.replace('_', '-')} {getattr(key, field)}"
            cmds.append(cmd + ("" if key.group_by_length else " --random-batches"))
    return cmds


def missing_note(missing) -> str:
    """Markdown: which requested runs are neither stored nor trained, and the command that trains them."""
    if not missing:
        return "All requested runs are stored."
    lines = [f"**{len(missing)} requested run(s) are not stored yet** and were left out of the tables below "
             "(training them takes minutes to hours on a CPU):", ""]
    lines += [f"- `{c.model}` {c.method} on `{c.dataset}`, seed {c.seed}"
              + (f", learning rate {c.learning_rate:g}" if c.learning_rate is not None else "") for c in missing[:12]]
    if len(missing) > 12:
        lines.append(f"- ... and {len(missing) - 12} more")
    lines += ["", "Train them with the command(s) below (a grid skips stored runs), or run this notebook with papermill, "
              "which trains what is missing:", "", "```bash", *grid_commands(missing), "```"]
    return "\n".join(lines)


def describe_datasets(df: pd.DataFrame, metric="macro_f1") -> str:
    """Markdown sentences: datasets ranked by ``metric`` for each model, and what pretraining adds."""
    if df.empty:
        return "No stored runs to describe yet."
    means = df[df.method == "full"].groupby(["model", "dataset"])[metric].mean().unstack()
    lines = []
    for model, row in means.iterrows():
        ranked = row.dropna().sort_values()
        lines.append(f"- `{model}`: hardest to easiest by {metric}: "
                     + ", ".join(f"{d} ({v:.1f})" for d, v in ranked.items()) + ".")
    if {"minilm", "minilm-scratch"} <= set(means.index):
        diff = (means.loc["minilm"] - means.loc["minilm-scratch"]).dropna()
        if not diff.empty:
            lines.append(f"- Pretraining (minilm minus minilm-scratch) adds "
                         + ", ".join(f"{v:+.1f} points on {d}" for d, v in diff.items()) + f" of {metric}.")
    return "\n".join(lines)


def describe_gap(gap: pd.DataFrame, df: pd.DataFrame) -> str:
    """Markdown sentences about the full-vs-adapter gap, from ``adapter_gap``'s table."""
    if gap.empty:
        return "No paired full/adapter runs are stored yet."
    lines = []
    for dataset, r in gap.iterrows():
        spread = f" ± {r.accuracy_gap_std:.1f}" if r.seeds > 1 else ""
        lines.append(f"- `{dataset}`: full fine-tuning minus adapters is {r.accuracy_gap:+.1f}{spread} accuracy points "
                     f"and {r.macro_f1_gap:+.1f} macro-F1 points ({int(r.seeds)} paired seed(s)); the adapters' final "
                     f"training loss is "
                     f"{r.final_train_loss_gap:+.3f} against full fine-tuning's; they train "
                     f"{r.trainable_pct_adapter:.2f} % of the weights and an epoch takes {1 / r.epoch_speedup:.2f}x "
                     f"the time of full fine-tuning"
                     + (f"; the peak memory is {r.peak_memory_ratio:.2f}x." if np.isfinite(r.peak_memory_ratio) else
                        " (no per-run memory record)."))
    return "\n".join(lines)


def majority_baseline(task_names) -> pd.DataFrame:
    """Test accuracy and macro-F1 (points) of always predicting the most frequent training label: the floor a
    model that learned nothing reaches."""
    from sklearn.metrics import f1_score

    from .data import get_dataset

    rows = {}
    for name in task_names:
        dd = get_dataset(name, sep_token="[SEP]")
        train, test = np.asarray(dd["train"]["label"][:]), np.asarray(dd["test"]["label"][:])
        pred = np.full_like(test, np.bincount(train).argmax())
        rows[name] = {"accuracy": 100 * float(np.mean(pred == test)),
                      "macro_f1": 100 * f1_score(test, pred, average="macro", labels=np.unique(np.r_[test, pred]))}
    return pd.DataFrame(rows).T.round(2)


def at_floor(df: pd.DataFrame, tol=0.05) -> pd.DataFrame:
    """Per model, method, learning rate and dataset: how many seeds score exactly the majority-class floor in both
    accuracy and macro-F1 (within ``tol`` points), i.e. predict the most frequent class for every test example."""
    if df.empty:
        return pd.DataFrame(columns=["model", "method", "learning_rate", "dataset", "seeds", "at_floor"])
    floor = majority_baseline(list(dict.fromkeys(df.dataset)))
    acc, f1 = df.dataset.map(floor.accuracy), df.dataset.map(floor.macro_f1)
    hit = ((df.accuracy - acc).abs() < tol) & ((df.macro_f1 - f1).abs() < tol)
    g = df.assign(hit=hit).groupby(["model", "method", "learning_rate", "dataset"], sort=False)
    return g.hit.agg(seeds="size", at_floor="sum").reset_index()


def describe_floor(df: pd.DataFrame) -> str:
    """Markdown: the configurations whose runs learned nothing beyond the most frequent class."""
    t = at_floor(df)
    t = t[t.at_floor > 0]
    if t.empty:
        return "No run scores the majority-class floor: every configuration learned more than the class prior."
    lines = ["Runs that predict the most frequent class for every test example (accuracy and macro-F1 both exactly "
             "at the majority-class floor):", ""]
    lines += [f"- `{r.model}` {r.method}, learning rate {r.learning_rate:g}, on `{r.dataset}`: {r.at_floor} of "
              f"{r.seeds} seed(s)" for r in t.itertuples()]
    return "\n".join(lines)


def batching_check(grouped: pd.DataFrame, random: pd.DataFrame, cols=("accuracy", "macro_f1")) -> pd.DataFrame:
    """Length-grouped minus random batches, per seed present in both (points), with the mean and std."""
    seeds = sorted(set(grouped.seed) & set(random.seed))
    if not seeds:
        return pd.DataFrame({"note": ["no seed has both a length-grouped and a random-batch run stored"]})
    g, r = grouped.set_index("seed").loc[seeds], random.set_index("seed").loc[seeds]
    out = pd.DataFrame({**{f"{c} grouped": g[c] for c in cols}, **{f"{c} random": r[c] for c in cols},
                        **{f"{c} difference": g[c] - r[c] for c in cols}})
    out.loc["mean"] = out.mean()
    out.loc["std"] = out.loc[seeds].std(ddof=1) if len(seeds) > 1 else np.nan
    return out.round(2)


BATCHING_DATASETS = ("acl_sup", "restaurant_sup")  # where random-batch runs are stored beside the grouped ones


def batching_checks(datasets, seeds, model="minilm", **overrides) -> pd.DataFrame:
    """``batching_check`` per dataset: the stored length-grouped and random-batch full fine-tuning runs of ``model``
    (nothing is trained), paired by seed."""
    out = {}
    for d in datasets:
        frames = {g: runs_frame(collect(book_configs([model], ["full"], [d], seeds, group_by_length=g, **overrides),
                                        train_missing=False)[0]) for g in (True, False)}
        out[d] = batching_check(frames[True], frames[False])
    if not out:
        return pd.DataFrame({"note": [f"no dataset of {list(BATCHING_DATASETS)} is among those shown"]})
    return pd.concat(out, names=["dataset"])
