"""Put stored predictions back in their split's order (a one-off repair, safe to run again).

Runs stored by hwlib between the commit that added per-example predictions and the one that reordered them kept
their predictions in the order the Trainer evaluated the rows: with length-grouped batches, a seeded permutation of
the split. That permutation is reproducible (``hwlib.train.record.eval_order``), so each such record is reordered and
checked: its labels must come back as the split's. A record already in order is left as it is; one that cannot be
put in order is reported and left as it is.

    python scripts/reorder_predictions.py [results/runs]
"""
import json
import sys
from pathlib import Path

import numpy as np

from hwlib.train.config import RunConfig
from hwlib.models.encoders import load_tokenizer
from hwlib.train.record import eval_order
from hwlib.files import write_json_atomic
from hwlib.train.inputs import load_splits, tokenize


def reorder(rec: dict) -> str:
    cfg = RunConfig(**rec["config"])
    tokenizer = load_tokenizer(cfg.model)
    tok = tokenize(cfg, tokenizer, load_splits(cfg, tokenizer.sep_token))
    said = []
    for split, p in rec["predictions"].items():
        gold = np.asarray(tok[split]["label"][:])
        if p["label"] == gold.tolist():
            said.append(f"{split}: in order")
            continue
        order = eval_order(tok[split], cfg.seed, cfg.group_by_length)
        fixed = {}
        for key in ("label", "pred", "prob"):
            values = np.asarray(p[key])
            back = np.empty_like(values)
            back[order] = values
            fixed[key] = back.tolist()
        if fixed["label"] != gold.tolist():
            return f"{split}: cannot be put in order, left as it is"
        p.update(fixed)
        said.append(f"{split}: reordered")
    return ", ".join(said)


def main(root="results/runs"):
    for path in sorted(Path(root).glob("*.json")):
        rec = json.loads(path.read_text())
        if "predictions" not in rec:
            continue
        before = json.dumps(rec["predictions"], sort_keys=True)
        said = reorder(rec)
        if json.dumps(rec["predictions"], sort_keys=True) != before:
            write_json_atomic(path, rec)
        print(f"{path.name}: {said}")


if __name__ == "__main__":
    main(*sys.argv[1:])
