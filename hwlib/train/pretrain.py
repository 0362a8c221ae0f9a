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
``minilm+tapt:acl_sup:e5`` (5 epochs): ``hwlib.models.tapt``. The checkpoint (safetensors) is saved outside git, under
``$HWLIB_CACHE_DIR/pretrained`` (default ``~/.cache/hwlib``), keyed by the configuration; its record (configuration,
loss curve, held-out loss before and after, the checkpoint's sha256, provenance) is stored under
``results/pretrain/`` by ``hwlib.runs.pretrained``, the one path that loads a pretrained encoder or pretrains it.
An interrupted pretraining resumes from its last epoch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time

from hwlib.data import column, fingerprint, get_dataset
from hwlib.machine.provenance import device_and_precision, provenance
from hwlib.models.encoders import load_tokenizer, resolve
from hwlib.models.tapt import PretrainConfig, checkpoint_dir


# Every pretraining also measures the held-out MLM loss, before and after, on the dev text of these tasks: whether
# the encoder moved towards its own domain and away from (or towards) the others.
CROSS_DOMAINS = ("acl_sup", "restaurant_sup", "laptop_sup", "agnews_sup")


def _texts(dataset: str, model: str, split: str) -> list[str]:
    dd = get_dataset(dataset, sep_token=load_tokenizer(model).sep_token, split_dev=True)
    return column(dd[split], "text")


def heldout_loss(model, tokenizer, texts, config: PretrainConfig,
                 batch_size: int = 64) -> float:
    """Mean MLM loss on ``texts`` with one fixed (seeded) masking, so that
    before and after compare like for like."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=config.mlm_probability, seed=config.seed)
    enc = tokenizer(texts, truncation=True, max_length=config.max_length)
    rows = [{"input_ids": ids} for ids in enc["input_ids"]]
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(rows), batch_size):
            batch = collator(rows[i:i + batch_size])
            n = int((batch["labels"] != -100).sum())  # masked tokens
            total += float(model(**batch).loss) * n
            count += n
    return total / count


def masked_only_head(model):
    """Make ``model`` (a ``...ForMaskedLM``) project onto the vocabulary only
    at the masked positions.

    The stock forward projects every position onto the whole vocabulary
    (H x V per token: for MiniLM 384 x 30,522, about twice the encoder's own
    weights), then ignores the 85 % of positions whose label is -100. With
    labels, this forward runs the encoder, keeps the hidden states of the
    labelled positions and projects only those: the same loss (the mean
    cross-entropy over the masked tokens) and the same gradients, for a
    fraction of the head's work (``bench/mlm_step.py`` measures it). Without
    labels it is the stock forward. The weights, their names and what
    ``save_pretrained`` writes are unchanged: only ``forward`` is replaced.
    """
    import types

    import torch.nn.functional as F
    from transformers.modeling_outputs import MaskedLMOutput

    stock = model.forward
    # BERT's transform + decoder; RoBERTa's lm_head
    head = model.cls if hasattr(model, "cls") else model.lm_head

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                labels=None, **kwargs):
        inputs = dict(attention_mask=attention_mask,
                      token_type_ids=token_type_ids, **kwargs)
        if labels is None:
            return stock(input_ids=input_ids, **inputs)
        encoder = getattr(self, self.base_model_prefix)
        hidden = encoder(input_ids, return_dict=True, **inputs).last_hidden_state
        keep = labels != -100
        logits = head(hidden[keep])  # (masked tokens, V), not (batch, length, V)
        loss = F.cross_entropy(logits, labels[keep])
        return MaskedLMOutput(loss=loss, logits=logits)

    model.forward = types.MethodType(forward, model)
    return model


def heldout_callback(tokenizer, texts, config: PretrainConfig):
    """A ``TrainerCallback`` that measures the held-out MLM loss (``heldout_loss``, the same fixed masking) after every
    epoch and logs it in the ``Trainer``'s state with the epoch's wall time (``epoch_s``, the measurement included),
    so that both are saved with each checkpoint and survive a resume."""
    from transformers import TrainerCallback

    class HeldOut(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            loss = heldout_loss(model, tokenizer, texts, config)
            model.train()
            state.log_history.append({"epoch": round(state.epoch), "step": state.global_step,
                                      "heldout_mlm_loss": loss, "epoch_s": time.perf_counter() - self.started})

    return HeldOut()


def epoch_times(log_history) -> dict:
    """What the epochs took, resumes included: the summed wall time of the epochs that logged one (``epoch_s``; not
    the epochs of a process that predates it) and how many they are."""
    timed = [h["epoch_s"] for h in log_history if "epoch_s" in h]
    return {"epochs_s": sum(timed), "epochs_timed": len(timed)}


def heldout_curve(log_history, before: float) -> list[dict]:
    """The held-out MLM loss by epoch, epoch 0 being the model before pretraining."""
    return [{"epoch": 0, "loss": before}] + [{"epoch": h["epoch"], "loss": h["heldout_mlm_loss"]}
                                             for h in log_history if "heldout_mlm_loss" in h]


def pretrain(config: PretrainConfig, progress: bool = True, cross_domains=CROSS_DOMAINS) -> dict:
    """Pretrain, save the encoder (with the base model's pooler, which MLM does not train) in ``checkpoint_dir`` and
    return the record, with the held-out MLM loss before and after on the dev text of ``cross_domains`` too
    (``CROSS_DOMAINS``). Storing the record is the caller's (``hwlib.runs.pretrained``)."""
    import torch
    from transformers import (AutoModel, AutoModelForMaskedLM, DataCollatorForLanguageModeling, Trainer,
                              TrainingArguments, set_seed)

    started = time.perf_counter()
    root = checkpoint_dir(config).parent
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
    adapted = getattr(trainer.model, trainer.model.base_model_prefix)  # .bert, .roberta, ...: the encoder
    missing = encoder.load_state_dict(adapted.state_dict(), strict=False)
    assert not missing.unexpected_keys and all(k.startswith("pooler.") for k in missing.missing_keys), missing
    encoder.save_pretrained(root / "encoder", safe_serialization=True)
    tokenizer.save_pretrained(root / "encoder")
    sha = hashlib.sha256((root / "encoder" / "model.safetensors").read_bytes()).hexdigest()
    device, precision = device_and_precision("fp32")
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
                   "resumed": resume, **epoch_times(trainer.state.log_history)},  # wall_s: this process only
        "checkpoint": {"path": str(root / "encoder"), "sha256": sha},
        "provenance": provenance(device, precision),
    }
    return rec
