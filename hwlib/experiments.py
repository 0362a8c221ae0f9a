"""Which runs the book shows, and getting them: the chapters' grids, the command line's presets, loading stored runs
(training the missing ones when allowed) and the commands that train what is missing.

Nothing here needs pandas or matplotlib; the tables and figures made from the records are in ``hwlib.report``.
"""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from . import config as C
from .config import RunConfig
from .data import DATASET_NAMES

# The book's three datasets, by the short names the chapters' parameters use.
BOOK_DATASETS = {"acl": "acl_sup", "restaurant": "restaurant_sup", "agnews": "agnews_sup"}
# Task 2's models: "cpu" runs offline on the embedded MiniLM; "paper" needs the Hugging Face hub.
PROFILES = {"cpu": ["minilm", "minilm-scratch"], "paper": ["bert", "roberta", "scibert"]}
# (model, method) pairs of ``python -m hwlib grid --preset``: Task 2 compares pretrained MiniLM with the same network
# trained from scratch, Task 3 full fine-tuning with adapters.
PRESETS = {
    "book": [("minilm", "full"), ("minilm", "adapter"), ("minilm-scratch", "full")],
    "task2": [("minilm", "full"), ("minilm-scratch", "full")],
    "task3": [("minilm", "full"), ("minilm", "adapter")],
    "paper": [("bert", "full"), ("roberta", "full"), ("scibert", "full")],
}
BATCHING_DATASETS = ("acl_sup", "restaurant_sup")  # where random-batch runs are stored beside the grouped ones
# The recipes chapter's carried-over runs: the recipes chosen on ACL-ARC's dev, trained on the other datasets with
# these changes (AG News: the course's 3 epochs, its epochs being long), for these seeds. The claims chapter reads them.
TRANSFER_FROM, TRANSFER_SEEDS = "acl_sup", [1, 2, 3]
TRANSFER = {"restaurant": {}, "agnews": {"epochs": 3}}


def resolve_datasets(dataset) -> list[str]:
    """``"all"``, a short name (``acl``, ``restaurant``, ``agnews``), a task name, or a list of these."""
    items = list(BOOK_DATASETS) if dataset == "all" else ([dataset] if isinstance(dataset, str) else list(dataset))
    out = []
    for d in items:
        name = BOOK_DATASETS.get(d, d)
        if name not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {d!r}; choose 'all', one of {list(BOOK_DATASETS)}, or one of {DATASET_NAMES}")
        out.append(name)
    return out


def validate(*, profile=None, **settings) -> None:
    """Refuse bad notebook parameters before anything loads: ``profile`` against ``PROFILES``, every other parameter
    as the ``RunConfig`` field it is named after (``hwlib.config.check_parameters``)."""
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile={profile!r}: choose one of {list(PROFILES)}")
    C.check_parameters(**{k: v for k, v in settings.items() if v is not None})


def train_missing_default() -> bool:
    """Missing runs are trained unless ``HWLIB_NO_TRAIN=1`` (set by the test suite so that checking the stored
    notebooks never trains)."""
    return os.environ.get("HWLIB_NO_TRAIN", "0") != "1"


def collect(configs, retrain=False, train_missing=None, store=None, progress=True):
    """The records of ``configs`` through ``hwlib.train.run`` (stored ones load, missing ones train when
    ``train_missing``, by default unless ``HWLIB_NO_TRAIN=1``). Returns ``(records, missing)``."""
    from .train import run

    train_missing = train_missing_default() if train_missing is None else train_missing
    records, missing = [], []
    for c in configs:
        rec = run(c, store=store, retrain=retrain, train=retrain or train_missing, progress=progress)
        (records.append(rec) if rec is not None else missing.append(c))
    return records, missing


# ------------------------------------------------------------------------------------------------ the chapters' grids
def book_configs(models, methods, datasets, seeds, config_cls=RunConfig, **settings) -> list[RunConfig]:
    """The grid a chapter shows, in the order ``python -m hwlib grid`` trains it (seed-major)."""
    return [config_cls(model=m, method=meth, dataset=d, seed=s, **settings)
            for s in seeds for d in datasets for m in models for meth in methods]


