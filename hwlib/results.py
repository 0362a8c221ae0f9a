"""Stored runs: one JSON file per run under ``results/runs``, keyed by a stable hash of its configuration.

A file is written to a temporary name in the same directory and renamed into place, so a run that is interrupted
leaves nothing behind, and a reader never sees half a file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1


def default_results_dir() -> Path:
    """``HWLIB_RESULTS_DIR``, else the repository's ``results/`` (beside the ``hwlib`` package), else ``./results``."""
    env = os.environ.get("HWLIB_RESULTS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "results"
    return repo if repo.is_dir() else Path("results")


def config_key(config) -> str:
    """A stable short hash of a configuration (a dataclass or a dict) and the schema version."""
    d = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    blob = json.dumps({"schema": SCHEMA_VERSION, "config": d}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def write_json_atomic(path: Path, obj) -> Path:
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


class ResultStore:
    """A folder of run records: ``<model>__<dataset>__<method>__s<seed>__<key>.json``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_results_dir() / "runs"

    def path(self, config) -> Path:
        c = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        model = str(c["model"]).replace("/", "_")
        name = f"{model}__{c['dataset'].replace(',', '+')}__{c['method']}__s{c['seed']}__{config_key(config)}.json"
        return self.root / name

    def get(self, config) -> dict | None:
        p = self.path(config)
        if not p.is_file():
            return None
        record = json.loads(p.read_text())
        return record if record.get("schema") == SCHEMA_VERSION else None

    def put(self, config, record: dict) -> Path:
        record = {**record, "schema": SCHEMA_VERSION, "key": config_key(config)}
        return write_json_atomic(self.path(config), record)

    def all(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.glob("*.json")):
            rec = json.loads(p.read_text())
            if rec.get("schema") == SCHEMA_VERSION:
                out.append(rec)
        return out

    def frame(self):
        """One row per stored run: the config, the final test metrics and the headline timings."""
        import pandas as pd

        rows = []
        for r in self.all():
            rows.append({
                **r["config"], **r["metrics"],
                "final_train_loss": r["final_train_loss"],
                "train_runtime_s": r["timing"]["train_runtime_s"],
                "examples_per_s": r["timing"]["train_examples_per_s"],
                "epoch_s": r["timing"]["mean_epoch_s"],
                "total_params": r["params"]["total"], "trainable_params": r["params"]["trainable"],
                "peak_memory_bytes": r["memory"]["peak_bytes"], "device": r["provenance"]["device"],
            })
        return pd.DataFrame(rows)
