"""Fine-tuning with ``transformers.Trainer``: full or with adapters, one ``RunConfig`` in, one stored run out.

``run(config)`` returns the stored record when the run has been done before and trains otherwise, so a grid of runs
resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field

from .data import DATASET_NAMES, _parse_names

METHODS = ("full", "adapter")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


# The RunConfig fields that each have a command-line flag of the same name (max_length: --max-length);
# report.grid_commands writes them back into commands, so a setting added here is added there too.
SETTING_FIELDS = ("adapter_size", "epochs", "batch_size", "learning_rate", "max_length", "max_train_samples",
                  "max_eval_samples", "precision")


@dataclass(frozen=True)
class RunConfig:
    """One fine-tuning run. ``None`` means "the Trainer default" (learning rate 5e-5, weight decay 0, ...).

    ``adapter_size`` and ``train_layernorm`` only matter for ``method="adapter"``; for ``"full"`` they are reset to
    their defaults, so that the same run always has the same key in the store.
    """

    model: str = "minilm"
    dataset: str = "acl_sup"
    method: str = "full"
    adapter_size: int = 64
    seed: int = 1
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float | None = None
    max_length: int = 256
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    train_layernorm: bool = False
    precision: str = "auto"
    group_by_length: bool = True

    def __post_init__(self):
        problems = []
        if not isinstance(self.model, str) or not self.model:
            problems.append(f"model={self.model!r} (a short name such as 'minilm', a hub id or a directory)")
        try:
            _parse_names(self.dataset)
        except ValueError:
            problems.append(f"dataset={self.dataset!r} (one of {DATASET_NAMES}, or several joined by ',')")
        if self.method not in METHODS:
            problems.append(f"method={self.method!r} (one of {METHODS})")
        for name, low in (("adapter_size", 1), ("seed", 0), ("epochs", 1), ("batch_size", 1), ("max_length", 8)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                problems.append(f"{name}={v!r} (an integer >= {low})")
        for name in ("max_train_samples", "max_eval_samples"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                problems.append(f"{name}={v!r} (None or an integer >= 1)")
        if self.learning_rate is not None and not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            problems.append(f"learning_rate={self.learning_rate!r} (None or a positive number)")
        if self.precision not in PRECISIONS:
            problems.append(f"precision={self.precision!r} (one of {PRECISIONS})")
        if problems:
            raise ValueError("invalid RunConfig: " + "; ".join(problems))
        if self.method == "full":  # adapter settings do not apply: one run, one key
            object.__setattr__(self, "adapter_size", 64)
            object.__setattr__(self, "train_layernorm", False)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------------------ helpers
def _device_and_dtype(precision: str):
    import torch

    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
        if precision == "auto":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    else:
        device = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        if precision == "auto":
            precision = "fp32"  # bench/throughput.py: bf16 autocast is not faster on this CPU for MiniLM
    return device, precision


def _metrics(eval_pred):
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    logits, labels = eval_pred
    preds = np.argmax(logits, axis=-1)
    return {
        "accuracy": accuracy_score(labels, preds),
        "micro_f1": f1_score(labels, preds, average="micro"),
        "macro_f1": f1_score(labels, preds, average="macro"),
    }


def versions(packages=("torch", "transformers", "datasets")) -> dict:
    """hwlib's, Python's and each package's version, as a run's provenance records them."""
    import importlib

    from . import __version__

    return {"hwlib": __version__, **{p: importlib.import_module(p).__version__ for p in packages},
            "python": sys.version.split()[0]}


def prepare(config: RunConfig):
    """Model (with adapters if asked), tokenizer and tokenized train/test splits for ``config``."""
    from .adapters import add_adapters
    from .data import get_dataset
    from .models import load_model, load_tokenizer

    tokenizer = load_tokenizer(config.model)  # its sep_token joins SemEval's aspect term and sentence
    dd = get_dataset(config.dataset, sep_token=tokenizer.sep_token)
    if config.max_train_samples is not None and config.max_train_samples < len(dd["train"]):
        dd["train"] = dd["train"].shuffle(seed=config.seed).select(range(config.max_train_samples))
    if config.max_eval_samples is not None and config.max_eval_samples < len(dd["test"]):
        dd["test"] = dd["test"].shuffle(seed=0).select(range(config.max_eval_samples))
    num_labels = dd["train"].features["label"].num_classes
    model, _ = load_model(config.model, num_labels=num_labels, seed=config.seed, tokenizer=tokenizer)
    if config.method == "adapter":
        add_adapters(model, size=config.adapter_size, train_layernorm=config.train_layernorm)
    tok = dd.map(lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length),
                 batched=True, remove_columns=["text"])
    tok = tok.map(lambda b: {"length": [len(x) for x in b["input_ids"]]}, batched=True)
    return model, tokenizer, dd, tok


def _reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's resident memory (Linux: ``/proc/self/clear_refs``), so
    that the peak read after training belongs to this run and not to an earlier run of the same grid process."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _epoch_timer():
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_epoch_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


# ------------------------------------------------------------------------------------------------ training
def _world_size(config: RunConfig) -> int:
    """Data-parallel processes (``torchrun`` sets ``WORLD_SIZE``); each takes an equal share of the batch."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if config.batch_size % world:
        raise ValueError(f"batch_size={config.batch_size} must be divisible by the {world} data-parallel processes")
    return world


