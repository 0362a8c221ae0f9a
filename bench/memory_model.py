"""Benchmark of the memory chapter: hwlib.memory's predictions against measurement, component by component.

    python bench/memory_model.py

Prints one table (parameter counts on the meta device, weights/gradients/AdamW state after a step, activations
saved for backward at several (b, s), full and with adapters) and, as its last line, ``SUMMARY {json}`` with
``max_rel_error`` (whole-model formulas) and the chapter's headline figures. Runs on the CPU in well under a minute.
The GPU rows (MiniLM and the 3B-class encoder, one fp32 training step) come from the measurements stored by
``python -m hwlib cuda-memory`` in ``results/memory/cuda.json`` (measured here instead when a GPU is present and
nothing is stored); their errors are in ``max_rel_error_cuda_fp32`` and ``max_rel_error_cuda_peak``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from hwlib import memory  # noqa: E402
from hwlib.memory import gpu as memory_gpu  # noqa: E402
from hwlib.memory import measure  # noqa: E402


GRID = ((1, 32), (4, 64), (2, 128), (1, 256))  # (b, s) of the activation checks


def main() -> dict:
    start = time.perf_counter()
    params = measure.parameter_rows()
    states = measure.state_rows()
    acts = measure.activation_rows(grid=GRID)
    rows = [("parameters", r.quantity, r.predicted, r.measured, r.rel_error) for r in params.itertuples()]
    rows += [("states (fp32)", r.quantity, r.predicted, r.measured, r.rel_error) for r in states.itertuples()]
    for r in acts.itertuples():
        rows.append(("activations", f"{r.method} b={r.b} s={r.s}", r.predicted, r.measured, r.err_predicted))
        rows.append(("activations, layers only", f"{r.method} b={r.b} s={r.s}", r.layers_only, r.measured,
                     r.err_layers_only))
    cuda = memory_gpu.comparison(memory_gpu.record())
    cuda = cuda[(cuda.autocast == "-") & (cuda.quantity != "peak vs all four")]
    for r in cuda.itertuples():
        rows.append((f"GPU fp32, {r.quantity}", f"{r.encoder} {r.method} b={r.b} s={r.s} {r.optimizer}", r.predicted,
                     r.measured, r.rel_error))
    table = pd.DataFrame(rows, columns=["component", "case", "predicted", "measured", "rel_error"])
    print(table.to_string(index=False, formatters={"predicted": "{:,.0f}".format, "measured": "{:,.0f}".format,
                                                   "rel_error": "{:.2e}".format}))

    fig = memory.report_figures()
    corrected = {m: memory.evaluate(memory.training_memory(memory.BERT_3B, m, "mixed"), b=16, s=256)["peak"]
                 for m in memory.METHODS}  # the step's peak (the sum of the four is only an upper bound)
    whole = table[~table.component.str.endswith("layers only")]
    summary = {
        "max_rel_error": float(whole.rel_error.max()),
        "max_rel_error_parameters": float(params.rel_error.max()),
        "max_rel_error_states": float(states.rel_error.max()),
        "max_rel_error_activations": float(acts.err_predicted.max()),
        "max_rel_error_activations_layers_only": float(acts.err_layers_only.max()),
        "max_rel_error_cuda_fp32": float(cuda[cuda.quantity != "peak"].rel_error.max()),
        "max_rel_error_cuda_peak": float(cuda[cuda.quantity == "peak"].rel_error.max()),
        "checks": len(whole),
        "report_full_GB": float(fig["full_GB"]),
        "report_adapters_GB": round(float(fig["adapters_GB"]), 4),
        "corrected_3b_full_peak_GB_b16_s256": round(corrected["full"] / memory.GB, 3),
        "corrected_3b_adapters_peak_GB_b16_s256": round(corrected["adapter"] / memory.GB, 3),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print("SUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
