"""The stored runs the findings ledger (``hwlib.analysis.findings``) rests on, gathered once: nothing here trains.

- ``course``: the course's settings (3 epochs, the ``Trainer``'s defaults), full fine-tuning and adapters, Task 2
  and Task 3's runs: what the course's procedure gives.
- ``tuned``: the recipes chosen on ACL-ARC's dev split (``results/recipes/tuned.json``) for full fine-tuning,
  adapters and LoRA, on ACL-ARC and carried over to restaurant and AG News (the recipes chapter's runs): the runs that
  learned, on which every verdict rests.
- ``sized``: full fine-tuning with ACL-ARC's recipe on restaurant and AG News cut to ACL-ARC's training size
  (``stratified_train_samples``, class shares kept, a new draw per seed): difficulty with size held equal.
- ``tapt``: the domain-pretraining experiment's paired effects per task (``hwlib.analysis.domain``).
- ``refined``: where a later search on dev, one change at a time around a sweep's recipe (``REFINE``: the recipes
  chapter's Houlsby's configuration) or around a recipe carried to another task (``REFINE_CARRIED``, chosen on that
  task's own dev), prefers a variant, that variant's runs on the recipe's seeds. A verdict on that
  task and method rests on them (``refined_frame``); a comparison across tasks keeps the sweep's recipe, the one
  carried to every task.
- ``learned``: every stored run of the model as it ships, on a whole task, that did not end at the majority-class
  floor, whatever its settings (course, sweeps, recipes): the runs a correlation across configurations reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from hwlib import runs as E
from hwlib.analysis import domain
from hwlib.analysis.domain_readings import effects
from hwlib.analysis.floors import at_floor_runs
from hwlib.analysis.report import runs_frame

RECIPE_FILE = "tuned"
SIZED_DATASETS = ("restaurant_sup", "agnews_sup")
# (dataset, method) -> (the settings changed one at a time around the sweep's recipe, the seeds they were tried on):
# the recipes chapter's ``houlsby`` and ``houlsby_seeds`` (a test holds the two equal)
REFINE = {("acl_sup", "adapter"): (
    {"train_layernorm": [True], "learning_rate": [3e-3, 1e-2]},
    (1, 2, 3))}
# the same for the recipes carried to other tasks: each setting changed alone around the carried recipe, chosen on
# that task's own dev (the recipes chapter's ``neighbours`` and ``neighbour_seeds``; a test holds them equal)
REFINE_CARRIED = {("restaurant_sup", "full"): (
                      {"pooling": ["mean", "cls"], "learning_rate": [1e-4, 3e-4, 5e-5, 2e-5], "epochs": [10, 3]},
                      (1, 2, 3)),
                  ("restaurant_sup", "adapter"): (
                      {"pooling": ["mean", "cls"], "learning_rate": [1e-3, 3e-4, 3e-3, 1e-2]}, (1, 2, 3)),
                  ("restaurant_sup", "lora"): ({"learning_rate": [4e-3, 2e-3, 1e-3, 5e-4]}, (1, 2, 3))}


@dataclass
class Evidence:
    course: pd.DataFrame
    tuned: pd.DataFrame
    sized: pd.DataFrame
    learned: pd.DataFrame = field(default_factory=pd.DataFrame)
    tapt: dict = field(default_factory=dict)  # task -> {"spec": experiment, "effects": paired effects}
    recipes: list = field(default_factory=list)
    train_size: int = 0  # ACL-ARC's training examples, the size the larger tasks are cut to
    tuned_records: list = field(default_factory=list)  # the records behind ``tuned`` (predictions included)
    labels: dict = field(default_factory=dict)  # task -> labels, largest class's share, balance (``label_facts``)
    refined: dict = field(default_factory=dict)  # (dataset, method) -> {"label", "settings", "records"}


def refined_arms(recipes, seeds, refine=None) -> dict:
    """``(dataset, method) -> {"label", "settings", "records"}`` for each recipe with a search around it in
    ``refine`` (default ``REFINE``) whose stored runs make dev prefer a variant (``paired_changes.dev_choice``): the
    variant's label, its settings and its stored runs on ``seeds``. A search dev settles on the recipe adds
    nothing."""
    from hwlib.analysis import paired_changes
    from hwlib.train.config import RunConfig

    out = {}
    for r in recipes:
        vary, tried_on = (refine if refine is not None else REFINE).get((r["dataset"], r["method"]), (None, ()))
        if not vary:
            continue
        centre = {"model": r["model"], "method": r["method"], "dataset": r["dataset"]} | r["settings"]
        search = _records(E.neighbour_configs([centre | {"seed": s} for s in tried_on], vary))
        if not search or not any(RunConfig(**x["config"]).settings() == RunConfig(**centre).settings()
                                 for x in search):
            continue
        label, chosen, _ = paired_changes.dev_choice(search, centre)
        if label != "the recipe":
            out[(r["dataset"], r["method"])] = {
                "label": label, "settings": chosen,
                "records": _records(E.neighbour_configs([chosen | {"seed": s} for s in seeds], {}))}
    return out


def later_choices(ev, methods=("full", "adapter")) -> str:
    """The arms of ``methods`` (by default the two the Task 3 findings compare) that a later search on dev changed, in
    words: ``ACL-ARC's adapters at learning rate 0.003, ...``."""
    from hwlib.data.tasks import title
    from hwlib.train.config import METHOD_TITLES

    return ", ".join(f"{title(d)}'s {METHOD_TITLES.get(m, m)} at {arm['label'].replace('_', ' ')}"
                     for (d, m), arm in ev.refined.items() if m in methods)


