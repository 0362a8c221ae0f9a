"""Fine-tuning with ``transformers.Trainer``: full or with adapters, one ``RunConfig`` in, one stored run out.

``run(config)`` is the one load-or-train path: it returns the stored record when the run has been done before (on the
same data) and trains and stores it otherwise, so a grid of runs resumes where it stopped.
"""
from __future__ import annotations

import os
import tempfile
import time

from . import record
from .config import METHODS, PRECISIONS, RunConfig  # noqa: F401  (RunConfig's home is hwlib.config)


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


# ------------------------------------------------------------------------------------------------ training
def _world_size(config: RunConfig) -> int:
    """Data-parallel processes (``torchrun`` sets ``WORLD_SIZE``); each takes an equal share of the batch."""
    world = record.world_size()
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

    _, precision = record.device_and_precision(config.precision)
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
    from .data import fingerprint

    started = time.perf_counter()
    data = fingerprint(config.dataset)  # the files this run reads, checked against the originals
    timer = record.epoch_timer()
    with record.PeakMemory() as memory, tempfile.TemporaryDirectory(prefix="hwlib-trainer-") as out:
        trainer, tok = build_trainer(config, out, progress=progress, callbacks=[timer])  # data, model, Trainer
        train_out = trainer.train()  # evaluates on the test split after every epoch
    return record.build(config, trainer, train_out, tok, timer=timer, memory=memory, started=started, data=data)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run(config: RunConfig, *, store=None, retrain: bool = False, train: bool = True, progress: bool = True,
        log=None) -> dict | None:
    """The stored record of ``config`` if there is one for the data on disk now (and ``retrain`` is false);
    otherwise train and store it, if ``train`` allows, else return ``None``.

    Every caller that loads runs (the chapters, the command line, the benchmarks) comes through here. ``log``, if
    given, is called with one line saying whether the run was loaded or is being trained.
    """
    from .data import fingerprint
    from .results import ResultStore

    store = store if store is not None else ResultStore()
    data = fingerprint(config.dataset)  # refuses files that are not the originals (unless allowed, then marked)
    if not retrain:
        stored = store.get(config, data)
        if stored is not None:
            log and log(f"stored: {store.path(config, data)}")
            return stored
    if not train:
        return None
    log and log("training" + (" (modified data)" if data["modified"] else ""))
    rec = finetune(config, progress=progress)
    if _is_main_process():
        store.put(config, rec, data)
    return rec
