"""One-off migration of results/runs from schema 1 to schema 2 (run once, in the commit that introduced schema 2).

Schema 2 keys a run by its identity (model, dataset, method, seed and the settings that differ from the defaults)
instead of every field of RunConfig, so that adding a setting no longer changes every key, and it records the
checksums of the data files a run read. The schema-1 runs were trained on byte copies of the original files (the
shared/data copies, whose md5s equal those registered in hwlib.data.SOURCES), so the registered md5s are recorded for
them, marked as added by this migration. Metrics, curves and provenance are copied unchanged (checked below).

    python scripts/migrate_results_schema2.py [results/runs]
"""
import json
import sys
from pathlib import Path

from hwlib.train.config import RunConfig
from hwlib.data import SOURCES, TASKS, task_file_names, parse_names
from hwlib.store.runs import SCHEMA_VERSION, ResultStore, read_record


def original_fingerprint(dataset: str) -> dict:
    files = {}
    for name in parse_names(dataset):
        folder = TASKS[name.rsplit("_", 1)[0]][0]
        for f in task_file_names(name.rsplit("_", 1)[0], split_dev=False).values():
            files[f"{folder}/{f}"] = SOURCES[(folder, f)].md5
    return {"files": dict(sorted(files.items())), "modified": []}


def migrate(root: Path) -> int:
    store, n = ResultStore(root), 0
    for old_path in sorted(root.glob("*.json")):
        old = json.loads(old_path.read_text())
        if old.get("schema") == SCHEMA_VERSION:
            continue
        assert old.get("schema") == 1, old_path
        config = RunConfig(**old["config"])
        data = original_fingerprint(config.dataset)
        new = {k: v for k, v in old.items() if k not in ("schema", "key")}
        new["data"] = {**old["data"], "fingerprint_note": "added by scripts/migrate_results_schema2.py: the md5s "
                       "registered in hwlib.data.SOURCES, which the copies this run was trained on match"}
        new_path = store.put(config, new, data)
        back = read_record(new_path)
        for k in ("config", "metrics", "eval_history", "train_curve", "timing", "params", "memory", "provenance"):
            assert back[k] == old[k], (old_path, k)
        if new_path != old_path:
            old_path.unlink()
        n += 1
    return n


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/runs")
    print(f"migrated {migrate(root)} run(s) in {root}")
