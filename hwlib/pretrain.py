"""Task-adaptive pretraining (TAPT, Gururangan et al., 2020): more masked-language-model training of the encoder on
a task's own **training** text (never its dev or test text), before fine-tuning.

all-MiniLM-L6-v2 ships its encoder without a masked-LM head, so ``BertForMaskedLM`` starts the head's transform
(dense + LayerNorm) fresh and ties its decoder to the word embeddings (``tie_word_embeddings``): the first steps
teach the head, the rest adapt the encoder. 15 % of the tokens are masked, drawn again for every batch
(``DataCollatorForLanguageModeling``), and the vocabulary projection runs only at the masked positions
(``masked_only_head``: the same loss, 2.07x faster steps in ``bench/mlm_step.py``). The held-out MLM loss, on text of the same domain that fine-tuning never
tests on (the dev split's text), with a fixed masking, says whether the encoder moved towards the domain; it is
measured after every epoch (``heldout_curve`` in the record), so the number of epochs can be chosen by it.

A pretrained encoder is named like a model: ``minilm+tapt:acl_sup`` (the default budget ``PretrainConfig``) or
``minilm+tapt:acl_sup:e5`` (5 epochs). ``checkpoint(name)`` returns its directory, pretraining it first when it is
missing and that is allowed; the checkpoint (safetensors) is cached outside git, under ``HWLIB_CACHE_DIR`` (default
``~/.cache/hwlib``), keyed by the configuration, and its record (configuration, loss curve, held-out loss before and
after, the checkpoint's sha256, provenance) is stored under ``results/pretrain/``. An interrupted pretraining resumes
from its last epoch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^(?P<base>[^+:]+)\+tapt:(?P<dataset>[a-z_]+)(?::e(?P<epochs>\d+))?(?::n(?P<samples>\d+))?$")
# Every pretraining also measures the held-out MLM loss, before and after, on the dev text of these tasks: whether
# the encoder moved towards its own domain and away from (or towards) the others.
CROSS_DOMAINS = ("acl_sup", "restaurant_sup", "laptop_sup", "agnews_sup")


@dataclass(frozen=True)
class PretrainConfig:
    """Continued MLM pretraining of ``model`` on the training text of ``dataset``."""

    model: str = "minilm"
    dataset: str = "acl_sup"
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.06
    mlm_probability: float = 0.15
    max_length: int = 256
    seed: int = 0
    max_train_samples: int | None = None  # a seeded sample of the training text (smoke runs)

    def __post_init__(self):
        from .data import parse_names

        parse_names(self.dataset)  # a clear error for an unknown task
        for name in ("epochs", "batch_size", "max_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} (an integer >= 1)")

    def key(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def name(self) -> str:
        default = PretrainConfig(model=self.model, dataset=self.dataset)
        epochs = "" if self.epochs == default.epochs else f":e{self.epochs}"
        samples = "" if self.max_train_samples is None else f":n{self.max_train_samples}"
        name = f"{self.model}+tapt:{self.dataset}{epochs}{samples}"
        # a configuration that differs in other settings (a test's smaller batch) has no model name: its key tells it
        return name if parse(name) == self else f"{name}@{self.key()}"


def parse(name: str) -> PretrainConfig | None:
    """The ``PretrainConfig`` a model name asks for, or ``None`` for a plain model name."""
    if not isinstance(name, str) or "+tapt" not in name:
        return None
    m = NAME.match(name)
    if m is None:
        raise ValueError(f"model name {name!r}: write BASE+tapt:TASK[:eEPOCHS][:nTEXTS], e.g. "
                         f"'minilm+tapt:acl_sup', 'minilm+tapt:acl_sup:e5' or 'minilm+tapt:agnews_sup:n1688' "
                         f"(a seeded sample of 1688 training texts)")
    epochs = {"epochs": int(m["epochs"])} if m["epochs"] else {}
    samples = {"max_train_samples": int(m["samples"])} if m["samples"] else {}
    return PretrainConfig(model=m["base"], dataset=m["dataset"], **epochs, **samples)


def cache_root() -> Path:
    return Path(os.environ.get("HWLIB_CACHE_DIR") or Path.home() / ".cache" / "hwlib") / "pretrained"


def records_dir() -> Path:
    from .results import default_results_dir

    return default_results_dir() / "pretrain"


def checkpoint(name: str, train: bool = True, progress: bool = True) -> str:
    """The directory of the pretrained encoder ``name`` (``minilm+tapt:acl_sup``), pretraining it first when it is
    missing and ``train`` allows; otherwise a clear error."""
    config = parse(name)
    path = cache_root() / config.key() / "encoder"
    if (path / "model.safetensors").is_file():
        return str(path)
    if not train:
        raise FileNotFoundError(f"the pretrained encoder {name!r} is not in {path.parent} and training is not "
                                f"allowed here; pretrain it with `python -m hwlib pretrain --model {name}`")
    pretrain(config, progress=progress)
    return str(path)


def _texts(dataset: str, model: str, split: str) -> list[str]:
    from .data import column, get_dataset
    from .models import load_tokenizer

    dd = get_dataset(dataset, sep_token=load_tokenizer(model).sep_token, split_dev=True)
    return column(dd[split], "text")


def heldout_loss(model, tokenizer, texts, config: PretrainConfig, batch_size: int = 64) -> float:
    """Mean MLM loss on ``texts`` with one fixed masking (seeded), so that before and after compare like for like."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability, seed=config.seed)
    enc = tokenizer(texts, truncation=True, max_length=config.max_length)
    rows = [{"input_ids": ids} for ids in enc["input_ids"]]
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(rows), batch_size):
            batch = collator(rows[i:i + batch_size])
            n = int((batch["labels"] != -100).sum())
            total += float(model(**batch).loss) * n
            count += n
    return total / count


