"""The run record: one definition (``assemble``, whose fields ``FIELDS`` the store requires), filled from a
``Trainer`` after fine-tuning (``build``) or by the linear probe; with the per-example predictions put back in each
split's order, and the epoch timer the record's timing comes from.
"""
from __future__ import annotations

import dataclasses
import time

from hwlib.machine.peak import PeakMemory
from hwlib.machine.provenance import device_and_precision, provenance
from hwlib.models.adapters import count_parameters
from hwlib.train.predictions import from_logits

FIELDS = ("config", "metrics", "eval_history", "train_curve", "data", "timing", "params", "memory", "provenance")
METRIC_NAMES = ("accuracy", "micro_f1", "macro_f1", "loss")


def assemble(config, *, metrics: dict, eval_history: list, train_curve: list, data: dict, timing: dict,
             params: dict, memory: PeakMemory, precision: str, final_train_loss: float, mean_train_loss: float,
             selection: dict | None = None, predictions: dict | None = None) -> dict:
    """Every run record, fine-tuned or probed, is made here: the fields ``FIELDS`` (which the store checks), the
    optional ``selection`` (the epoch or ``C`` chosen on dev) and ``predictions``, the training losses, and the
    provenance of this process (device, ``precision`` as resolved, versions, date)."""
    missing = [k for k in METRIC_NAMES if k not in metrics]
    if missing:
        raise ValueError(f"a run record needs the test metrics {list(METRIC_NAMES)}; missing {missing}")
    device, _ = device_and_precision("fp32")
    return {
        "config": dataclasses.asdict(config),
        "metrics": {k: float(metrics[k]) for k in METRIC_NAMES},
        **({"selection": selection} if selection else {}),
        "eval_history": eval_history,
        **({"predictions": predictions} if predictions else {}),
        "train_curve": train_curve,
        "final_train_loss": float(final_train_loss),
        "mean_train_loss": float(mean_train_loss),
        "data": data,
        "timing": timing,
        "params": params,
        "memory": {"peak_bytes": int(memory.bytes), "kind": memory.kind},
        "provenance": provenance(device, precision),
    }


def epoch_timer():
    """A ``TrainerCallback`` that keeps each epoch's wall-clock seconds in ``.times``."""
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_epoch_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


# ------------------------------------------------------------------------------------------------ the record
def build(config, trainer, train_out, tok, *, timer, memory: PeakMemory, started: float, data: dict,
          test: dict | None = None) -> dict:
    """The run record that ``ResultStore`` stores: configuration, test metrics, the per-epoch evaluations and the
    training-loss curve, data sizes and fingerprint, timing, parameter counts, memory and provenance.

    Without ``test`` the per-epoch evaluations were on the test split and the metrics are the last epoch's (the
    course's procedure). With ``test`` (the one test evaluation of a run that chose its epoch on dev) the per-epoch
    evaluations are the dev curve, and ``selection`` says which epoch was kept."""
    device, precision = device_and_precision(config.precision)
    history = trainer.state.log_history
    curve = [{"step": h["step"], "epoch": h["epoch"], "loss": h["loss"]} for h in history if "loss" in h]
    evals = [
        {"epoch": h["epoch"], **{k[5:]: h[k] for k in ("eval_loss", "eval_accuracy", "eval_micro_f1", "eval_macro_f1")}}
        for h in history if "eval_accuracy" in h
    ]
    if test is None:
        final, selection = evals[-1], None
    else:
        final = {k[5:]: v for k, v in test.items() if k.startswith("test_")}
        best = max(evals, key=lambda e: e["macro_f1"])  # the first of equals, as the Trainer keeps it
        selection = {"split": "dev", "metric": "macro_f1", "chosen_epoch": best["epoch"],
                     "dev_macro_f1": best["macro_f1"], "dev_accuracy": best["accuracy"], "epochs_run": len(evals)}
    runtime = float(train_out.metrics["train_runtime"])
    real_tokens = int(sum(tok["train"]["length"]))
    last = curve[-5:]
    return assemble(
        config, metrics=final, selection=selection, eval_history=evals, train_curve=curve,
        predictions=_predictions(trainer, evals, test is not None, selection, tok),
        final_train_loss=sum(c["loss"] for c in last) / max(1, len(last)),
        mean_train_loss=train_out.training_loss,
        data={"train": len(tok["train"]), "test": len(tok["test"]), **({"dev": len(tok["dev"])} if "dev" in tok else {}),
              "num_labels": tok["train"].features["label"].num_classes, "train_tokens_per_epoch": real_tokens,
              **data},
        timing={
            "train_runtime_s": runtime,
            "train_examples_per_s": float(train_out.metrics["train_samples_per_second"]),
            "train_tokens_per_s": real_tokens * len(timer.times) / runtime,
            "epoch_s": timer.times,
            "mean_epoch_s": sum(timer.times) / max(1, len(timer.times)),
            "wall_s": time.perf_counter() - started,
        },
        params=count_parameters(trainer.model), memory=memory, precision=precision)


def _predictions(trainer, evals: list, tested_once: bool, selection: dict | None, tok) -> dict | None:
    """The per-example predictions of the evaluations the record reports (``predictions``), in the split's own
    order: the test split's (the last evaluation), and for a run that chose its epoch on dev, the dev split's at the
    chosen epoch. ``None`` where the Trainer's ``compute_metrics`` did not keep them, or where they cannot be put
    back in the split's order (checked against the split's labels)."""
    seen = getattr(trainer.compute_metrics, "seen", None)
    if not seen or len(seen) != len(evals) + tested_once:
        return None
    wanted = {"test": (seen[-1], "test", {})}
    if selection is not None:
        chosen = next(i for i, e in enumerate(evals) if e["epoch"] == selection["chosen_epoch"])
        wanted["dev"] = (seen[chosen], "dev", {"epoch": selection["chosen_epoch"]})
    out = {}
    for name, ((logits, labels), split, extra) in wanted.items():
        logits, labels = _in_split_order(trainer, tok[split], logits, labels)
        if logits is None:
            return None
        out[name] = from_logits(logits, labels, **extra)
    return out


def eval_order(split, seed: int, group_by_length: bool, batch_size: int = 64):
    """The order in which the Trainer evaluates ``split`` (a tokenized split with a ``length`` column): with length
    grouping, the seeded length-grouped permutation its eval sampler draws afresh for every evaluation
    (``transformers.trainer_pt_utils.get_length_grouped_indices``, seeded with the run's seed); else the split's
    own order."""
    import numpy as np

    if not group_by_length:
        return np.arange(len(split))
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    return np.asarray(get_length_grouped_indices(list(split["length"]), batch_size,
                                                 generator=torch.Generator().manual_seed(seed)))


def in_split_order(split, order, logits, labels):
    """Rows evaluated in ``order`` put back in the split's order, checked by their labels: ``(logits, labels)``, or
    ``(None, None)`` where the labels do not come back as the split's."""
    import numpy as np

    logits, labels = np.asarray(logits), np.asarray(labels)
    gold = np.asarray(split["label"][:])
    if len(order) != len(labels) or sorted(order) != list(range(len(gold))):
        return None, None
    back_logits, back_labels = np.empty_like(logits), np.empty_like(labels)
    back_logits[order], back_labels[order] = logits, labels
    return (back_logits, back_labels) if (back_labels == gold).all() else (None, None)


def _in_split_order(trainer, split, logits, labels):
    args = trainer.args
    order = eval_order(split, args.data_seed if args.data_seed is not None else args.seed,
                       args.train_sampling_strategy == "group_by_length", args.eval_batch_size)
    return in_split_order(split, order, logits, labels)
