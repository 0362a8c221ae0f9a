"""FLOPs and the machine's peak: what a training step must compute, and how fast this machine multiplies matrices.

Model FLOPs utilisation (MFU) divides the first by the second: ``training_flops(N, tokens/s) / matmul peak``, with N
the parameters that act on every token (``token_params``). ``adapter_flop_bound`` gives the best step-time ratio
adapters can reach over full fine-tuning when every matmul runs at the same rate.
"""
from __future__ import annotations

import math
import time

import torch


def matmul_flops(n: int = 4096, dtype: torch.dtype = torch.float32, repeats: int = 1) -> dict:
    """FLOPs per second of an ``n x n`` by ``n x n`` ``torch.matmul`` (2 n^3 FLOPs), best of ``repeats`` after a
    warm-up: ``wall`` per second of wall-clock time, ``cpu`` per second of this process's CPU time (all threads).

    On a machine other programs share, ``wall`` falls with their load; ``cpu`` barely does, so the ratio of a
    workload's FLOPs per CPU-second to the matmul's is an efficiency that the neighbours do not set.
    """
    if not isinstance(n, int) or n < 1 or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"n and repeats must be positive integers, got n={n!r}, repeats={repeats!r}")
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.matmul(a[:64], b)  # warm-up: thread pool and kernels
    wall = cpu = math.inf
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        torch.matmul(a, b)
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return {"wall": 2 * n**3 / wall, "cpu": 2 * n**3 / cpu}


def shaped_matmul_flops(m: int, k: int, n: int, dtype: torch.dtype = torch.float32, repeats: int = 20) -> float:
    """FLOP/s of ``(m x k) @ (k x n)``, best of ``repeats``: what the machine reaches on a training step's shapes."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    torch.matmul(a, b)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * m * k * n / best


def token_params(model) -> dict:
    """Parameters that act on every token (the N of ``6 N tokens``) and in all.

    ``per_token``: the transformer layers' parameters, the N of Kaplan et al. (2020) less the pooler and the
    classifier, which run once per sequence. The embeddings are a table look-up, not a matmul, so they are left out.
    """
    base = getattr(model, model.base_model_prefix, model)
    per_token = sum(p.numel() for p in base.encoder.parameters())
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in base.embeddings.parameters())
    return {"per_token": per_token, "non_embedding": total - embeddings, "total": total}


def training_flops(n_params: int, tokens: float) -> float:
    """Forward (2N) plus backward (4N) FLOPs per token: ``6 N tokens``. Attention scores are not counted."""
    return 6 * n_params * tokens


def adapter_flop_bound(full_model, adapter_model) -> dict:
    """How many times fewer FLOPs per token a training step with adapters needs than full fine-tuning.

    A matmul with N parameters costs 2N forward and 4N backward: 2N for its input's gradient and 2N for its
    weights'. Full fine-tuning: 6N. With adapters, frozen weights need no weight gradients and nothing below the
    first adapter (layer 0's Q, K, V and attention output projection, ``N_below``) needs any backward::

        adapter = 2 (N + Na) + 2 (N + Na - N_below) + 2 Na        bound = 6 N / adapter

    With Na = N_below = 0 the bound is the rule of thumb's 1.5.
    """
    from hwlib.models.adapters import count_parameters

    n = token_params(full_model)["per_token"]
    na = count_parameters(adapter_model)["adapter"]
    attention0 = getattr(adapter_model, adapter_model.base_model_prefix).encoder.layer[0].attention
    n_below = sum(p.numel() for p in [*attention0.self.parameters(), *attention0.output.dense.parameters()])
    adapter = 2 * (n + na) + 2 * (n + na - n_below) + 2 * na
    return {"bound": 6 * n / adapter, "n": n, "n_adapter": na, "n_below": n_below, "bound_no_adapter_cost": 1.5}