def task2_configs(models, datasets, seeds, **settings) -> list[RunConfig]:
    """Task 2: full fine-tuning of each model."""
    return book_configs(models, ["full"], datasets, seeds, **settings)


def task3_configs(model, datasets, seeds, adapter_learning_rate, **settings) -> dict[str, list[RunConfig]]:
    """Task 3: ``"course"``, full fine-tuning and adapters at the course's settings, and ``"adapter_lr"``, the
    adapters at a learning rate of their own (everything else the same)."""
    return {"course": book_configs([model], ["full", "adapter"], datasets, seeds, **settings),
            "adapter_lr": book_configs([model], ["adapter"], datasets, seeds,
                                       **(settings | {"learning_rate": adapter_learning_rate}))}


def batching_configs(dataset, seeds, model="minilm", **settings) -> dict[bool, list[RunConfig]]:
    """Task 2's batching check: full fine-tuning with length-grouped (``True``) and random (``False``) batches."""
    return {g: book_configs([model], ["full"], [dataset], seeds, **(settings | {"group_by_length": g}))
            for g in (True, False)}


def precision_configs(dataset, seeds, model="minilm", **settings) -> dict[str, list[RunConfig]]:
    """The paired precision check: the default full fine-tuning runs (``precision="auto"``, which trained in fp32
    where their records say so: ``hwlib.precision``) and the same runs in bf16 autocast."""
    return {"fp32": book_configs([model], ["full"], [dataset], seeds, **settings),
            "bf16": book_configs([model], ["full"], [dataset], seeds, **(settings | {"precision": "bf16"}))}


# ------------------------------------------------------------------------------------------------ missing runs
def grid_commands(configs) -> list[str]:
    """``python -m hwlib grid`` commands that together train exactly ``configs`` (stored runs are skipped).

    One command per model, method and shared settings, and per set of datasets that its seeds share, so that no
    command's grid reaches beyond the configurations asked for. The settings' flags come from ``RunConfig``'s fields
    (``hwlib.config.flags``).
    """
    groups: dict = {}
    for c in configs:
        by_seed = groups.setdefault(c.replace(dataset="acl_sup", seed=0), {})
        by_seed.setdefault(c.seed, []).append(c.dataset)
    cmds = []
    for key, by_seed in groups.items():
        seeds_of: dict = {}
        for seed, datasets in by_seed.items():
            seeds_of.setdefault(tuple(dict.fromkeys(datasets)), []).append(seed)
        for datasets, seeds in seeds_of.items():
            cmds.append(" ".join([f"python -m hwlib grid --models {key.model} --methods {key.method} --datasets",
                                  *datasets, "--seeds", *map(str, seeds), *C.flags(key)]))
    return cmds


def missing_note(missing) -> str:
    """Markdown: which requested runs are neither stored nor trained, and the command that trains them."""
    if not missing:
        return "All requested runs are stored."
    lines = [f"**{len(missing)} requested run(s) are not stored yet** and were left out of the tables below "
             "(training them takes minutes to hours on a CPU):", ""]
    shared = set.intersection(*(set(c.settings().items()) for c in missing))  # said once, in the commands

    def differs(c):
        return "".join(f", {k}={v:g}" if isinstance(v, float) else f", {k}={v}"
                       for k, v in c.settings().items() if (k, v) not in shared)

    lines += [f"- `{c.model}` {c.method} on `{c.dataset}`, seed {c.seed}{differs(c)}" for c in missing[:12]]
    if len(missing) > 12:
        lines.append(f"- ... and {len(missing) - 12} more")
    lines += ["", "Train them with the command(s) below (a grid skips stored runs), or run this notebook with papermill, "
              "which trains what is missing:", "", "```bash", *grid_commands(missing), "```"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ sweeps and recipes
def recipes_dir() -> Path:
    from .results import default_results_dir

    return default_results_dir() / "recipes"


def parse_vary(items, config_cls=RunConfig) -> dict[str, list]:
    """``["learning_rate=1e-4,3e-4", "pooling=cls,mean"]`` -> ``{"learning_rate": [1e-4, 3e-4], ...}``, each value
    checked as its ``RunConfig`` field."""
    out = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"--vary {item!r}: write FIELD=VALUE,VALUE (for example learning_rate=1e-4,3e-4)")
        out[name.strip()] = [C.parse_value(name.strip(), v, config_cls) for v in values.split(",")]
    return out


