"""Tables and figures of the memory model: a quantity swept over one symbol, and memory stacked by component."""
from __future__ import annotations

from hwlib.memory.model import GB, evaluate


def sweep(memories: dict, var: str, values, unit=GB, key="peak", **fixed):
    """A table of each labelled ``training_memory``'s ``key`` (the step peak, or the ``total``) in ``unit`` as
    ``var`` runs over ``values``."""
    import pandas as pd

    rows = {label: [evaluate({"t": mem[key]}, **{var: v}, **fixed)["t"] / unit for v in values]
            for label, mem in memories.items()}
    return pd.DataFrame(rows, index=pd.Index(list(values), name=var))


COMPONENTS = ("weights", "optimizer", "gradients", "activations")


def plot_stacked(answers: dict, ax=None, unit=GB):
    """Bars of memory by component, one pair (full, adapter) per answer: ``answers`` maps a label to
    ``{method: {component: bytes, ..., "peak": bytes or None}}``. The components are stacked; a black tick marks the
    step's peak where the answer has one (it sits below the stack: activations and gradients are not all held at
    once)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.4, 3.8))
    x, ticks, peak_labelled = 0.0, [], False
    for label, by_method in answers.items():
        for method in ("full", "adapter"):
            parts = by_method[method]
            bottom = 0.0
            for i, comp in enumerate(COMPONENTS):
                h = parts.get(comp, 0.0) / unit
                ax.bar(x, h, 0.8, bottom=bottom, color=f"C{i}", label=comp if x == 0 else None)
                bottom += h
            if parts.get("peak") is not None:
                ax.plot([x - 0.4, x + 0.4], [parts["peak"] / unit] * 2, "k-", lw=2,
                        label=None if peak_labelled else "step peak")
                peak_labelled = True
            ticks.append((x, f"{label}\n{method}".replace(" ", "\n")))  # one word a line: no collisions
            x += 1
        x += 0.6
    ax.set_xticks([t for t, _ in ticks], [name for _, name in ticks], fontsize=9)
    ax.set_ylabel("GB")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9, ncol=3, loc="upper left")
    return ax
