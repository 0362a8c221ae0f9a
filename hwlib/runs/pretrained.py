"""Load or pretrain: the one path to a task-adapted encoder's checkpoint, shaped like ``hwlib.runs.run``: the cached
checkpoint if it is there, else pretrain it (and store its record) if ``train`` allows, else an error naming what is
missing and the command that makes it."""
from __future__ import annotations

from hwlib.models.tapt import PretrainConfig, checkpoint_dir, parse
from hwlib.store import pretrainings
from hwlib.train.pretrain import CROSS_DOMAINS, pretrain


def checkpoint(name: str | PretrainConfig, train: bool = True, progress: bool = True,
               cross_domains=CROSS_DOMAINS) -> str:
    """The directory of the pretrained encoder ``name`` (``minilm+tapt:acl_sup``, or its ``PretrainConfig``),
    pretraining it first (and storing its record) when it is missing and ``train`` allows; otherwise
    ``FileNotFoundError`` saying how to make it. A checkpoint made again (its record stored, the cache emptied) keeps
    the first record and adds the re-make to it (``pretrainings.remade``)."""
    config = name if isinstance(name, PretrainConfig) else parse(name)
    if config is None:
        raise ValueError(f"{name!r} is not a task-adapted encoder's name (BASE+tapt:TASK[:eEPOCHS][:nTEXTS])")
    name = config.name()
    path = checkpoint_dir(config)
    if (path / "model.safetensors").is_file():
        return str(path)
    if not train:
        raise FileNotFoundError(f"the pretrained encoder {name!r} is not in {path.parent} and training is not "
                                f"allowed here; pretrain it with `python -m hwlib pretrain --model {name}`")
    record, before = pretrain(config, progress=progress, cross_domains=cross_domains), pretrainings.get(config)
    pretrainings.put(config, pretrainings.remade(before, record) if before else record)
    return str(path)


def ensure(model: str, train: bool = True, progress: bool = True) -> None:
    """For a fine-tuning run of ``model``: its pretrained encoder made first where it is a task-adapted one."""
    if parse(model) is not None:
        checkpoint(model, train=train, progress=progress)


stored = pretrainings.get
