"""The recipe files: the settings a sweep chose on dev, per model, method and dataset, in
``results/recipes/<name>.json`` (``path``, ``read``, ``write``)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from hwlib.files import StoreError, read_json, results_root, write_json_atomic


def recipes_dir() -> Path:
    return results_root() / "recipes"


def path(name: str) -> Path:
    return recipes_dir() / f"{name}.json"


def read(name: str) -> list[dict] | None:
    """The recipes of file ``name``, checked (each with model, method, dataset and settings), or ``None`` if the
    file does not exist."""
    p = path(name)
    if not p.is_file():
        return None
    recipes = read_json(p, "recipe file", required=("recipes",))["recipes"]
    bad = [i for i, r in enumerate(recipes)
           if not isinstance(r, dict) or not {"model", "method", "dataset", "settings"} <= set(r)]
    if bad:
        raise StoreError(f"recipe file {p}: recipe(s) {bad} lack model, method, dataset or settings")
    return recipes


def write(name: str, recipes: list[dict], command: str) -> Path:
    """Add ``recipes`` to ``results/recipes/<name>.json`` (written atomically): a recipe for the same model, method
    and dataset replaces the one there, the others stay, so sweeps over different methods or datasets can share a
    name. Each recipe keeps the command of the sweep that chose it, and its date."""
    old = read(name) or []
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    new = [r | {"command": command, "date": date} for r in recipes]
    keys = {(r["model"], r["method"], r["dataset"]) for r in new}
    kept = [r for r in old if (r["model"], r["method"], r["dataset"]) not in keys]
    return write_json_atomic(path(name), {"name": name, "chosen_by": "mean dev macro-F1 over the sweep's seeds",
                                    "recipes": kept + new})


def stored_recipes(name: str, model: str, methods) -> list[dict]:
    """The recipes of ``results/recipes/<name>.json`` for ``model`` and ``methods`` (those chosen so far; none if
    the file is missing), in the file's order."""
    return [r for r in read(name) or [] if r["model"] == model and r["method"] in methods]