def refined_frame(ev) -> pd.DataFrame:
    """``ev.tuned`` with each refined arm's runs in place of its sweep recipe's: what a verdict on that task and
    method rests on."""
    frame = ev.tuned
    for (dataset, method), arm in ev.refined.items():
        frame = pd.concat([frame[~((frame.dataset == dataset) & (frame.method == method))],
                           runs_frame(arm["records"])], ignore_index=True)
    return frame


def _records(configs) -> list[dict]:
    return E.collect(configs, train_missing=False, progress=False)[0]


def _frame(configs) -> pd.DataFrame:
    return runs_frame(_records(configs))


def label_facts(task: str) -> dict:
    """``labels`` (how many), ``majority`` (the largest class's share of train, %) and ``balance`` (the label
    entropy over its maximum, log of the number of labels: 1 for balanced classes, lower the more skewed)."""
    import math

    import numpy as np

    from hwlib.data import get_dataset
    from hwlib.data.stats import label_entropy

    train = get_dataset(task, sep_token="[SEP]")["train"]
    k = train.features["label"].num_classes
    counts = np.bincount(np.asarray(train["label"]), minlength=k)
    return {"labels": k, "majority": 100 * counts.max() / counts.sum(), "balance": label_entropy(task) / math.log(k)}


def learned_runs(model: str, store=None) -> pd.DataFrame:
    """``learned`` above: ``runs_frame`` of the stored runs of ``model`` on whole, unmodified tasks (no sample of
    train or test) that are not at the majority floor, with a ``settings`` column naming their configuration."""
    import json

    from hwlib.store.runs import ResultStore
    from hwlib.train.config import RunConfig

    keep = []
    for rec in (store or ResultStore()).all():
        c = RunConfig(**rec["config"])
        sampled = (c.max_train_samples, c.stratified_train_samples, c.max_eval_samples) != (None, None, None)
        if c.model == model and c.method != "probe" and not sampled and not rec["data"]["modified"]:
            keep.append(rec)
    frame = runs_frame(keep)
    frame["settings"] = [json.dumps(RunConfig(**r["config"]).settings(), sort_keys=True) for r in keep]
    if frame.empty:
        return frame
    floor = at_floor_runs(frame)
    return frame[~floor].reset_index(drop=True)