def masked_only_head(model):
    """Make ``model`` (a ``...ForMaskedLM``) compute its vocabulary projection only at the masked positions.

    The stock forward projects every position onto the whole vocabulary (H x V per token: for MiniLM 384 x 30,522,
    about twice the encoder's own weights) and then ignores the 85 % of positions whose label is -100. With labels
    given, this forward runs the encoder, keeps the hidden states of the labelled positions and projects only those:
    the same loss (the mean cross-entropy over the masked tokens) and the same gradients, for a fraction of the
    head's work (``bench/mlm_step.py`` measures it). Without labels it is the stock forward. The weights, their
    names and what ``save_pretrained`` writes are unchanged: only the instance's ``forward`` is replaced.
    """
    import types

    import torch.nn.functional as F
    from transformers.modeling_outputs import MaskedLMOutput

    stock = model.forward
    head_module = model.cls if hasattr(model, "cls") else model.lm_head  # BERT's transform + decoder; RoBERTa's

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if labels is None:
            return stock(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, **kwargs)
        base = getattr(self, self.base_model_prefix)
        hidden = base(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True,
                      **kwargs).last_hidden_state
        keep = labels != -100
        logits = head_module(hidden[keep])  # (masked tokens, V) instead of (batch, length, V)
        return MaskedLMOutput(loss=F.cross_entropy(logits, labels[keep]), logits=logits)

    model.forward = types.MethodType(forward, model)
    return model