def sweep_configs(base, vary: dict) -> list[RunConfig]:
    """Every configuration of ``base`` crossed with every combination of ``vary``, each choosing its epoch on dev."""
    combos = [dict(zip(vary, values)) for values in itertools.product(*vary.values())] or [{}]
    return [c.replace(select_on_dev=True, **combo) for c in base for combo in combos]


def neighbour_configs(bases: list[dict], vary: dict, config_cls=RunConfig) -> list[RunConfig]:
    """For each base (the keyword arguments of a ``RunConfig``), the base and, for every setting in ``vary``, its
    variants that change that one setting alone: a one-at-a-time design, ``1 + sum(len(values) - 1)`` runs per base
    instead of the cross's product, each choosing its epoch on dev. The bases are the arguments as given, before
    ``RunConfig`` resets what does not apply, so that an adapter base with mean pooling and ``train_pooler=True``
    has the neighbour "[CLS] pooling, the pooler training"."""
    out = []
    for b in bases:
        b = b | {"select_on_dev": True}
        base = config_cls(**b)
        variants = [base] + [config_cls(**(b | {k: v})) for k, values in vary.items() for v in values
                             if v != getattr(base, k)]
        for v in variants:
            if v not in out:
                out.append(v)
    return out


def choose_recipes(records) -> list[dict]:
    """Per model, method and dataset, the settings whose runs score the best mean dev macro-F1 (over their seeds),
    with every candidate and the runs that scored it. Only dev scores are read: the test metrics play no part."""
    groups: dict = {}
    for rec in records:
        c = RunConfig(**rec["config"])
        key = (c.model, c.method, c.dataset)
        settings = json.dumps(c.settings(), sort_keys=True)
        groups.setdefault(key, {}).setdefault(settings, []).append(rec)
    out = []
    for (model, method, dataset), candidates in groups.items():
        rows = [{"settings": json.loads(s), "dev_macro_f1": sum(r["selection"]["dev_macro_f1"] for r in recs) / len(recs),
                 "runs": [{"seed": r["config"]["seed"], "key": r["key"], "dev_macro_f1": r["selection"]["dev_macro_f1"]}
                          for r in recs]}
                for s, recs in candidates.items()]
        rows.sort(key=lambda r: -r["dev_macro_f1"])
        out.append({"model": model, "method": method, "dataset": dataset, "settings": rows[0]["settings"],
                    "dev_macro_f1": rows[0]["dev_macro_f1"], "candidates": rows})
    return out


def write_recipes(name: str, recipes: list[dict], command: str) -> Path:
    """Add ``recipes`` to ``results/recipes/<name>.json`` (written atomically): a recipe for the same model, method
    and dataset replaces the one there, the others stay, so sweeps over different methods or datasets can share a
    name. Each recipe keeps the command of the sweep that chose it, and its date."""
    import datetime as dt

    from .results import write_json_atomic

    path = recipes_dir() / f"{name}.json"
    old = json.loads(path.read_text())["recipes"] if path.is_file() else []
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    new = [r | {"command": command, "date": date} for r in recipes]
    keys = {(r["model"], r["method"], r["dataset"]) for r in new}
    kept = [r for r in old if (r["model"], r["method"], r["dataset"]) not in keys]
    return write_json_atomic(path, {"name": name, "chosen_by": "mean dev macro-F1 over the sweep's seeds",
                                    "recipes": kept + new})