def training_arguments(config: RunConfig, output_dir: str, steps_per_epoch: int = 40, progress: bool = True,
                       **overrides):
    """The ``TrainingArguments`` of a run of ``config``: Trainer defaults except what the course fixes (batch size,
    epochs, seed), per-epoch evaluation, the loss logged every 10 steps (4 times an epoch on tiny sets), no
    checkpoints, and the speed settings ``bench/`` chose (length-grouped batches; fp32 on CPU). ``overrides`` replace
    or add arguments (the benchmarks switch evaluation and logging off)."""
    import torch
    from transformers import TrainingArguments

    _, precision = _device_and_dtype(config.precision)
    world = _world_size(config)
    on_gpu = torch.cuda.is_available()
    kwargs = dict(
        output_dir=output_dir,
        per_device_train_batch_size=config.batch_size // world,  # the global batch stays batch_size
        per_device_eval_batch_size=64,
        num_train_epochs=config.epochs,
        seed=config.seed,
        eval_strategy="epoch",
        logging_strategy="steps",
        logging_steps=max(1, min(10, steps_per_epoch // 4)),  # the training-loss curve
        save_strategy="no",
        report_to="none",
        disable_tqdm=not progress,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        length_column_name="length",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not on_gpu,
        ddp_backend="gloo" if world > 1 and not on_gpu else None,
        dataloader_num_workers=0,
    )
    if config.learning_rate is not None:
        kwargs["learning_rate"] = config.learning_rate
    return TrainingArguments(**(kwargs | overrides))


def build_trainer(config: RunConfig, output_dir: str, progress: bool = True, callbacks=()):
    """A ready ``Trainer`` for ``config`` (model, data, arguments); also returns the tokenized splits."""
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    _world_size(config)  # before anything is loaded
    set_seed(config.seed)
    model, tokenizer, dd, tok = prepare(config)
    steps_per_epoch = -(-len(tok["train"]) // config.batch_size)
    trainer = Trainer(
        model=model,
        args=training_arguments(config, output_dir, steps_per_epoch, progress),
        train_dataset=tok["train"],
        eval_dataset=tok["test"],
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_metrics,
        callbacks=list(callbacks),
    )
    return trainer, tok


def finetune(config: RunConfig, progress: bool = True) -> dict:
    """Train and evaluate ``config``; return the run record (the dict that ``ResultStore`` stores)."""
    import torch

    from .adapters import count_parameters

    started = time.perf_counter()
    device, precision = _device_and_dtype(config.precision)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
        memory_kind = "cuda_max_allocated"
    else:  # without the reset (not Linux) the peak is the whole process's, earlier runs included
        memory_kind = "run_peak_rss" if _reset_peak_rss() else "process_peak_rss"
    timer = _epoch_timer()
    with tempfile.TemporaryDirectory(prefix="hwlib-trainer-") as out:
        trainer, tok = build_trainer(config, out, progress=progress, callbacks=[timer])
        train_out = trainer.train()
    model = trainer.model
    history = trainer.state.log_history
    curve = [{"step": h["step"], "epoch": h["epoch"], "loss": h["loss"]} for h in history if "loss" in h]
    evals = [
        {"epoch": h["epoch"], **{k[5:]: h[k] for k in ("eval_loss", "eval_accuracy", "eval_micro_f1", "eval_macro_f1")}}
        for h in history if "eval_accuracy" in h
    ]
    final = evals[-1]
    if on_gpu:
        peak = torch.cuda.max_memory_allocated()
    elif memory_kind == "run_peak_rss":
        peak = _peak_rss_bytes()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n_train = len(tok["train"])
    real_tokens = int(sum(tok["train"]["length"]))
    params = count_parameters(model)
    return {
        "config": dataclasses.asdict(config),
        "metrics": {k: float(final[k]) for k in ("accuracy", "micro_f1", "macro_f1")} | {"loss": float(final["loss"])},
        "eval_history": evals,
        "train_curve": curve,
        "final_train_loss": float(sum(c["loss"] for c in curve[-5:]) / max(1, len(curve[-5:]))),
        "mean_train_loss": float(train_out.training_loss),
        "data": {"train": n_train, "test": len(tok["test"]), "num_labels": tok["train"].features["label"].num_classes,
                 "train_tokens_per_epoch": real_tokens},
        "timing": {
            "train_runtime_s": float(train_out.metrics["train_runtime"]),
            "train_examples_per_s": float(train_out.metrics["train_samples_per_second"]),
            "train_tokens_per_s": real_tokens * config.epochs / float(train_out.metrics["train_runtime"]),
            "epoch_s": timer.times,
            "mean_epoch_s": sum(timer.times) / max(1, len(timer.times)),
            "wall_s": time.perf_counter() - started,
        },
        "params": params,
        "memory": {"peak_bytes": int(peak), "kind": memory_kind},
        "provenance": {
            **versions(),
            "device": device,
            "precision": precision,
            "world_size": world,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
        },
    }


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run(config: RunConfig, retrain: bool = False, store=None, progress: bool = True) -> dict:
    """The stored record for ``config`` if there is one (and ``retrain`` is false); otherwise train and store."""
    from .results import ResultStore

    store = store if store is not None else ResultStore()
    if not retrain:
        record = store.get(config)
        if record is not None:
            return record
    record = finetune(config, progress=progress)
    if _is_main_process():
        store.put(config, record)
    return record


def grid(configs, retrain: bool = False, store=None, progress: bool = True) -> list[dict]:
    """Run (or load) each configuration in order; every finished run is stored before the next starts."""
    return [run(c, retrain=retrain, store=store, progress=progress) for c in configs]
