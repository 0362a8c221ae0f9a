"""LoRA (Hu et al., 2021) through Hugging Face ``peft``, beside the hand-written bottleneck adapters.

LoRA leaves each target weight ``W`` (``out x in``) frozen and learns a low-rank update: the layer computes
``W x + (alpha / r) B A x`` with ``A: in -> r`` (random) and ``B: r -> out`` (zero at the start), so the model starts
out computing exactly what the pretrained model computes, as the adapters do. Each target adds ``r (in + out)``
weights. The classification head trains as well (peft's ``modules_to_save``), and so does BERT's pooler with
``train_pooler``, as for the adapters.

peft has no Houlsby adapter, which is why the book writes that one by hand (``hwlib.models.adapters``); AdapterHub's
``adapters`` library would have one, but its releases pin a transformers 4 that this book (transformers 5) cannot use.
"""
from __future__ import annotations

import re

# MiniLM/BERT module names: the attention's query, key, value and output projections, and the feed-forward's two
TARGETS = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
           "attention_output": "attention.output.dense", "intermediate": "intermediate.dense",
           "output": "output.dense"}


def parse_targets(targets: str) -> list[str]:
    """``"query,value"`` -> ``["query", "value"]``, each one of ``TARGETS``."""
    names = [t.strip() for t in targets.split(",") if t.strip()]
    bad = [t for t in names if t not in TARGETS]
    if not names or bad:
        raise ValueError(f"lora_targets={targets!r}: give names from {list(TARGETS)} joined by ','")
    return names


def add_lora(model, rank: int = 8, alpha: float = 16, dropout: float = 0.1,
             targets: str = "query,value", train_pooler: bool = False):
    """``model`` wrapped by ``peft.get_peft_model``: LoRA on ``targets`` in
    every layer, the head trainable."""
    from peft import LoraConfig, get_peft_model

    # a regex on whole module names, so that "output.dense" does not also
    # catch "attention.output.dense"
    names = "|".join(re.escape(TARGETS[t]) for t in parse_targets(targets))
    prefix = re.escape(model.base_model_prefix)
    pattern = rf"{prefix}\.encoder\.layer\.\d+\.({names})"
    trained = ["classifier"] + (["pooler"] if train_pooler else [])
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=pattern, modules_to_save=trained,
                        task_type="SEQ_CLS")
    return get_peft_model(model, config)


def lora_parameter_count(layers: int, hidden: int, rank: int, targets: str = "query,value", ff: int | None = None) -> int:
    """The closed form: ``r (in + out)`` per target and layer; the attention projections are ``H x H``, the
    feed-forward's ``H x H_ff`` and ``H_ff x H`` (``H_ff = 4H`` unless given)."""
    ff = 4 * hidden if ff is None else ff
    sizes = {"query": (hidden, hidden), "key": (hidden, hidden), "value": (hidden, hidden),
             "attention_output": (hidden, hidden), "intermediate": (hidden, ff), "output": (ff, hidden)}
    return layers * sum(rank * sum(sizes[t]) for t in parse_targets(targets))


def parameter_comparison(adapter_size: int = 64, ranks=(64, 8), targets: str = "query,value", num_labels: int = 6,
                         model_name: str = "minilm") -> list[dict]:
    """The added weights of the adapters and of LoRA at each of ``ranks``: the closed form beside the count on the
    real model, and what trains in all (added weights and the head) as a share of the model."""
    import copy

    from hwlib.models.adapters import add_adapters, adapter_parameter_count, count_parameters
    from hwlib.models.encoders import load_model

    base, _ = load_model(model_name, num_labels=num_labels, seed=0)
    layers, hidden = base.config.num_hidden_layers, base.config.hidden_size
    ff = base.config.intermediate_size
    adapted = count_parameters(add_adapters(copy.deepcopy(base), size=adapter_size))
    rows = [{"method": f"adapters, m = {adapter_size}", "closed form": "2 L (2 H m + H + m)",
             "added (closed form)": adapter_parameter_count(layers, hidden, adapter_size),
             "added (counted)": adapted["adapter"], "trainable": adapted["trainable"],
             "trainable %": 100 * adapted["trainable_fraction"]}]
    for r in ranks:
        counted = count_parameters(add_lora(copy.deepcopy(base), rank=r, targets=targets))
        rows.append({"method": f"LoRA, r = {r} on {targets}", "closed form": "r (in + out) per target and layer",
                     "added (closed form)": lora_parameter_count(layers, hidden, r, targets, ff),
                     "added (counted)": counted["adapter"], "trainable": counted["trainable"],
                     "trainable %": 100 * counted["trainable_fraction"]})
    return rows