def recipe_configs(name: str, pairs, datasets, seeds) -> list[RunConfig]:
    """The seeds of the recipes chosen by sweep ``name`` for each (model, method) of ``pairs`` and each dataset, in
    grid order; a recipe that the sweep did not choose is an error naming it and the sweep to run."""
    path = recipes_dir() / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"no recipe file {path}: run `python -m hwlib sweep --name {name} ...` first")
    chosen = {(r["model"], r["method"], r["dataset"]): r["settings"] for r in json.loads(path.read_text())["recipes"]}
    missing = [k for k in itertools.product(pairs, datasets) if (*k[0], k[1]) not in chosen]
    if missing:
        raise ValueError(f"{path} has no recipe for {[f'{m} {meth} {d}' for (m, meth), d in missing]}; it has "
                         f"{sorted(' '.join(k) for k in chosen)}")
    return tuned_configs([{"model": m, "method": meth, "dataset": d, "settings": chosen[(m, meth, d)]}
                          for d in datasets for m, meth in pairs], seeds)


def stored_recipes(name: str, model: str, methods) -> list[dict]:
    """The recipes of ``results/recipes/<name>.json`` for ``model`` and ``methods`` (those chosen so far; none if
    the file is missing), in the file's order."""
    path = recipes_dir() / f"{name}.json"
    if not path.is_file():
        return []
    return [r for r in json.loads(path.read_text())["recipes"] if r["model"] == model and r["method"] in methods]


def tuned_configs(recipes, seeds) -> list[RunConfig]:
    """The runs of each recipe (``choose_recipes``' output, or a recipe file's) for ``seeds``, seed-major."""
    return [RunConfig(model=r["model"], method=r["method"], dataset=r["dataset"], seed=s, **r["settings"])
            for s in seeds for r in recipes]


def transferred_configs(recipes, targets: dict, seeds) -> list[RunConfig]:
    """Recipes chosen on one dataset's dev, trained on other datasets without a sweep of their own: for every recipe
    and every target (a dataset name, or a short name such as ``"agnews"``, mapped to the settings that change
    there, e.g. ``{"agnews": {"epochs": 3}}``) the runs for ``seeds``, seed-major. Each run still picks its epoch on
    the target's own dev split; only the settings come from elsewhere."""
    names = dict(zip(targets, resolve_datasets(list(targets))))
    return [RunConfig(model=r["model"], method=r["method"], dataset=names[t], seed=s,
                      **(r["settings"] | {"select_on_dev": True} | dict(changes)))
            for s in seeds for t, changes in targets.items() for r in recipes]


# ------------------------------------------------------------------------------------------------ what is stored
def stored_groups(store=None) -> list[dict]:
    """One entry per stored configuration (all seeds together): model, method, dataset, the settings that differ
    from the course's (and ``modified_data``, the files that differ from the originals, for runs on modified data),
    how many seeds, accuracy and macro-F1 mean and standard deviation (points), and ``at_floor``:
    true when every seed scores exactly the majority-class floor (within 0.05 points, in both metrics)."""
    import statistics

    from .datastats import majority_floor
    from .results import ResultStore

    groups: dict = {}
    for rec in (store or ResultStore()).all():
        c = RunConfig(**rec["config"])
        modified = {"modified_data": rec["data"]["modified"]} if rec["data"]["modified"] else {}
        key = (c.model, c.method, c.dataset, json.dumps(c.settings() | modified, sort_keys=True))
        groups.setdefault(key, []).append(rec["metrics"])
    floors, out = {}, []
    for (model, method, dataset, settings), ms in groups.items():
        floor = floors.setdefault(dataset, majority_floor(dataset))
        acc, f1 = [100 * m["accuracy"] for m in ms], [100 * m["macro_f1"] for m in ms]
        std = (lambda v: statistics.stdev(v) if len(v) > 1 else None)
        out.append({"model": model, "method": method, "dataset": dataset, "settings": json.loads(settings),
                    "seeds": len(ms), "accuracy_mean": statistics.fmean(acc), "accuracy_std": std(acc),
                    "macro_f1_mean": statistics.fmean(f1), "macro_f1_std": std(f1),
                    "at_floor": all(abs(a - floor["accuracy"]) < 0.05 and abs(f - floor["macro_f1"]) < 0.05
                                    for a, f in zip(acc, f1))})
    return out
