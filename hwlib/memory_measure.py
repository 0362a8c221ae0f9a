"""Measuring what ``hwlib.memory`` predicts: parameter counts, state bytes and activations saved for backward.

* ``meta_parameter_count`` builds a configuration on PyTorch's meta device (shapes, no storage) and counts it.
* ``state_bytes_measured`` takes one AdamW step and reads the bytes of the weights, ``.grad`` and optimizer state.
* ``saved_activation_bytes`` runs one training-mode forward pass under ``torch.autograd.graph.saved_tensors_hooks``
  and adds up the storages autograd keeps for backward (each storage once, parameters excluded).
* ``cuda_step`` runs one training step of a classifier of any ``memory.Encoder`` shape (the 3B-class one included)
  on a GPU and reads ``torch.cuda.memory_allocated`` after each stage and ``max_memory_allocated``; ``store_cuda``
  keeps such measurements with their provenance in ``results/memory/cuda.json`` and ``cuda_comparison`` sets them
  against the predictions.

All runs use the embedded MiniLM (``hwlib.models.load_model("minilm")``) with eager attention: the attention
probabilities are materialised, as in Korthikanti et al.'s accounting.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from hwlib import memory
from hwlib.adapters import add_adapters, count_parameters

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
    from hwlib.models import load_model
    from transformers.utils import logging

    memory._check(method)
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

    memory._check(method)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(hf_config(encoder))
        if method == "adapter":
            add_adapters(model, adapter_size)
    model.set_attn_implementation(attention)
    return model.train()


AUTOCAST = (None, "bf16")
OPTIMIZERS = ("fused", "foreach")  # fused: the Trainer's default optim, adamw_torch_fused
ENCODERS = {"minilm": memory.MINILM, "3B-class": memory.BERT_3B}
# (encoder, method, b, s, autocast, optimizer): MiniLM at the CPU checks' scale, the report's 3B at the chapter's
# (b, s) = (16, 256) and at (8, 128); plus the 3B with the foreach AdamW and under bf16 autocast.
CUDA_CASES = tuple(
    [("minilm", m, 8, 128, None, "fused") for m in memory.METHODS]
    + [("3B-class", m, b, s, None, "fused") for b, s in ((8, 128), (16, 256)) for m in memory.METHODS]
    + [("3B-class", "full", 16, 256, None, "foreach")]
    + [("3B-class", m, 16, 256, "bf16", "fused") for m in memory.METHODS]
)


def _release():
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def _warm_up_cuda():
    """Let cuBLAS allocate its workspaces (kept for the process) before anything is counted."""
    x = torch.randn(64, 64, device="cuda", requires_grad=True)
    (x @ x).sum().backward()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        (x @ x).float().sum().backward()
    del x
    _release()


def cuda_step(encoder: memory.Encoder, method: str = "full", b: int = 8, s: int = 128, adapter_size: int = 64,
              autocast: str | None = None, optimizer: str = "fused", seed: int = 0) -> dict:
    """Bytes of one training step on the GPU, read with ``torch.cuda.memory_allocated`` after each stage.

    A warm-up step creates the AdamW state; the measured step then starts from weights and optimizer state alone
    (gradients set to None). ``activations``: what the forward pass adds (what it saves for backward, plus logits and
    loss); ``gradients``: what the backward pass leaves; ``peak``: the step's high-water mark, optimizer included."""
    memory._check(method)
    if autocast not in AUTOCAST:
        raise ValueError(f"unknown autocast {autocast!r}; choose from {AUTOCAST}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if not torch.cuda.is_available():
        raise RuntimeError("cuda_step needs a CUDA device; torch.cuda.is_available() is False here")
    cuda = torch.cuda
    _warm_up_cuda()
    base = cuda.memory_allocated()
    model = build_classifier(encoder, method, adapter_size, device="cuda", seed=seed)
    cuda.synchronize()
    weights = cuda.memory_allocated() - base
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5,
                            fused=optimizer == "fused", foreach=optimizer == "foreach")
    batch = fake_batch(model, b, s, seed, device="cuda")
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if autocast else contextlib.nullcontext

    def loss():
        with ctx():
            return model(**batch).loss

    loss().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    _release()
    start = cuda.memory_allocated()
    cuda.reset_peak_memory_stats()
    value = loss()
    cuda.synchronize()
    forward = cuda.memory_allocated() - start
    value.backward()
    del value
    cuda.synchronize()
    gradients = cuda.memory_allocated() - start
    peak_backward = cuda.max_memory_allocated() - base
    opt.step()
    cuda.synchronize()
    out = {"weights": weights, "optimizer": start - base - weights, "activations": forward, "gradients": gradients,
           "peak_forward_backward": peak_backward, "peak": cuda.max_memory_allocated() - base,
           "parameters": count_parameters(model)}
    del model, opt, batch
    _release()
    return out


