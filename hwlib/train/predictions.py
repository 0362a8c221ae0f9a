"""Per-example predictions, kept in a run record so that errors can be studied without training again.

A record's optional ``predictions`` field holds, for the test split (and, for a run that chose its epoch on dev, the
dev split at the chosen epoch), the gold label and the predicted label of every evaluated example, in the split's
order, and the predicted class probabilities rounded to ``DIGITS`` decimals. The rows are those that
``hwlib.train.load_splits`` gives for the record's configuration (``max_eval_samples`` draws a fixed sample) on the
files whose md5 the record keeps (``data.files``): the fingerprint and the configuration tie the predictions to the
rows, and the stored gold labels let a reader check that the rows read back are the same.

Runs stored before predictions were kept have no such field; analyses that need it use the runs that have it
(``with_predictions``) and say which.
"""
from __future__ import annotations

import numpy as np

DIGITS = 4  # decimals kept of each probability: enough to rank confident errors, small in JSON


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def pack(probs, labels, **extra) -> dict:
    """One split's predictions: ``label`` (gold), ``pred`` (argmax of the unrounded probabilities), ``prob``
    (rounded), and ``extra`` (the dev split's ``epoch``, say)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"probabilities of shape {probs.shape} do not match {len(labels)} labels")
    return {"label": labels.tolist(), "pred": probs.argmax(axis=1).astype(int).tolist(),
            "prob": np.round(probs, DIGITS).tolist(), **extra}


def from_logits(logits, labels, **extra) -> dict:
    return pack(softmax(logits), labels, **extra)


def with_predictions(records, split: str = "test") -> list[dict]:
    """The records that keep ``split``'s predictions."""
    return [r for r in records if split in r.get("predictions", {})]


def arrays(record: dict, split: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(gold, predicted, probabilities)`` of ``split`` in ``record``; a clear error where it keeps none."""
    try:
        p = record["predictions"][split]
    except KeyError:
        key = record.get("key", "?")
        raise KeyError(f"run {key} keeps no {split} predictions (it was stored before runs kept them, or it never "
                       f"evaluated {split}); retrain it to have them") from None
    return np.asarray(p["label"]), np.asarray(p["pred"]), np.asarray(p["prob"])


def accuracy(gold, pred) -> float:
    """Accuracy in points."""
    return 100.0 * float(np.mean(np.asarray(gold) == np.asarray(pred)))


def macro_f1(gold, pred) -> float:
    """Macro-F1 in points, over the labels present in ``gold`` or ``pred`` (as scikit-learn's default, which made
    every stored metric), fast enough to be recomputed for thousands of resamples."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    labels = np.union1d(gold, pred)
    hit = gold[:, None] == labels
    said = pred[:, None] == labels
    tp = (hit & said).sum(axis=0)
    return 100.0 * float(np.mean(2 * tp / (hit.sum(axis=0) + said.sum(axis=0))))


METRICS = {"accuracy": accuracy, "macro_f1": macro_f1}


def paired_predictions(a_records, b_records, split: str = "test") -> list[tuple]:
    """``(gold, pred_a, pred_b)`` per seed that both arms ran and that kept ``split``'s predictions over the same
    rows (the same gold labels): the input of ``hwlib.analysis.intervals.paired_bootstrap``."""
    by_seed = {r["config"]["seed"]: r for r in with_predictions(b_records, split)}
    out = []
    for a in with_predictions(a_records, split):
        b = by_seed.get(a["config"]["seed"])
        if b is None:
            continue
        ga, pa, _ = arrays(a, split)
        gb, pb, _ = arrays(b, split)
        if len(ga) == len(gb) and (ga == gb).all():
            out.append((ga, pa, pb))
    return out
