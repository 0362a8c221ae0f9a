"""What the classification head reads, and how its loss weighs the classes.

BERT's classifier reads the **pooler**: ``tanh(W h_[CLS] + b)``, a layer that BERT pretrained on next-sentence
prediction. all-MiniLM-L6-v2 was trained differently: as a sentence-transformers model, whose sentence vector is the
**mean** of the token vectors (``1_Pooling/config.json`` in its package: ``pooling_mode_mean_tokens``). Its [CLS]
vector and pooler were never trained to summarise a sentence, so a head on them starts from a poor representation.
``use_mean_pooling`` gives the head the representation the checkpoint was trained for.

``weighted_cross_entropy`` weighs each class by the inverse of its training frequency (scikit-learn's "balanced"
weights), so that on imbalanced sets such as ACL-ARC (half the examples are *Background*) the rare classes, which
macro-F1 counts as much as the frequent one, are not drowned out.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MeanPooler(nn.Module):
    """The mean of the token vectors where ``attention_mask`` is 1; replaces
    BERT's pooler.

    BERT calls its pooler with the hidden states only, so ``use_mean_pooling``
    hands this module the batch's attention mask (a forward pre-hook on the
    model) before the encoder runs.
    """

    def __init__(self):
        super().__init__()
        self.mask: torch.Tensor | None = None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            raise RuntimeError("MeanPooler needs the attention mask: "
                               "call the model with attention_mask=...")
        m = self.mask.unsqueeze(-1).to(hidden_states.dtype)
        return (hidden_states * m).sum(1) / m.sum(1).clamp(min=1.0)


def use_mean_pooling(model: nn.Module) -> nn.Module:
    """Make ``model``'s classifier read the mean of the token vectors instead
    of the [CLS] pooler (in place).

    Supported where the head reads the encoder's pooler output: BERT-style
    models (BERT, SciBERT, MiniLM). The pretrained pooler's weights are
    dropped: nothing reads them any more.
    """
    base = model.base_model
    if getattr(base, "pooler", None) is None or model.config.model_type != "bert":
        raise ValueError(
            f"pooling='mean' needs a BERT-style model whose classifier reads the "
            f"pooler output; {type(model).__name__} ({model.config.model_type}) "
            f"reads its own head")
    pooler = MeanPooler()
    base.pooler = pooler

    def hand_over_mask(module, args, kwargs):
        pooler.mask = kwargs.get("attention_mask")
        if pooler.mask is None:  # no padding: every token counts
            ids = kwargs.get("input_ids", args[0] if args else None)
            pooler.mask = torch.ones(ids.shape[:2], device=ids.device)

    model.register_forward_pre_hook(hand_over_mask, with_kwargs=True)
    return model


def balanced_class_weights(labels, num_classes: int) -> torch.Tensor:
    """``n / (k * count_c)`` per class ``c`` (scikit-learn's ``class_weight="balanced"``)."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(float)
    if (counts == 0).any():
        raise ValueError(f"every class needs a training example for balanced weights; counts {counts.tolist()}")
    return torch.tensor(counts.sum() / (num_classes * counts), dtype=torch.float32)


def weighted_cross_entropy(weights: torch.Tensor):
    """A ``compute_loss_func`` for ``Trainer``: cross-entropy with per-class ``weights``."""

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        return nn.functional.cross_entropy(logits.float(), labels, weight=weights.to(logits.device))

    return loss
