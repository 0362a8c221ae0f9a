"""Fine-tuning with ``transformers.Trainer``: full, with adapters or with LoRA; one ``RunConfig`` in, one run
record out (``finetune``). Storing it, and loading it instead of training again, is ``hwlib.runs``'.
"""
from __future__ import annotations

import tempfile
import time

from hwlib.data import fingerprint
from hwlib.machine.peak import PeakMemory, peak_memory_mode
from hwlib.machine.provenance import device_and_precision, world_size
from hwlib.models.adapters import add_adapters
from hwlib.models.encoders import load_model, load_tokenizer
from hwlib.models.heads import balanced_class_weights, use_mean_pooling, weighted_cross_entropy
from hwlib.models.lora import add_lora
from hwlib.train.record import build, epoch_timer
from hwlib.train.config import RunConfig
from hwlib.train.inputs import load_splits, tokenize
from hwlib.train.probe import probe


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


def prepare(config: RunConfig):
    """Model (mean-pooled and with adapters if asked), tokenizer, and the tokenized splits for ``config``: train and
    test, and dev when the run selects its epoch on dev."""
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


# ------------------------------------------------------------------------------------------------ training
def _world_size(config: RunConfig) -> int:
    """Data-parallel processes (``torchrun`` sets ``WORLD_SIZE``); each takes an equal share of the batch."""
    world = world_size()
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

    _, precision = device_and_precision(config.precision)
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

    _world_size(config)  # before anything is loaded
    device_and_precision(config.precision)  # a bad $HWLIB_AUTO_PRECISION stops here, before anything loads
    peak_memory_mode()  # ... and a bad $HWLIB_PEAK_MEMORY
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


def finetune(config: RunConfig, progress: bool = True, data: dict | None = None) -> dict:
    """Train and evaluate ``config``; return the run record (``hwlib.train.record``). ``data``: the run's
    ``hwlib.data.fingerprint`` (the files read, checked against the originals), computed here when not given."""
    from transformers import EarlyStoppingCallback

    if config.method == "probe":
        return probe(config, data)
    started = time.perf_counter()
    data = data if data is not None else fingerprint(config.dataset, split_dev=config.select_on_dev)
    timer = epoch_timer()
    with PeakMemory() as memory, tempfile.TemporaryDirectory(prefix="hwlib-trainer-") as out:
        trainer, tok = build_trainer(config, out, progress=progress, callbacks=[timer])  # data, model, Trainer
        train_out = trainer.train()  # evaluates after every epoch (on dev: then the best epoch is loaded back)
        test = None
        if config.select_on_dev:  # the best epoch is loaded back; now the one look at the test split
            trainer.remove_callback(EarlyStoppingCallback)
            test = trainer.evaluate(tok["test"], metric_key_prefix="test")
    return build(config, trainer, train_out, tok, timer=timer, memory=memory, started=started, data=data,
                        test=test)
