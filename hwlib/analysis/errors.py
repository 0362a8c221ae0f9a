"""What the classes do: confusion matrices, per-class F1 and the most confidently wrong test examples, read from the
per-example predictions that runs keep (``hwlib.train.predictions``). Nothing here trains.

Every function takes run records; those without predictions are left out, and each result says on which seeds it
rests (``seeds_with_predictions``), since runs stored before predictions were kept cannot contribute.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib.train.predictions import arrays, with_predictions


def seeds_with_predictions(records, split: str = "test") -> list[int]:
    return sorted(r["config"]["seed"] for r in with_predictions(records, split))


def label_names(dataset: str) -> list[str]:
    """The class names of ``dataset``, in label-index order."""
    from hwlib.data import get_dataset

    return list(get_dataset(dataset, sep_token="[SEP]")["train"].features["label"].names)


def confusion(records, names, split: str = "test") -> pd.DataFrame:
    """Counts of (gold, predicted) summed over the records that keep ``split``'s predictions: rows gold, columns
    predicted."""
    k = len(names)
    m = np.zeros((k, k), dtype=int)
    for r in with_predictions(records, split):
        gold, pred, _ = arrays(r, split)
        np.add.at(m, (gold, pred), 1)
    return pd.DataFrame(m, index=pd.Index(names, name="gold"), columns=pd.Index(names, name="predicted"))


def per_class_f1(records, names, split: str = "test") -> pd.DataFrame:
    """Per class: F1 in points, the mean and standard deviation over the seeds that keep predictions, and the
    class's number of test examples."""
    from sklearn.metrics import f1_score

    rows = []
    for r in with_predictions(records, split):
        gold, pred, _ = arrays(r, split)
        rows.append(100 * f1_score(gold, pred, labels=range(len(names)), average=None, zero_division=0))
    if not rows:
        return pd.DataFrame(columns=["F1", "sd", "examples"], index=pd.Index(names, name="class"))
    f1 = np.array(rows)
    gold, _, _ = arrays(with_predictions(records, split)[0], split)
    return pd.DataFrame({"F1": f1.mean(axis=0), "sd": f1.std(axis=0, ddof=1) if len(f1) > 1 else np.nan,
                         "examples": np.bincount(gold, minlength=len(names))},
                        index=pd.Index(names, name="class"))


def per_class_table(arms: dict, names, split: str = "test") -> pd.DataFrame:
    """Mean per-class F1 (points) of each arm (label -> records), one column per arm, with the class sizes."""
    tables = {label: per_class_f1(recs, names, split) for label, recs in arms.items()}
    sizes = next((t["examples"] for t in tables.values() if t["examples"].notna().all()),
                 pd.Series(np.nan, index=names))
    return pd.DataFrame({"examples": sizes, **{label: t["F1"] for label, t in tables.items()}}).round(1)


def test_rows(record) -> pd.DataFrame:
    """The test split's rows that ``record`` was evaluated on (text and gold label), checked against its stored gold
    labels: a record whose rows cannot be read back the same is an error."""
    from hwlib.train.config import RunConfig
    from hwlib.models.encoders import load_tokenizer
    from hwlib.train.inputs import load_splits

    config = RunConfig(**record["config"])
    dd = load_splits(config, load_tokenizer(config.model).sep_token)
    gold, _, _ = arrays(record)
    labels = np.asarray(dd["test"]["label"][:])
    if len(labels) != len(gold) or not (labels == gold).all():
        raise ValueError(f"run {record.get('key', '?')}: the test rows read back now do not carry the labels it "
                         "stored (the data or the sampling changed since it ran)")
    return pd.DataFrame({"text": dd["test"]["text"][:], "gold": labels})


