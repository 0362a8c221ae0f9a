"""The names of task-adapted encoders, ``BASE+tapt:TASK[:eEPOCHS][:nTEXTS]`` (``minilm+tapt:acl_sup:e5``): the
grammar (``parse``), the pretraining configuration a name stands for (``PretrainConfig``), and where its checkpoint
lives (``checkpoint_dir``: ``$HWLIB_CACHE_DIR/pretrained/<key>/encoder``). Pretraining itself is
``hwlib.train.pretrain``; loading a checkpoint or pretraining it when it is missing, ``hwlib.runs.pretrained``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from hwlib.data import parse_names
from hwlib.files import cache_root

NAME = re.compile(r"^(?P<base>[^+:]+)\+tapt:(?P<dataset>[a-z_]+)(?::e(?P<epochs>\d+))?(?::n(?P<samples>\d+))?$")
@dataclass(frozen=True)
class PretrainConfig:
    """Continued MLM pretraining of ``model`` on the training text of ``dataset``."""

    model: str = "minilm"
    dataset: str = "acl_sup"
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.06
    mlm_probability: float = 0.15
    max_length: int = 256
    seed: int = 0
    max_train_samples: int | None = None  # a seeded sample of the training text (smoke runs)

    def __post_init__(self):
        parse_names(self.dataset)  # a clear error for an unknown task
        for name in ("epochs", "batch_size", "max_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} (an integer >= 1)")

    def key(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def name(self) -> str:
        default = PretrainConfig(model=self.model, dataset=self.dataset)
        epochs = "" if self.epochs == default.epochs else f":e{self.epochs}"
        samples = "" if self.max_train_samples is None else f":n{self.max_train_samples}"
        name = f"{self.model}+tapt:{self.dataset}{epochs}{samples}"
        # a configuration that differs in other settings (a test's smaller batch) has no model name: its key tells it
        return name if parse(name) == self else f"{name}@{self.key()}"


def parse(name: str) -> PretrainConfig | None:
    """The ``PretrainConfig`` a model name asks for, or ``None`` for a plain model name."""
    if not isinstance(name, str) or "+tapt" not in name:
        return None
    m = NAME.match(name)
    if m is None:
        raise ValueError(f"model name {name!r}: write BASE+tapt:TASK[:eEPOCHS][:nTEXTS], e.g. "
                         f"'minilm+tapt:acl_sup', 'minilm+tapt:acl_sup:e5' or 'minilm+tapt:agnews_sup:n1688' "
                         f"(a seeded sample of 1688 training texts)")
    epochs = {"epochs": int(m["epochs"])} if m["epochs"] else {}
    samples = {"max_train_samples": int(m["samples"])} if m["samples"] else {}
    return PretrainConfig(model=m["base"], dataset=m["dataset"], **epochs, **samples)


def checkpoint_dir(config: PretrainConfig) -> Path:
    """Where the encoder pretrained as ``config`` is saved (safetensors), whether or not it exists yet."""
    return cache_root() / "pretrained" / config.key() / "encoder"
