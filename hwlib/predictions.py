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
