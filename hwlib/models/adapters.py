"""Bottleneck adapters (Houlsby et al., 2019), as in the report: two per transformer layer.

An adapter is ``x + up(relu(down(x)))`` with ``down: H -> m`` and ``up: m -> H``. One sits after the attention output
projection and one after the feed-forward output projection, each before the residual add and LayerNorm::

    h = LayerNorm(x + Adapter(Dropout(Dense(attention(x)))))     # attention block
    y = LayerNorm(h + Adapter(Dropout(Dense(GELU(Dense(h))))))   # feed-forward block

Each layer's two ``output.dropout`` modules (BERT and RoBERTa share this layout) are wrapped in ``WithAdapter``, so
the pretrained model's own parameter names are untouched and the adapters appear as
``...attention.output.dropout.adapter.*`` and ``...output.dropout.adapter.*``. ``up`` starts at zero, so the adapted model computes
exactly what the pretrained model computes until training moves it.
"""
from __future__ import annotations

import torch
from torch import nn


class Adapter(nn.Module):
    """Down-projection, ReLU, up-projection, residual: 2*H*m + H + m parameters."""

    def __init__(self, hidden_size: int, size: int = 64, init_std: float = 1e-3):
        super().__init__()
        self.down = nn.Linear(hidden_size, size)
        self.up = nn.Linear(size, hidden_size)
        nn.init.normal_(self.down.weight, std=init_std)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # identity at start
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(torch.relu(self.down(x)))


class WithAdapter(nn.Module):
    """The sub-layer's dropout followed by an adapter; replaces ``output.dropout``."""

    def __init__(self, dropout: nn.Module, adapter: Adapter):
        super().__init__()
        self.dropout, self.adapter = dropout, adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.dropout(x))


def _layers(model: nn.Module):
    base = getattr(model, model.base_model_prefix, model)
    try:
        return list(base.encoder.layer)
    except AttributeError:
        raise TypeError(
            f"add_adapters supports BERT-style encoders (model.<base>.encoder.layer[i].attention.output / .output); "
            f"got {type(model).__name__}"
        ) from None


def add_adapters(model: nn.Module, size: int = 64, train_layernorm: bool = False,
                 train_pooler: bool = False) -> nn.Module:
    """Insert two adapters per layer; freeze all but the adapters and the head.

    ``train_layernorm=True`` also trains the LayerNorms, as Houlsby et al. did;
    the report (and the default) keeps them frozen. ``train_pooler=True`` also
    trains BERT's pooler (the dense + tanh layer the classifier reads), which
    belongs to the head more than to the encoder. Returns the same model,
    modified in place.
    """
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"adapter size must be a positive integer, got {size!r}")
    hidden = model.config.hidden_size
    for layer in _layers(model):
        for block in (layer.attention.output, layer.output):
            if isinstance(block.dropout, WithAdapter):
                raise ValueError("this model already has adapters")
            weight = block.dense.weight
            adapter = Adapter(hidden, size).to(weight.device, weight.dtype)
            # before the residual add and LayerNorm
            block.dropout = WithAdapter(block.dropout, adapter)
    heads = ("classifier", "pre_classifier", "score")
    pooler = f"{model.base_model_prefix}.pooler."
    for name, p in model.named_parameters():
        p.requires_grad = (
            "adapter" in name
            or name.startswith(heads)
            or (train_layernorm and "LayerNorm" in name)
            or (train_pooler and name.startswith(pooler))
        )
    return model


def count_parameters(model: nn.Module) -> dict:
    """Total, trainable and added (``adapter``: the adapters' or LoRA's) parameter counts, each parameter once."""
    seen, total, trainable, adapter = set(), 0, 0, 0
    for name, p in model.named_parameters():
        if id(p) in seen or ".original_module." in name:  # peft's frozen copy of a head it trains
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        adapter += p.numel() if ("adapter" in name or "lora_" in name) else 0
    return {"total": total, "trainable": trainable, "adapter": adapter, "trainable_fraction": trainable / total}


def adapter_parameter_count(num_layers: int, hidden_size: int, size: int) -> int:
    """The closed form: two adapters per layer, each 2*H*m + H + m."""
    return 2 * num_layers * (2 * hidden_size * size + hidden_size + size)
