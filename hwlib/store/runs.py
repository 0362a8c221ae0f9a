"""Stored runs: one JSON file per run under ``results/runs``, keyed by a stable hash of what names the run.

The key hashes the run's identity (model, dataset, method, seed and only the settings that differ from the course's
defaults, ``RunConfig.identity``), so adding a setting to ``RunConfig`` leaves every stored run's key as it was. A run
trained on modified data (``HWLIB_ALLOW_MODIFIED_DATA=1``) has the data's checksums in its key too: it is stored
beside, never over, the run on the original data.

A file is written to a temporary name in the same directory and renamed into place, so a run that is interrupted
leaves nothing behind, and a reader never sees half a file. A file that cannot be read as a run record (not JSON,
fields missing, another schema) is an error that names the file and how to recover, and so is a record whose data
checksums differ from the files on disk now: neither is ever silently reused.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from hwlib.files import StoreError, read_json, recover_hint, results_root, write_json_atomic
from hwlib.train.record import FIELDS

SCHEMA_VERSION = 2
REQUIRED = FIELDS  # the record's own fields (hwlib.train.record.assemble)


def config_key(config, data: dict | None = None) -> str:
    """A stable short hash of the run's identity (``RunConfig.identity``) and the schema version, and of the data's
    checksums when ``data`` (a ``hwlib.data.fingerprint``) lists modified files."""
    blob = {"schema": SCHEMA_VERSION, "config": config.identity()}
    if data and data.get("modified"):
        blob["data"] = data["files"]
    text = json.dumps(blob, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_record(path: Path) -> dict:
    """One stored run, checked: valid JSON, this schema, every required field; else ``StoreError`` naming the file."""
    rec = read_json(path, "stored run")
    if rec.get("schema") != SCHEMA_VERSION:
        raise StoreError(f"stored run {path} has schema {rec.get('schema')!r}, but this hwlib reads schema "
                         f"{SCHEMA_VERSION}. {recover_hint(path)}")
    missing = [k for k in REQUIRED if k not in rec] + [f"data.{k}" for k in ("files", "modified")
                                                        if k not in rec.get("data", {})]
    if missing:
        raise StoreError(f"stored run {path} lacks the field(s) {missing}. {recover_hint(path)}")
    return rec


class ResultStore:
    """A folder of run records: ``<model>__<dataset>__<method>__s<seed>__<key>.json``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else results_root() / "runs"

    def path(self, config, data: dict | None = None) -> Path:
        model = re.sub(r"[^A-Za-z0-9._+-]", "_", config.model)  # "/" of hub ids, ":" of TAPT names: portable names
        name = (f"{model}__{config.dataset.replace(',', '+')}__{config.method}__s{config.seed}__"
                f"{config_key(config, data)}.json")
        return self.root / name

    def get(self, config, data: dict) -> dict | None:
        """The stored record of ``config`` trained on ``data`` (a ``hwlib.data.fingerprint``), or ``None``."""
        p = self.path(config, data)
        if not p.is_file():
            return None
        rec = read_record(p)
        if rec["data"]["files"] != data["files"]:
            changed = sorted(f for f in set(rec["data"]["files"]) | set(data["files"])
                             if rec["data"]["files"].get(f) != data["files"].get(f))
            raise StoreError(
                f"stored run {p} was trained on data that differs from the files on disk now ({', '.join(changed)}: "
                f"stored md5 {[rec['data']['files'].get(f) for f in changed]}, now "
                f"{[data['files'].get(f) for f in changed]}). It is not reused: restore the data it was trained "
                f"on, or retrain it (--retrain, or retrain=True) to replace it.")
        return rec

    def put(self, config, record: dict, data: dict) -> Path:
        record = {**record, "schema": SCHEMA_VERSION, "key": config_key(config, data),
                  "data": {**record.get("data", {}), **data}}
        return write_json_atomic(self.path(config, data), record)

    def all(self) -> list[dict]:
        """Every stored record (checked as ``read_record`` does)."""
        return [read_record(p) for p in sorted(self.root.glob("*.json"))] if self.root.is_dir() else []
