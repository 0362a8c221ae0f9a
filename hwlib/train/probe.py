"""The linear probe: the frozen encoder's mean-pooled sentence vectors and a logistic regression, no fine-tuning.

It is the floor that fine-tuning must clear: whatever the encoder already knows about a task, read out by the
simplest classifier. The vectors are the mean of the last layer's token vectors (what all-MiniLM-L6-v2 was trained
to produce), standardised; the regression is scikit-learn's (L-BFGS), ``class_weight="balanced"`` with
``class_weighted``. With ``select_on_dev`` the regularisation strength ``C`` is chosen on the dev split's macro-F1
from ``C_GRID``, and the test split is read once; otherwise ``C = 1``.
"""
from __future__ import annotations

import time

import numpy as np

from hwlib.data import fingerprint
from hwlib.machine.peak import PeakMemory
from hwlib.models.adapters import count_parameters
from hwlib.models.encoders import load_model, load_tokenizer
from hwlib.train.record import assemble
from hwlib.train.inputs import load_splits
from hwlib.train.predictions import pack

C_GRID = (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)


def embed(model, tokenizer, texts, max_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled last-layer vectors of ``texts`` (batches of similar length, returned in the input order)."""
    import torch

    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            enc = tokenizer([texts[j] for j in idx], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt")
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            out[idx] = ((h * m).sum(1) / m.sum(1)).numpy()
    return out


def _scores(clf, x, y) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    pred = clf.predict(x)
    return {"accuracy": float(accuracy_score(y, pred)), "micro_f1": float(f1_score(y, pred, average="micro")),
            "macro_f1": float(f1_score(y, pred, average="macro")),
            "loss": float(log_loss(y, clf.predict_proba(x), labels=clf.classes_))}


def _predictions(clf, x, y, num_labels: int, **extra) -> dict:
    """Per-example predictions (``hwlib.train.predictions.pack``), one probability column per label."""
    probs = np.zeros((len(y), num_labels))
    probs[:, clf.classes_] = clf.predict_proba(x)
    return pack(probs, y, **extra)


def probe(config, data: dict | None = None) -> dict:
    """Fit and evaluate the probe for ``config`` (``method="probe"``); return the run record. ``data``: the run's
    ``hwlib.data.fingerprint``, computed here when not given."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    data = data if data is not None else fingerprint(config.dataset, split_dev=config.select_on_dev)
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model)
        dd = load_splits(config, tokenizer.sep_token)
        num_labels = dd["train"].features["label"].num_classes
        model, _ = load_model(config.model, num_labels=num_labels, seed=config.seed, tokenizer=tokenizer)
        encoder = model.base_model
        t0 = time.perf_counter()
        x = {s: embed(encoder, tokenizer, dd[s]["text"][:], config.max_length) for s in dd}
        y = {s: np.asarray(dd[s]["label"][:]) for s in dd}
        embed_s = time.perf_counter() - t0

        def fit(c):
            clf = make_pipeline(StandardScaler(), LogisticRegression(
                C=c, max_iter=5000, class_weight="balanced" if config.class_weighted else None))
            return clf.fit(x["train"], y["train"])

        t0 = time.perf_counter()
        history, chosen = [], 1.0
        if config.select_on_dev:
            fits = {c: fit(c) for c in C_GRID}
            history = [{"C": c, **_scores(clf, x["dev"], y["dev"])} for c, clf in fits.items()]
            chosen = max(history, key=lambda h: h["macro_f1"])["C"]
            clf = fits[chosen]
        else:
            clf = fit(chosen)
        fit_s = time.perf_counter() - t0
        test = _scores(clf, x["test"], y["test"])  # the one look at the test split
        predictions = {"test": _predictions(clf, x["test"], y["test"], num_labels)}
        if config.select_on_dev:
            predictions["dev"] = _predictions(clf, x["dev"], y["dev"], num_labels, C=chosen)
    train_loss = _scores(clf, x["train"], y["train"])["loss"]
    head = clf[-1].coef_.size + clf[-1].intercept_.size
    encoder_params = count_parameters(encoder)["total"]
    return assemble(
        config, metrics=test, eval_history=history, train_curve=[], predictions=predictions,
        selection={"split": "dev", "metric": "macro_f1", "chosen_C": chosen,
                   "dev_macro_f1": max(h["macro_f1"] for h in history)} if history else None,
        final_train_loss=train_loss, mean_train_loss=train_loss,
        data={"train": len(y["train"]), "test": len(y["test"]), **({"dev": len(y["dev"])} if "dev" in y else {}),
              "num_labels": num_labels, **data},
        timing={"embed_s": embed_s, "fit_s": fit_s, "train_runtime_s": embed_s + fit_s,
                "train_examples_per_s": len(y["train"]) / (embed_s + fit_s), "epoch_s": [embed_s + fit_s],
                "mean_epoch_s": embed_s + fit_s, "wall_s": time.perf_counter() - started},
        params={"total": encoder_params + head, "trainable": head, "adapter": 0,
                "trainable_fraction": head / (encoder_params + head)},
        memory=memory, precision="fp32")