def heldout_callback(tokenizer, texts, config: PretrainConfig):
    """A ``TrainerCallback`` that measures the held-out MLM loss (``heldout_loss``, the same fixed masking) after every
    epoch and logs it in the ``Trainer``'s state, so that it is saved with each checkpoint and survives a resume."""
    from transformers import TrainerCallback

    class HeldOut(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            loss = heldout_loss(model, tokenizer, texts, config)
            model.train()
            state.log_history.append({"epoch": round(state.epoch), "step": state.global_step,
                                      "heldout_mlm_loss": loss})

    return HeldOut()


def heldout_curve(log_history, before: float) -> list[dict]:
    """The held-out MLM loss by epoch, epoch 0 being the model before pretraining."""
    return [{"epoch": 0, "loss": before}] + [{"epoch": h["epoch"], "loss": h["heldout_mlm_loss"]}
                                             for h in log_history if "heldout_mlm_loss" in h]


def pretrain(config: PretrainConfig, progress: bool = True, cross_domains=CROSS_DOMAINS) -> dict:
    """Pretrain, save the encoder (with the base model's pooler, which MLM does not train) and store the record,
    with the held-out MLM loss before and after on the dev text of ``cross_domains`` too (``CROSS_DOMAINS``)."""
    import torch
    from transformers import (AutoModel, AutoModelForMaskedLM, DataCollatorForLanguageModeling, Trainer,
                              TrainingArguments, set_seed)

    from . import record
    from .data import fingerprint
    from .models import load_tokenizer, resolve
    from .results import write_json_atomic

    started = time.perf_counter()
    root = cache_root() / config.key()
    tokenizer = load_tokenizer(config.model)
    set_seed(config.seed)
    model = masked_only_head(AutoModelForMaskedLM.from_pretrained(resolve(config.model), use_safetensors=True))
    train_texts, dev_texts = _texts(config.dataset, config.model, "train"), _texts(config.dataset, config.model, "dev")
    if config.max_train_samples is not None and config.max_train_samples < len(train_texts):
        import random

        train_texts = random.Random(config.seed).sample(train_texts, config.max_train_samples)
    before = heldout_loss(model, tokenizer, dev_texts, config)  # dev text: for the held-out loss only
    cross_texts = {d: _texts(d, config.model, "dev") for d in cross_domains if d != config.dataset}
    cross_before = {d: heldout_loss(model, tokenizer, t, config) for d, t in cross_texts.items()}
    enc = tokenizer(train_texts, truncation=True, max_length=config.max_length)
    train = [{"input_ids": ids} for ids in enc["input_ids"]]
    args = TrainingArguments(
        output_dir=str(root / "checkpoints"), num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_ratio, seed=config.seed,
        save_strategy="epoch", save_total_limit=1, report_to="none", disable_tqdm=not progress,
        logging_steps=max(1, min(10, len(train) // config.batch_size // 4)),
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=train,
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability),
                      callbacks=[heldout_callback(tokenizer, dev_texts, config)])
    resume = any((root / "checkpoints").glob("checkpoint-*"))
    out = trainer.train(resume_from_checkpoint=True if resume else None)
    after = heldout_loss(trainer.model, tokenizer, dev_texts, config)
    cross = {d: {"before": cross_before[d], "after": heldout_loss(trainer.model, tokenizer, t, config)}
             for d, t in cross_texts.items()}

    encoder = AutoModel.from_pretrained(resolve(config.model), use_safetensors=True)  # the base, with its pooler
    missing = encoder.load_state_dict(trainer.model.bert.state_dict(), strict=False)
    assert not missing.unexpected_keys and all(k.startswith("pooler.") for k in missing.missing_keys), missing
    encoder.save_pretrained(root / "encoder", safe_serialization=True)
    tokenizer.save_pretrained(root / "encoder")
    sha = hashlib.sha256((root / "encoder" / "model.safetensors").read_bytes()).hexdigest()
    device, precision = record.device_and_precision("fp32")
    rec = {
        "name": config.name(), "key": config.key(), "config": dataclasses.asdict(config),
        "heldout_mlm_loss": {"before": before, "after": after, "text": f"{config.dataset} dev split"},
        "heldout_curve": heldout_curve(trainer.state.log_history, before),  # after every epoch: choose epochs by it
        "heldout_other_domains": cross,  # the other tasks' dev text, before and after
        "train_curve": [{"step": h["step"], "epoch": h["epoch"], "loss": h["loss"]}
                        for h in trainer.state.log_history if "loss" in h],
        "data": {"train_texts": len(train_texts), "train_tokens": sum(map(len, enc["input_ids"])),
                 "dev_texts": len(dev_texts),
                 **fingerprint(config.dataset, split_dev=True)},
        "timing": {"train_runtime_s": float(out.metrics["train_runtime"]), "wall_s": time.perf_counter() - started,
                   "resumed": resume},
        "checkpoint": {"path": str(root / "encoder"), "sha256": sha},
        "provenance": record.provenance(device, precision),
    }
    write_json_atomic(record_path(config), rec)
    return rec


def record_path(config: PretrainConfig) -> Path:
    return records_dir() / f"{config.name().replace(':', '_').replace('+', '_')}__{config.key()}.json"


def stored(name: str) -> dict | None:
    """The stored record of the pretrained encoder ``name`` (``results/pretrain/``), or ``None`` if it was not
    pretrained yet. Reading it needs no checkpoint: the book shows a pretraining from its record alone."""
    path = record_path(parse(name))
    return json.loads(path.read_text()) if path.is_file() else None
