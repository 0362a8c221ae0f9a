"""Measuring what ``hwlib.memory`` predicts: parameter counts, state bytes and activations saved for backward.

* ``meta_parameter_count`` builds a configuration on PyTorch's meta device (shapes, no storage) and counts it.
* ``state_bytes_measured`` takes one AdamW step and reads the bytes of the weights, ``.grad`` and optimizer state.
* ``saved_activation_bytes`` runs one training-mode forward pass under ``torch.autograd.graph.saved_tensors_hooks``
  and adds up the storages autograd keeps for backward (each storage once, parameters excluded).
* ``build_classifier`` makes a randomly initialised classifier of any ``memory.Encoder`` shape (memory does not
  depend on the weights' values); ``hwlib.memory.gpu`` measures such models on a GPU.

All runs use the embedded MiniLM (``hwlib.models.load_model("minilm")``) with eager attention: the attention
probabilities are materialised, as in Korthikanti et al.'s accounting.
"""
from __future__ import annotations

import pandas as pd
import torch

from hwlib import memory
from hwlib.models.adapters import add_adapters, count_parameters

FAMILIES = ("bert", "roberta")


def hf_config(encoder: memory.Encoder, family: str = "bert"):
    """A transformers config with ``encoder``'s shape (RoBERTa: padding index 1, as roberta-base)."""
    from transformers import BertConfig, RobertaConfig

    shape = dict(num_hidden_layers=encoder.layers, hidden_size=encoder.hidden, num_attention_heads=encoder.heads,
                 vocab_size=encoder.vocab, intermediate_size=encoder.ffn, type_vocab_size=encoder.type_vocab,
                 max_position_embeddings=encoder.max_positions, num_labels=encoder.num_labels)
    if family == "bert":
        return BertConfig(**shape)
    if family == "roberta":
        return RobertaConfig(**shape, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")


def meta_parameter_count(encoder: memory.Encoder, family: str = "bert", adapter_size: int | None = None) -> dict:
    """``count_parameters`` of the model built on the meta device: the base model with its pooler, or, with
    ``adapter_size``, the sequence classifier with adapters added."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    config = hf_config(encoder, family)
    with torch.device("meta"):
        if adapter_size is None:
            return count_parameters(AutoModel.from_config(config))
        return count_parameters(add_adapters(AutoModelForSequenceClassification.from_config(config), adapter_size))


def load_minilm(method: str = "full", adapter_size: int = 64, attention: str = "eager", seed: int = 0):
    """The embedded MiniLM classifier (2 labels) in training mode, with adapters when ``method == "adapter"``."""
    from hwlib.models.encoders import load_model
    from transformers.utils import logging

    memory.check_method(method)
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # no load report ("classifier newly initialised") or progress bar in the book
    logging.disable_progress_bar()
    try:
        model, _ = load_model("minilm", num_labels=2, seed=seed)
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    model.set_attn_implementation(attention)
    if method == "adapter":
        add_adapters(model, adapter_size)
    return model.train()


def fake_batch(model, b: int, s: int, seed: int = 0, device="cpu") -> dict:
    """Random token ids, no padding, as the tokenizer returns them (with token_type_ids), and labels."""
    if not (isinstance(b, int) and isinstance(s, int) and b > 0 and 0 < s <= model.config.max_position_embeddings):
        raise ValueError(f"need integers b > 0 and 0 < s <= {model.config.max_position_embeddings}; got b={b!r}, s={s!r}")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, model.config.vocab_size, (b, s), generator=g)
    labels = torch.randint(0, model.config.num_labels, (b,), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "labels": labels}
    return {k: v.to(device) for k, v in batch.items()}


def saved_activation_bytes(model, b: int, s: int, seed: int = 0) -> int:
    """Bytes of the distinct storages autograd saves in one forward pass (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**fake_batch(model, b, s, seed))
    return sum(storages.values())


def state_bytes_measured(model, b: int = 2, s: int = 16) -> dict:
    """Weights, gradients and AdamW state read from the tensors after one optimizer step."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    model(**fake_batch(model, b, s)).loss.backward()
    optimizer.step()
    unique = {id(p): p for p in model.parameters()}.values()
    return {
        "weights": sum(p.nbytes for p in unique),
        "gradients": sum(p.grad.nbytes for p in unique if p.grad is not None),
        "optimizer": sum(v.nbytes for st in optimizer.state.values() for v in st.values() if torch.is_tensor(v)),
    }


def predicted(model, method: str, precision: str, adapter_size: int = 64, b: int = 1, s: int = 1) -> dict:
    """``memory.training_memory`` for ``model``'s shape, evaluated at (b, s)."""
    enc = memory.Encoder.from_hf(model.config)
    return memory.evaluate(memory.training_memory(enc, method, precision, adapter_size), b=b, s=s, m=adapter_size)


def rel_error(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas


def compare(rows) -> pd.DataFrame:
    """A table from ``(name, predicted, measured)`` rows, with the relative error |predicted - measured| / measured."""
    df = pd.DataFrame(rows, columns=["quantity", "predicted", "measured"])
    df["rel_error"] = [rel_error(p, m) for p, m in zip(df.predicted, df.measured)]
    return df


def parameter_rows(adapter_size: int = 64) -> pd.DataFrame:
    """Exact counts (``memory.encoder_parameters``) against the meta-device models: bert-base, roberta-base, the
    3B-class encoder, and that encoder as a classifier with adapters (total and trainable)."""
    rows = []
    for name, enc, family in (("bert-base-uncased", memory.BERT_BASE, "bert"),
                              ("roberta-base", memory.ROBERTA_BASE, "roberta"), ("3B-class", memory.BERT_3B, "bert")):
        rows.append((name, memory.encoder_parameters().subs(enc.subs()), meta_parameter_count(enc, family)["total"]))
    enc = memory.BERT_3B
    counted = meta_parameter_count(enc, "bert", adapter_size)
    adapters = memory.total_adapter_parameters(enc.layers, enc.hidden, adapter_size)
    head = (memory.H * memory.C + memory.C).subs(enc.subs())
    rows.append(("3B-class classifier + adapters: total",
                 memory.encoder_parameters(head=True).subs(enc.subs()) + adapters, counted["total"]))
    rows.append(("3B-class classifier + adapters: trainable", adapters + head, counted["trainable"]))
    return compare([(n, int(p), int(c)) for n, p, c in rows])


def state_rows(adapter_size: int = 64) -> pd.DataFrame:
    """Weights, gradients and AdamW state of MiniLM in fp32, full and with adapters: predicted against measured."""
    rows = []
    for method in memory.METHODS:
        model = load_minilm(method, adapter_size)
        meas = state_bytes_measured(model)
        pred = predicted(model, method, "fp32", adapter_size)
        rows += [(f"{method}: {k}", pred[k], meas[k]) for k in meas]
    return compare(rows)


def activation_rows(grid=((1, 32), (4, 64), (8, 128), (2, 256)), methods=memory.METHODS, adapter_size=64,
                    attention="eager", precision="fp32-cpu") -> pd.DataFrame:
    """Saved activation bytes, measured and predicted: the whole model, its layers only, and (full fine-tuning)
    Korthikanti et al.'s formula as published. Relative errors in the ``err_*`` columns."""
    rows = []
    for method in methods:
        model = load_minilm(method, adapter_size, attention)
        enc = memory.Encoder.from_hf(model.config)
        exprs = {
            "predicted": memory.activation_bytes(precision, method),
            "layers_only": memory.activation_bytes(precision, method, extras=False),
        }
        if method == "full":  # the paper's formula as published: full training, 16-bit, 1-byte masks
            exprs["korthikanti_16bit"] = memory.L * memory.korthikanti_layer_bytes()
        exprs = {k: e.subs({**enc.subs(), memory.m: adapter_size}) for k, e in exprs.items()}
        for b, s in grid:
            meas = saved_activation_bytes(model, b, s)
            pred = memory.evaluate(exprs, b=b, s=s)
            rows.append({"method": method, "attention": attention, "b": b, "s": s, "measured": meas, **pred,
                         **{f"err_{k}": rel_error(v, meas) for k, v in pred.items()}})
    return pd.DataFrame(rows)


def build_classifier(encoder: memory.Encoder, method: str = "full", adapter_size: int = 64, device="cpu",
                     attention: str = "eager", seed: int = 0):
    """A randomly initialised classifier of ``encoder``'s shape, in training mode, built directly on ``device``.

    Memory does not depend on the weights' values, so this measures any shape, the 3B-class one included, without
    its (non-existent) pretrained weights."""
    from transformers import AutoModelForSequenceClassification

    memory.check_method(method)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(hf_config(encoder))
        if method == "adapter":
            add_adapters(model, adapter_size)
    model.set_attn_implementation(attention)
    return model.train()
