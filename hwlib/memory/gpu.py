"""Memory of one training step measured on a GPU, against ``hwlib.memory``'s predictions.

``step`` builds a randomly initialised classifier of any ``memory.Encoder`` shape on the GPU (the 3B-class encoder
included: memory does not depend on the weights' values), takes a warm-up step, then one measured step, and reads
``torch.cuda.memory_allocated`` after each stage and ``max_memory_allocated`` over the step. ``store`` keeps the
measurements of ``CASES`` with their provenance in ``results/memory/cuda.json`` (``python -m hwlib cuda-memory``),
``record`` reads them back, and ``comparison`` sets them against the predictions.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from hwlib import memory
from hwlib.models.adapters import count_parameters
from hwlib.machine.provenance import versions
from hwlib.memory.measure import build_classifier, fake_batch, rel_error
from hwlib.store.summaries import load_memory, memory_path, store_memory

AUTOCAST = (None, "bf16")
OPTIMIZERS = ("fused", "foreach")  # fused: the Trainer's default optim, adamw_torch_fused
ENCODERS = {"minilm": memory.MINILM, "3B-class": memory.BERT_3B}
# (encoder, method, b, s, autocast, optimizer): MiniLM at the CPU checks' scale, the report's 3B at the chapter's
# (b, s) = (16, 256) and at (8, 128); plus the 3B with the foreach AdamW and under bf16 autocast.
CASES = tuple(
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


def step(encoder: memory.Encoder, method: str = "full", b: int = 8, s: int = 128, adapter_size: int = 64,
              autocast: str | None = None, optimizer: str = "fused", seed: int = 0) -> dict:
    """Bytes of one training step on the GPU, read with ``torch.cuda.memory_allocated`` after each stage.

    A warm-up step creates the AdamW state; the measured step then starts from weights and optimizer state alone
    (gradients set to None). ``activations``: what the forward pass adds (what it saves for backward, plus logits and
    loss); ``gradients``: what the backward pass leaves; ``peak``: the step's high-water mark, optimizer included."""
    memory.check_method(method)
    if autocast not in AUTOCAST:
        raise ValueError(f"unknown autocast {autocast!r}; choose from {AUTOCAST}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if not torch.cuda.is_available():
        raise RuntimeError("hwlib.memory.gpu.step needs a CUDA device; torch.cuda.is_available() is False here")
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


def provenance() -> dict:
    return {**versions(("torch", "transformers")), "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(),
            "device_memory_bytes": torch.cuda.get_device_properties(0).total_memory,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}


def store(path=None, cases=CASES, adapter_size: int = 64, log=print) -> Path:
    """Measure every case with ``step`` and write them, with provenance, atomically to ``path``."""
    started, rows = time.perf_counter(), []
    for name, method, b, s, autocast, optimizer in cases:
        t = time.perf_counter()
        m = step(ENCODERS[name], method, b, s, adapter_size, autocast, optimizer)
        rows.append({"encoder": name, "method": method, "b": b, "s": s, "autocast": autocast,
                     "optimizer": optimizer, "adapter_size": adapter_size, "measured": m})
        log(f"{name} {method} b={b} s={s} autocast={autocast} {optimizer}: peak {m['peak'] / 1e9:.2f} GB "
            f"({time.perf_counter() - t:.1f} s)")
    record = {"cases": rows, "provenance": {**provenance(), "runtime_s": time.perf_counter() - started}}
    return store_memory(record, path)


def load(path=None) -> dict | None:
    """The stored GPU measurements, or None when none are stored."""
    return load_memory(path)


def record(path=None) -> dict:
    """The stored GPU measurements; measured and stored here first if none are stored and a GPU is present."""
    rec = load(path)
    if rec is None and torch.cuda.is_available():
        store(path)
        rec = load(path)
    if rec is None:
        raise FileNotFoundError(f"no GPU measurements at {Path(path) if path else memory_path()} and no CUDA "
                                "device here: run `python -m hwlib cuda-memory` on a machine with a GPU")
    return rec


def comparison(record: dict) -> pd.DataFrame:
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
        pairs += [("peak", pred["step_peak"], meas["peak"]),
                  ("sum of the four vs peak", pred["total"], meas["peak"])]
        for quantity, p, m in pairs:
            rows.append({"encoder": c["encoder"], "method": c["method"], "b": c["b"], "s": c["s"],
                         "autocast": c["autocast"] or "-", "optimizer": c["optimizer"], "recipe": precision,
                         "quantity": quantity, "predicted": p, "measured": m, "rel_error": rel_error(p, m)})
    return pd.DataFrame(rows)