def confident_errors(records, names, k: int = 5, width: int = 160) -> pd.DataFrame:
    """The ``k`` test examples that the records get wrong with the highest mean predicted probability for a wrong
    class: text (cut at ``width`` characters), gold class, the class predicted most often, its mean probability, and
    on how many seeds the example was wrong."""
    recs = with_predictions(records)
    if not recs:
        return pd.DataFrame(columns=["text", "gold", "predicted", "probability", "wrong on"])
    rows = test_rows(recs[0])
    gold = rows.gold.to_numpy()
    probs = np.mean([arrays(r)[2] for r in recs], axis=0)
    wrong = np.sum([arrays(r)[1] != gold for r in recs], axis=0)
    masked = probs.copy()
    masked[np.arange(len(gold)), gold] = -1  # the best wrong class
    pred = masked.argmax(axis=1)
    conf = masked.max(axis=1)
    order = [i for i in np.argsort(-conf) if wrong[i] > 0][:k]
    text = [t if len(t) <= width else t[:width - 1] + "…" for t in rows.text.iloc[order]]
    return pd.DataFrame({"text": text, "gold": [names[g] for g in gold[order]],
                         "predicted": [names[p] for p in pred[order]], "probability": conf[order].round(2),
                         "wrong on": [f"{int(wrong[i])} of {len(recs)}" for i in order]})


def plot_confusion(table: pd.DataFrame, ax=None, title: str | None = None):
    """The confusion matrix as row shares (each gold class sums to 1), with the counts written in the cells."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    counts = table.to_numpy()
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(table.columns)), table.columns, rotation=35, ha="right", fontsize=9)
    ax.set_yticks(range(len(table.index)), table.index, fontsize=9)
    ax.set(xlabel="predicted", ylabel="gold")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def two_views(arms: dict, base: str, metrics=("accuracy", "macro_f1"), draws: int = 2000) -> pd.DataFrame:
    """``base`` minus each other arm (label -> records), over the seeds where both kept test predictions, in the
    book's one rule (Student t over paired seeds: the seed-to-seed noise on a fixed test set) and, beside it, the
    paired bootstrap over seeds and test examples (``hwlib.analysis.intervals.paired_bootstrap``: the test set's own
    sampling counted too)."""
    from hwlib.analysis.intervals import fmt, paired_bootstrap, paired_t
    from hwlib.train.predictions import METRICS, paired_predictions

    rows = []
    for label, recs in arms.items():
        if label == base:
            continue
        pairs = paired_predictions(arms[base], recs)
        for m in metrics:
            f = METRICS[m]
            t = paired_t([f(g, a) - f(g, b) for g, a, b in pairs])
            boot = paired_bootstrap(pairs, f, draws=draws) if len(pairs) > 1 else {"low": np.nan, "high": np.nan}
            rows.append({"comparison": f"{base} minus {label}", "metric": m, "seeds": len(pairs),
                         "seeds (t)": fmt(t["mean"], t["low"], t["high"]),
                         "seeds and test examples (bootstrap)": fmt(t["mean"], boot["low"], boot["high"])})
    return pd.DataFrame(rows)


def seen_in_train(dataset: str) -> np.ndarray:
    """Per test row of ``dataset``: does its exact text also occur in the training split (the rows a model may have
    memorised; 52 of ACL-ARC's 139)? In the split's order, the order the stored predictions keep."""
    from hwlib.data import get_dataset

    dd = get_dataset(dataset, sep_token="[SEP]")
    train = set(dd["train"]["text"])
    return np.array([t in train for t in dd["test"]["text"]])


def scored_apart(records, mask) -> pd.DataFrame:
    """Accuracy and macro-F1 (points) of each record with test predictions, on the rows where ``mask`` is true and on
    the rest: one row per seed, columns ``(part, metric)``; ``mask`` is per test row, in the split's order. Macro-F1
    averages over the labels present in the part's gold or predicted labels."""
    from sklearn.metrics import f1_score

    rows = {}
    for r in with_predictions(records, "test"):
        gold, pred, _ = arrays(r, "test")
        if len(gold) != len(mask):
            raise ValueError(f"seed {r['config']['seed']}: {len(gold)} test predictions against a mask of "
                             f"{len(mask)} rows: the run scored a sample of the test split")
        row = {}
        for part, m in (("seen in train", mask), ("unseen", ~mask)):
            row[(part, "accuracy")] = 100 * float(np.mean(gold[m] == pred[m]))
            present = np.unique(np.r_[gold[m], pred[m]])  # the labels of the part (as ``majority_floor`` counts)
            row[(part, "macro_f1")] = 100 * float(f1_score(gold[m], pred[m], labels=present, average="macro",
                                                           zero_division=0))
        rows[r["config"]["seed"]] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("seed").sort_index()
