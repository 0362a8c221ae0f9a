"""The original report's memory accounting, reproduced exactly: 10 bytes per parameter (2 weight + 2 gradient + 4
Adam + 2 "activations, one times the parameters"); adapters carved out of the 3B and charged 2 + 4 bytes. The
corrected accounting is ``hwlib.memory.model``'s."""
from __future__ import annotations

import sympy as sp

from hwlib.memory.model import GB, L, P, adapter_parameters, check_method, total_adapter_parameters

REPORT = {"P": 3 * 10**9, "L": 24, "H": 3230, "m": 64}  # the report's 3B model, its rounded H, its adapter size
REPORT_BYTES = {"weights": 2, "gradients": 2, "optimizer": 4, "activations": 2}  # per parameter (fp16, Adam 2x2)


def report_hidden_size(params=P, layers=L):
    """The H that solves ``params = layers * 12 H^2`` (the report's 12 H^2 per layer, embeddings ignored)."""
    return sp.sqrt(sp.sympify(params) / (12 * sp.sympify(layers)))


def report_memory(method="full", params=P, adapter_params=None) -> dict:
    """The report's bytes by component. Full: every parameter pays weights, gradients, Adam and "activations, one
    times the parameters". Adapters: all ``params`` (the adapters counted inside them) keep weights and
    activations; only the adapters pay gradients and Adam states."""
    check_method(method)
    params = sp.sympify(params)
    if method == "full":
        out = {k: params * v for k, v in REPORT_BYTES.items()}
    else:
        n = total_adapter_parameters() if adapter_params is None else sp.sympify(adapter_params)
        out = {k: (params if k in ("weights", "activations") else n) * v for k, v in REPORT_BYTES.items()}
    out["total"] = sum(out.values())
    return out


def report_figures(params=REPORT["P"], layers=REPORT["L"], hidden=REPORT["H"], size=REPORT["m"]) -> dict:
    """Every figure of the report's derivation, as exact SymPy numbers (GB = 10**9 bytes)."""
    n_adapters = total_adapter_parameters(layers, hidden, size)
    full = report_memory("full", params)["total"]
    adapters = report_memory("adapter", params, n_adapters)["total"]
    return {
        "full_GB": full / GB,
        "hidden_exact": report_hidden_size(params, layers),
        "hidden_rounded": hidden,
        "adapter_params": adapter_parameters(hidden, size),
        "total_adapter_params": n_adapters,
        "trainable_percent": sp.Rational(100) * n_adapters / params,
        "adapters_GB": adapters / GB,
        "saved_GB": (full - adapters) / GB,
        "saved_percent": sp.Rational(100) * (full - adapters) / full,
    }
