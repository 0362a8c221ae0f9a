"""Where hwlib keeps files, and how it writes and reads them: the bottom layer, imported by every other.

Two roots: the **results** root (``$HWLIB_RESULTS_DIR``, else the repository's ``results/``), which is committed
and holds every stored run, pretraining record, recipe and summary; and the **cache** root (``$HWLIB_CACHE_DIR``, else
``~/.cache/hwlib``), never committed, which holds downloaded data (``data/``), pretrained checkpoints
(``pretrained/``) and the per-machine precision choice (``precision.json``).

A file is written to a temporary name in its folder and renamed into place (``write_json_atomic``), so an
interrupted write leaves nothing behind and a reader never sees half a file. A stored file that cannot be read is
a ``StoreError`` naming the file and how to recover (``read_json``).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

RESULTS_ENV = "HWLIB_RESULTS_DIR"
CACHE_ENV = "HWLIB_CACHE_DIR"


class StoreError(RuntimeError):
    """A stored file that cannot be used as it is."""


def results_root() -> Path:
    """``$HWLIB_RESULTS_DIR``, else the repository's ``results/`` (beside the ``hwlib`` package), else ``./results``."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "results"
    return repo if repo.is_dir() else Path("results")


def cache_root() -> Path:
    """``$HWLIB_CACHE_DIR``, else ``~/.cache/hwlib``: data downloads, pretrained checkpoints, the precision choice."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hwlib")


def write_json_atomic(path: Path, obj) -> Path:
    """``obj`` as indented JSON at ``path``, all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def recover_hint(path: Path) -> str:
    return (f"Remove {path} to make it again, or restore it with `git checkout -- {path}` if it is a "
            f"committed file.")


def read_json(path: Path, kind: str, required=()) -> dict:
    """A stored JSON object, checked: valid JSON, an object, every ``required`` field; else ``StoreError`` naming
    the file, what it should be (``kind``: "stored run", "pretraining record", ...) and how to recover."""
    try:
        obj = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StoreError(f"{kind} {path} is not valid JSON ({e}). {recover_hint(path)}") from None
    if not isinstance(obj, dict):
        raise StoreError(f"{kind} {path} holds a JSON {type(obj).__name__}, not an object. {recover_hint(path)}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise StoreError(f"{kind} {path} lacks the field(s) {missing}. {recover_hint(path)}")
    return obj