def sized_configs(recipes, train_size: int, seeds, datasets=SIZED_DATASETS):
    """ACL-ARC's full fine-tuning recipe on ``datasets``, each cut to ``train_size`` stratified examples."""
    from hwlib.train.config import RunConfig

    full = [r for r in recipes if r["method"] == "full" and r["dataset"] == E.TRANSFER_FROM]
    return [RunConfig(model=r["model"], method="full", dataset=d, seed=s, stratified_train_samples=train_size,
                      **r["settings"]) for r in full for d in datasets for s in seeds]


def sized_command(train_size: int, seeds, recipes) -> str:
    """The command that trains ``sized_configs`` (``python -m hwlib grid``), for the page."""
    full = [r for r in recipes if r["method"] == "full" and r["dataset"] == E.TRANSFER_FROM]
    if not full:
        return ""
    flags = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in full[0]["settings"].items())
    return (f"python -m hwlib grid --models {full[0]['model']} --methods full --datasets "
            f"{' '.join(SIZED_DATASETS)} --seeds {' '.join(map(str, seeds))} {flags} "
            f"--stratified-train-samples {train_size}")


def gather(model: str = "minilm", course_seeds=(1, 2, 3), recipe_seeds=tuple(range(1, 11)),
           transfer_seeds=tuple(E.TRANSFER_SEEDS), sized_seeds=(1, 2, 3, 4, 5), tapt_seeds=tuple(range(1, 11)),
           other_tapt_seeds=(1, 2, 3, 4, 5)) -> Evidence:
    """Every run set above, from the store (missing runs are simply absent; the ledger says what each rests on)."""
    from hwlib.data import get_dataset

    E.validate(model=model, seeds=course_seeds, recipe_seeds=recipe_seeds, transfer_seeds=transfer_seeds,
               sized_seeds=sized_seeds, tapt_seeds=tapt_seeds, other_tapt_seeds=other_tapt_seeds)
    datasets = list(E.BOOK_DATASETS.values())
    course = _frame(E.task3_configs(model, datasets, course_seeds, 1e-3)["course"])
    recipes = E.stored_recipes(RECIPE_FILE, model, ["full", "adapter", "lora"])
    carried = [r for r in recipes if r["dataset"] == E.TRANSFER_FROM]
    tuned_records = _records(E.tuned_configs(recipes, recipe_seeds)
                             + E.transferred_configs(carried, E.TRANSFER, transfer_seeds))
    tuned = runs_frame(tuned_records)
    train_size = len(get_dataset(E.TRANSFER_FROM, sep_token="[SEP]", split_dev=True)["train"])
    sized = _frame(sized_configs(recipes, train_size, sized_seeds))
    tapt = {}
    for task in datasets:
        spec = domain.experiment(task)
        try:
            settings, _ = domain.fine_tuning_settings(RECIPE_FILE, spec["arms"][domain.BASE], task)
        except ValueError:
            continue
        seeds = tapt_seeds if task == E.TRANSFER_FROM else other_tapt_seeds
        frame = _frame([c for cs in domain.arm_configs(spec["arms"], settings, task, seeds).values() for c in cs])
        table = (effects(frame, spec["arms"], domain.BASE, spec["control"], also=spec["also"],
                         tapt=spec["tapt"])
                 if not frame.empty else pd.DataFrame())
        tapt[task] = {"spec": spec, "effects": table}
    return Evidence(course=course, tuned=tuned, sized=sized, learned=learned_runs(model), tapt=tapt, recipes=recipes,
                    train_size=train_size, tuned_records=tuned_records,
                    labels={task: label_facts(task) for task in datasets},
                    refined=refined_arms(carried, recipe_seeds)
                    | refined_arms(E.carried_recipes(carried, E.TRANSFER), transfer_seeds, REFINE_CARRIED))

