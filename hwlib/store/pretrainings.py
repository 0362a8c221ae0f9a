"""The pretraining records (``results/pretrain/``): what each task-adapted encoder was pretrained on, its loss
curves and held-out MLM loss before and after, the checkpoint's sha256 and provenance. The checkpoint itself is
not stored here but in the cache (``hwlib.models.tapt.checkpoint_dir``); the book shows a pretraining from its record
alone."""
from __future__ import annotations

from pathlib import Path

from hwlib.files import read_json, results_root, write_json_atomic
from hwlib.models.tapt import PretrainConfig, parse

REQUIRED = ("name", "key", "config", "heldout_mlm_loss", "heldout_curve", "train_curve", "data", "timing",
            "checkpoint", "provenance")


def records_dir() -> Path:
    return results_root() / "pretrain"


def path(config: PretrainConfig) -> Path:
    return records_dir() / f"{config.name().replace(':', '_').replace('+', '_')}__{config.key()}.json"


def get(name: str | PretrainConfig) -> dict | None:
    """The stored record of the pretrained encoder ``name`` (``minilm+tapt:acl_sup`` or its ``PretrainConfig``),
    checked, or ``None`` if it was not pretrained yet."""
    p = path(parse(name) if isinstance(name, str) else name)
    return read_json(p, "pretraining record", REQUIRED) if p.is_file() else None


def put(config: PretrainConfig, record: dict) -> Path:
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"a pretraining record needs the fields {list(REQUIRED)}; missing {missing}")
    return write_json_atomic(path(config), record)


def remade(stored: dict, again: dict) -> dict:
    """``stored`` with a summary of ``again``, a later pretraining of the same configuration (its checkpoint had left
    the cache), added under ``remade``: when, where, its checkpoint's sha256, whether that equals the stored one, and
    its held-out MLM loss. The first record stays the record: fine-tuning runs made before read it, and a re-made
    checkpoint that differs in its last bits (fp32 rounding can differ between machines) is said to, not hidden."""
    if (stored["name"], stored["key"]) != (again["name"], again["key"]):
        raise ValueError(f"{again['name']} ({again['key']}) is not a re-make of {stored['name']} ({stored['key']})")
    entry = {"date": again["provenance"]["date"], "device": again["provenance"]["device"],
             "precision": again["provenance"].get("precision"), "sha256": again["checkpoint"]["sha256"],
             "same_checkpoint": again["checkpoint"]["sha256"] == stored["checkpoint"]["sha256"],
             "heldout_mlm_loss": again["heldout_mlm_loss"], "wall_s": again["timing"]["wall_s"]}
    return stored | {"remade": [*stored.get("remade", []), entry]}


def all_records() -> list[dict]:
    """Every stored pretraining record, checked, in file-name order."""
    return [read_json(p, "pretraining record", REQUIRED) for p in sorted(records_dir().glob("*.json"))]