def cuda_provenance() -> dict:
    import transformers

    from . import __version__

    return {"hwlib": __version__, "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "python": sys.version.split()[0],
            "device": torch.cuda.get_device_name(), "device_memory_bytes": torch.cuda.get_device_properties(0).total_memory,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}


def default_cuda_path() -> Path:
    from .results import default_results_dir

    return default_results_dir() / "memory" / "cuda.json"


def store_cuda(path=None, cases=CUDA_CASES, adapter_size: int = 64, log=print) -> Path:
    """Measure every case with ``cuda_step`` and write them, with provenance, atomically to ``path``."""
    from .results import write_json_atomic

    started, rows = time.perf_counter(), []
    for name, method, b, s, autocast, optimizer in cases:
        t = time.perf_counter()
        m = cuda_step(ENCODERS[name], method, b, s, adapter_size, autocast, optimizer)
        rows.append({"encoder": name, "method": method, "b": b, "s": s, "autocast": autocast,
                     "optimizer": optimizer, "adapter_size": adapter_size, "measured": m})
        log(f"{name} {method} b={b} s={s} autocast={autocast} {optimizer}: peak {m['peak'] / 1e9:.2f} GB "
            f"({time.perf_counter() - t:.1f} s)")
    record = {"cases": rows, "provenance": {**cuda_provenance(), "runtime_s": time.perf_counter() - started}}
    return write_json_atomic(Path(path) if path else default_cuda_path(), record)


def load_cuda(path=None) -> dict | None:
    """The stored GPU measurements, or None when none are stored."""
    p = Path(path) if path else default_cuda_path()
    return json.loads(p.read_text()) if p.is_file() else None


def cuda_record(path=None) -> dict:
    """The stored GPU measurements; measured and stored here first if none are stored and a GPU is present."""
    record = load_cuda(path)
    if record is None and torch.cuda.is_available():
        store_cuda(path)
        record = load_cuda(path)
    if record is None:
        raise FileNotFoundError(f"no GPU measurements at {Path(path) if path else default_cuda_path()} and no CUDA "
                                "device here: run `python -m hwlib cuda-memory` on a machine with a GPU")
    return record


def cuda_comparison(record: dict) -> pd.DataFrame:
    """Each stored case's components against ``memory.training_memory``: fp32 with 1-byte (CUDA) dropout masks, or,
    under bf16 autocast, Hugging Face's mixed-precision recipe. The step's peak is set against ``memory.step_peak``
    and against the sum of all four parts."""
    rows = []
    for c in record["cases"]:
        precision = "fp32" if c["autocast"] is None else "mixed-hf"
        mem = memory.training_memory(ENCODERS[c["encoder"]], c["method"], precision, c["adapter_size"])
        pred = memory.evaluate({**mem, "step_peak": memory.step_peak(mem)}, b=c["b"], s=c["s"])
        meas = c["measured"]
        pairs = [(k, pred[k], meas[k]) for k in ("weights", "gradients", "optimizer", "activations")]
        pairs += [("peak", pred["step_peak"], meas["peak"]), ("peak vs all four", pred["total"], meas["peak"])]
        for quantity, p, m in pairs:
            rows.append({"encoder": c["encoder"], "method": c["method"], "b": c["b"], "s": c["s"],
                         "autocast": c["autocast"] or "-", "optimizer": c["optimizer"], "recipe": precision,
                         "quantity": quantity, "predicted": p, "measured": m, "rel_error": rel_error(p, m)})
    return pd.DataFrame(rows)
