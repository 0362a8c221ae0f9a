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


class Evaluations:
    """The Trainer's ``compute_metrics`` that also keeps every evaluation's logits and labels, in order (``seen``),
    so that the record can store the per-example predictions of the evaluation it reports."""

    def __init__(self):
        self.seen = []

    def __call__(self, eval_pred):
        import numpy as np

        logits, labels = eval_pred
        self.seen.append((np.asarray(logits), np.asarray(labels)))
        return _metrics(eval_pred)


def load_splits(config: RunConfig, sep_token: str):
    """The run's splits: train and test, dev too when the run selects on dev; ``max_train_samples`` draws a seeded
    sample of train, ``max_eval_samples`` a fixed sample of dev and test."""
    from .data import get_dataset

    dd = get_dataset(config.dataset, sep_token=sep_token, split_dev=config.select_on_dev)
    if config.max_train_samples is not None and config.max_train_samples < len(dd["train"]):
        dd["train"] = dd["train"].shuffle(seed=config.seed).select(range(config.max_train_samples))
    for split in ("dev", "test"):
        if split in dd and config.max_eval_samples is not None and config.max_eval_samples < len(dd[split]):
            dd[split] = dd[split].shuffle(seed=0).select(range(config.max_eval_samples))
    return dd


def prepare(config: RunConfig):
    """Model (mean-pooled and with adapters if asked), tokenizer, and the tokenized splits for ``config``: train and
    test, and dev when the run selects its epoch on dev."""
    from .adapters import add_adapters
    from .heads import use_mean_pooling
    from .lora import add_lora
    from .models import load_model, load_tokenizer

    tokenizer = load_tokenizer(config.model)  # its sep_token joins SemEval's aspect term and sentence
    dd = load_splits(config, tokenizer.sep_token)
    num_labels = dd["train"].features["label"].num_classes
    model, _ = load_model(config.model, num_labels=num_labels, seed=config.seed, tokenizer=tokenizer)
    if config.pooling == "mean":
        use_mean_pooling(model)
    if config.method == "adapter":
        add_adapters(model, size=config.adapter_size, train_layernorm=config.train_layernorm,
                     train_pooler=config.train_pooler)
    elif config.method == "lora":
        model = add_lora(model, rank=config.lora_rank, alpha=config.lora_alpha, dropout=config.lora_dropout,
                         targets=config.lora_targets, train_pooler=config.train_pooler)
    return model, tokenizer, dd, tokenize(config, tokenizer, dd)


def tokenize(config: RunConfig, tokenizer, dd):
    """The splits as the Trainer reads them: token ids (cut at ``max_length``) and each example's ``length``."""
    tok = dd.map(lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length),
                 batched=True, remove_columns=["text"])
    return tok.map(lambda b: {"length": [len(x) for x in b["input_ids"]]}, batched=True)


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
    epochs, seed) and the run's own settings (learning rate, warm-up, weight decay), per-epoch evaluation, the loss
    logged every 10 steps (4 times an epoch on tiny sets), no checkpoints (one per epoch, only the best kept, when
    the epoch is chosen on dev), and the speed settings ``bench/`` chose (length-grouped batches; fp32 on CPU).
    ``overrides`` replace or add arguments (the benchmarks switch evaluation and logging off)."""
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
        warmup_steps=config.warmup_ratio,  # a float below 1 is a fraction of the steps
        weight_decay=config.weight_decay,
    )
    if config.learning_rate is not None:
        kwargs["learning_rate"] = config.learning_rate
    if config.select_on_dev:  # keep the epoch with the best dev macro-F1 (a checkpoint per epoch, the best kept)
        kwargs |= dict(save_strategy="epoch", save_only_model=True, save_total_limit=1, load_best_model_at_end=True,
                       metric_for_best_model="macro_f1", greater_is_better=True)
    return TrainingArguments(**(kwargs | overrides))


def build_trainer(config: RunConfig, output_dir: str, progress: bool = True, callbacks=()):
    """A ready ``Trainer`` for ``config`` (model, data, arguments); also returns the tokenized splits. It evaluates
    on the test split after every epoch (the course), or on the dev split when the run selects its epoch there."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, set_seed

    from .heads import balanced_class_weights, weighted_cross_entropy

    _world_size(config)  # before anything is loaded
    record.device_and_precision(config.precision)  # a bad $HWLIB_AUTO_PRECISION stops here, before anything loads
    record.peak_memory_mode()  # ... and a bad $HWLIB_PEAK_MEMORY
    set_seed(config.seed)
    model, tokenizer, dd, tok = prepare(config)
    steps_per_epoch = -(-len(tok["train"]) // config.batch_size)
    if config.patience is not None:
        callbacks = [*callbacks, EarlyStoppingCallback(early_stopping_patience=config.patience)]
    loss = None
    if config.class_weighted:
        loss = weighted_cross_entropy(balanced_class_weights(tok["train"]["label"][:], model.config.num_labels))
    trainer = Trainer(
        model=model,
        args=training_arguments(config, output_dir, steps_per_epoch, progress),
        train_dataset=tok["train"],
        eval_dataset=tok["dev" if config.select_on_dev else "test"],
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=Evaluations(),
        compute_loss_func=loss,
        callbacks=list(callbacks),
    )
    return trainer, tok


def finetune(config: RunConfig, progress: bool = True) -> dict:
    """Train and evaluate ``config``; return the run record (the dict that ``ResultStore`` stores)."""
    from .data import fingerprint

    from transformers import EarlyStoppingCallback

    if config.method == "probe":
        from .probe import probe

        return probe(config)
    started = time.perf_counter()
    data = fingerprint(config.dataset, split_dev=config.select_on_dev)  # the files read, checked against the originals
    timer = record.epoch_timer()
    with record.PeakMemory() as memory, tempfile.TemporaryDirectory(prefix="hwlib-trainer-") as out:
        trainer, tok = build_trainer(config, out, progress=progress, callbacks=[timer])  # data, model, Trainer
        train_out = trainer.train()  # evaluates after every epoch (on dev: then the best epoch is loaded back)
        test = None
        if config.select_on_dev:  # the best epoch is loaded back; now the one look at the test split
            trainer.remove_callback(EarlyStoppingCallback)
            test = trainer.evaluate(tok["test"], metric_key_prefix="test")
    return record.build(config, trainer, train_out, tok, timer=timer, memory=memory, started=started, data=data,
                        test=test)


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
    data = fingerprint(config.dataset, split_dev=config.select_on_dev)  # the originals (or marked as modified)
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
        return store.get(config, data)  # the record as stored: with its key, schema and data checksums
    return rec


def _one_thread():
    import torch

    torch.set_num_threads(1)


def _run_logged(config, head, kwargs):
    import sys

    return run(config, log=lambda line: print(f"{head}: {line}", file=sys.stderr, flush=True), **kwargs)


def run_all(configs, jobs: int = 1, **kwargs) -> list[dict]:
    """``run`` each configuration, in order, logging each to stderr; ``jobs > 1`` runs that many single-threaded
    processes side by side (on a CPU two such processes train faster in total than one with two threads:
    bench/README.md, "Threads"). Each run is stored as it finishes, so an interrupted grid resumes where it stopped."""
    heads = [f"[{i}/{len(configs)}] {c.model} {c.dataset} {c.method} seed={c.seed}" for i, c in enumerate(configs, 1)]
    if jobs == 1:
        return [_run_logged(c, h, kwargs) for c, h in zip(configs, heads)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
        futures = [pool.submit(_run_logged, c, h, kwargs) for c, h in zip(configs, heads)]
        return [f.result() for f in futures]
