"""Which runs the book shows, and getting them: the chapters' grids, the command line's presets, loading stored runs
(training the missing ones when allowed) and the commands that train what is missing.

Nothing here needs pandas or matplotlib; the tables and figures made from the records are ``hwlib.analysis``'.
"""
from __future__ import annotations

import os

from hwlib.data import DATASET_NAMES
from hwlib.data.tasks import title
from hwlib.runs.load_or_train import run
from hwlib.train import config as C
from hwlib.train.config import RunConfig

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
TRANSFER_FROM, TRANSFER_SEEDS = "acl_sup", [1, 2, 3, 4, 5]
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
    as the ``RunConfig`` field it is named after (``hwlib.train.config.check_parameters``)."""
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile={profile!r}: choose one of {list(PROFILES)}")
    C.check_parameters(**{k: v for k, v in settings.items() if v is not None})


def train_missing_default() -> bool:
    """Missing runs are trained unless ``HWLIB_NO_TRAIN=1`` (set by the test suite so that checking the stored
    notebooks never trains)."""
    return os.environ.get("HWLIB_NO_TRAIN", "0") != "1"


def collect(configs, retrain=False, train_missing=None, store=None, progress=True):
    """The records of ``configs`` through ``hwlib.runs.run`` (stored ones load, missing ones train when
    ``train_missing``, by default unless ``HWLIB_NO_TRAIN=1``). Returns ``(records, missing)``."""
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


def task3_plan(dataset, model, seeds, adapter_learning_rate, **settings) -> tuple[list[str], dict]:
    """Task 3's chapter in one call: every parameter checked before anything loads (``validate``), the task names
    (``resolve_datasets``) and the two grids of ``task3_configs``. Returns ``(task_names, configs)``."""
    task_names = resolve_datasets(dataset)
    validate(model=model, seeds=seeds, adapter_learning_rate=adapter_learning_rate, **settings)
    return task_names, task3_configs(model, task_names, seeds, adapter_learning_rate, **settings)


def batching_configs(dataset, seeds, model="minilm", **settings) -> dict[bool, list[RunConfig]]:
    """Task 2's batching check: full fine-tuning with length-grouped (``True``) and random (``False``) batches."""
    return {g: book_configs([model], ["full"], [dataset], seeds, **(settings | {"group_by_length": g}))
            for g in (True, False)}


def precision_configs(dataset, seeds, model="minilm", **settings) -> dict[str, list[RunConfig]]:
    """The paired precision check: the default full fine-tuning runs (``precision="auto"``, which trained in fp32
    where their records say so: ``hwlib.machine.precision``) and the same runs in bf16 autocast."""
    return {"fp32": book_configs([model], ["full"], [dataset], seeds, **settings),
            "bf16": book_configs([model], ["full"], [dataset], seeds, **(settings | {"precision": "bf16"}))}


# ------------------------------------------------------------------------------------------------ missing runs
def grid_commands(configs) -> list[str]:
    """``python -m hwlib grid`` commands that together train exactly ``configs`` (stored runs are skipped).

    One command per model, method and shared settings, and per set of datasets that its seeds share, so that no
    command's grid reaches beyond the configurations asked for. The settings' flags come from ``RunConfig``'s fields
    (``hwlib.train.config.flags``).
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


def missing_note(missing, trained_by: str = "this notebook") -> str:
    """Markdown: which requested runs are neither stored nor trained, and the command that trains them; nothing
    when every run is there (the chapter then just shows its results). ``trained_by``: the chapter that trains them
    when run with papermill (a chapter reading another chapter's runs names it)."""
    if not missing:
        return ""
    lines = [f"**{len(missing)} requested run(s) are not stored yet** and were left out of the tables below "
             "(training them takes minutes to hours on a CPU):", ""]
    shared = set.intersection(*(set(c.settings().items()) for c in missing))  # said once, in the commands

    def differs(c):
        return "".join(f", {k}={v:g}" if isinstance(v, float) else f", {k}={v}"
                       for k, v in c.settings().items() if (k, v) not in shared)

    lines += [f"- `{c.model}` {c.method} on {title(c.dataset)}, seed {c.seed}{differs(c)}" for c in missing[:12]]
    if len(missing) > 12:
        lines.append(f"- ... and {len(missing) - 12} more")
    lines += ["", "Train them with the command(s) below (a grid skips stored runs), or run "
              f"{trained_by} with papermill, which trains what is missing:",
              "", "```bash", *map(wrap_command, grid_commands(missing)), "```"]
    return "\n".join(lines)


def wrap_command(command: str, width: int = 78) -> str:
    """A long shell command broken into lines of at most ``width`` characters (a word longer than that keeps a line
    of its own), joined by backslash-newlines, so that it fits the page and still runs when pasted."""
    words, lines = command.split(" "), [""]
    for w in words:
        if lines[-1].strip() and len(lines[-1]) + 1 + len(w) > width - 2:
            lines.append("    ")
        lines[-1] += ("" if lines[-1].strip() == "" else " ") + w
    return " \\\n".join(lines)
