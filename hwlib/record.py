"""What a stored run holds besides its metrics: where and how it ran (device, precision, package versions), its
peak memory, its epoch times, and the record itself, gathered from a ``Trainer`` after training.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import resource
import sys
import time


def device_and_precision(precision: str) -> tuple[str, str]:
    """The device a run trains on, in words, and the precision ``"auto"`` resolves to there (``$HWLIB_AUTO_PRECISION``
    forces it either way: ``hwlib.precision.forced``)."""
    import torch

    from .precision import forced

    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
        if precision == "auto":
            precision = forced() or ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    else:
        device = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        if precision == "auto":  # bf16 only where it is measured to be faster here (hwlib.precision)
            from .precision import cpu_choice

            precision = cpu_choice()["precision"]
    return device, precision


def versions(packages=("torch", "transformers", "datasets")) -> dict:
    """hwlib's, Python's and each package's version, as a run's provenance records them."""
    import importlib

    from . import __version__

    return {"hwlib": __version__, **{p: importlib.import_module(p).__version__ for p in packages},
            "python": sys.version.split()[0]}


def world_size() -> int:
    """Data-parallel processes (``torchrun`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


# ------------------------------------------------------------------------------------------------ peak memory
def peak_rss_bytes() -> int:
    """The kernel's high-water mark of this process's resident memory (Linux)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


PEAK_MEMORY_ENV = "HWLIB_PEAK_MEMORY"  # run | process: which CPU peak PeakMemory measures, on any machine


def peak_memory_mode() -> str | None:
    """The CPU peak that ``$HWLIB_PEAK_MEMORY`` imposes (``"run"`` or ``"process"``), or ``None`` (unset or empty:
    the run's own peak where the machine allows it). Any other value is an error naming it."""
    value = os.environ.get(PEAK_MEMORY_ENV, "").strip()
    if value and value not in ("run", "process"):
        raise ValueError(f"{PEAK_MEMORY_ENV}={value!r}: must be 'run' or 'process' (or unset, to use the run's own "
                         "peak where the machine allows it)")
    return value or None


class PeakMemory:
    """The peak memory of what runs inside ``with PeakMemory() as m:``; ``m.bytes`` and ``m.kind`` after it.

    On a GPU: ``torch.cuda.max_memory_allocated`` (``cuda_max_allocated``). On a Linux CPU: the resident set's
    high-water mark, reset first through ``/proc/self/clear_refs`` so that an earlier run of the same grid process
    does not count (``run_peak_rss``); where that file cannot be written (not Linux, or a container that forbids
    it), the whole process's peak (``process_peak_rss``). ``$HWLIB_PEAK_MEMORY=process`` forces the second on any
    machine, ``=run`` insists on the first (an error where the reset is impossible).
    """

    def __enter__(self):
        import torch

        mode = peak_memory_mode()  # checked first, also on a GPU
        self._cuda = torch.cuda.is_available()
        if self._cuda:
            torch.cuda.reset_peak_memory_stats()
            self.kind = "cuda_max_allocated"
        elif mode == "process":
            self.kind = "process_peak_rss"
        elif self._reset_rss():
            self.kind = "run_peak_rss"
        elif mode == "run":
            raise RuntimeError(f"{PEAK_MEMORY_ENV}=run, but this machine cannot reset the resident set's high-water "
                               "mark (/proc/self/clear_refs is not writable): unset it, or set it to 'process'")
        else:
            self.kind = "process_peak_rss"
        return self

    def __exit__(self, *exc):
        import torch

        if self._cuda:
            self.bytes = torch.cuda.max_memory_allocated()
        elif self.kind == "run_peak_rss":
            self.bytes = peak_rss_bytes()
        else:
            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return False

    @staticmethod
    def _reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


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
    from .adapters import count_parameters

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
    predictions = _predictions(trainer, evals, test is not None, selection, tok)
    runtime = float(train_out.metrics["train_runtime"])
    real_tokens = int(sum(tok["train"]["length"]))
    return {
        "config": dataclasses.asdict(config),
        "metrics": {k: float(final[k]) for k in ("accuracy", "micro_f1", "macro_f1")} | {"loss": float(final["loss"])},
        **({"selection": selection} if selection else {}),
        "eval_history": evals,
        **({"predictions": predictions} if predictions else {}),
        "train_curve": curve,
        "final_train_loss": float(sum(c["loss"] for c in curve[-5:]) / max(1, len(curve[-5:]))),
        "mean_train_loss": float(train_out.training_loss),
        "data": {"train": len(tok["train"]), "test": len(tok["test"]), **({"dev": len(tok["dev"])} if "dev" in tok else {}),
                 "num_labels": tok["train"].features["label"].num_classes, "train_tokens_per_epoch": real_tokens,
                 **data},
        "timing": {
            "train_runtime_s": runtime,
            "train_examples_per_s": float(train_out.metrics["train_samples_per_second"]),
            "train_tokens_per_s": real_tokens * len(timer.times) / runtime,
            "epoch_s": timer.times,
            "mean_epoch_s": sum(timer.times) / max(1, len(timer.times)),
            "wall_s": time.perf_counter() - started,
        },
        "params": count_parameters(trainer.model),
        "memory": {"peak_bytes": int(memory.bytes), "kind": memory.kind},
        "provenance": provenance(device, precision),
    }


def _predictions(trainer, evals: list, tested_once: bool, selection: dict | None, tok) -> dict | None:
    """The per-example predictions of the evaluations the record reports (``hwlib.predictions``), in the split's own
    order: the test split's (the last evaluation), and for a run that chose its epoch on dev, the dev split's at the
    chosen epoch. ``None`` where the Trainer's ``compute_metrics`` did not keep them, or where they cannot be put
    back in the split's order (checked against the split's labels)."""
    from .predictions import from_logits

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


def provenance(device: str, precision: str) -> dict:
    """Where and how a run was made: package versions, device, precision, processes, date (UTC) and host."""
    return {**versions(), "device": device, "precision": precision, "world_size": world_size(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}
