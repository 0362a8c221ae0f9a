"""Does domain pretraining help? The TAPT experiment: its arms per task (``EXPERIMENTS``), the fine-tuning settings
they share, the chapter's plan from its parameters (``plan``), and collecting the pretrainings and the runs (stored
ones load, missing ones train when allowed). Its readings (effects, verdicts, tables, figures) are
``hwlib.analysis.domain_readings``.

An *arm* is an encoder fine-tuned with one recipe: the embedded MiniLM as it ships, MiniLM after task-adaptive
pretraining on the task's own training text (``minilm+tapt:acl_sup...``, ``hwlib.train.pretrain``), and a control that
pretrains as long on as many texts of another domain (``minilm+tapt:agnews_sup...:nN``). The control separates "more
pretraining" from "the right domain": only a gain over the control can be credited to the domain.
"""
from __future__ import annotations

import pandas as pd

from hwlib import runs as E
from hwlib.analysis.report import runs_frame
from hwlib.data.tasks import title
from hwlib.models.tapt import parse
from hwlib.runs.pretrained import checkpoint, stored
from hwlib.train.config import RunConfig

# Per task, the chapter's arms (label -> model name), and which arm is TAPT on the task's text and which the control.
# The controls read about as many tokens as the TAPT arm: news, 1,688 texts like ACL-ARC's 1,688 (89,794 tokens vs
# 90,873) for as many epochs; laptop reviews, all 2,163 texts (61,491 tokens) for 8 epochs, about the 5 epochs of
# restaurant's 3,452 (93,186 tokens: 492k against 466k token-epochs). AG News's own text is 3.6 times ACL-ARC's, so
# its 2 epochs read about 1.4 times ACL-ARC's 5; it has no control arm (DSP measured +0.6 there). On ACL-ARC, TAPT
# ran for 5, 10 and 20 epochs (20 is the library's default; DSP used 100) and dev chose among them (``epochs``): 20,
# so the TAPT arm and its control are the 20-epoch pair; the 5-epoch pair, the first one run, stays as a comparison
# (``also``). ``few_seeds`` are the candidates run on the chapter's ``candidate_seeds`` only (dev did not choose them
# and no control is matched to them).
BASE = "MiniLM"
EXPERIMENTS = {
    "acl_sup": {"arms": {BASE: "minilm",
                         "+ TAPT, ACL-ARC text, 5 epochs": "minilm+tapt:acl_sup:e5",
                         "+ TAPT, AG News text, 5 epochs": "minilm+tapt:agnews_sup:e5:n1688",
                         "+ TAPT, ACL-ARC text, 10 epochs": "minilm+tapt:acl_sup:e10",
                         "+ TAPT, ACL-ARC text, 20 epochs": "minilm+tapt:acl_sup",
                         "+ TAPT, AG News text, 20 epochs": "minilm+tapt:agnews_sup:n1688"},
                "tapt": "+ TAPT, ACL-ARC text, 20 epochs", "control": "+ TAPT, AG News text, 20 epochs",
                "also": [("+ TAPT, ACL-ARC text, 5 epochs", "+ TAPT, AG News text, 5 epochs"),
                         ("+ TAPT, ACL-ARC text, 10 epochs", "+ TAPT, ACL-ARC text, 5 epochs"),
                         ("+ TAPT, ACL-ARC text, 20 epochs", "+ TAPT, ACL-ARC text, 5 epochs")],
                "epochs": ["+ TAPT, ACL-ARC text, 5 epochs", "+ TAPT, ACL-ARC text, 10 epochs",
                           "+ TAPT, ACL-ARC text, 20 epochs"],
                "few_seeds": ["+ TAPT, ACL-ARC text, 10 epochs"]},
    "restaurant_sup": {"arms": {BASE: "minilm",
                                "+ TAPT, restaurant text": "minilm+tapt:restaurant_sup:e5",
                                "+ TAPT, laptop text": "minilm+tapt:laptop_sup:e8"},
                       "tapt": "+ TAPT, restaurant text", "control": "+ TAPT, laptop text"},
    "agnews_sup": {"arms": {BASE: "minilm", "+ TAPT, AG News text": "minilm+tapt:agnews_sup:e2"},
                   "tapt": "+ TAPT, AG News text", "control": None},
}


def experiment(task: str) -> dict:
    """The arms, TAPT arm, control, further paired comparisons (``also``: (arm, minus) pairs), the candidates for
    the number of pretraining epochs (``epochs``: arms that differ in that alone, chosen between on dev) and those of
    them run on fewer seeds (``few_seeds``) of ``task``'s experiment in ``EXPERIMENTS`` (a copy), or a clear error."""
    if task not in EXPERIMENTS:
        raise ValueError(f"no TAPT experiment for {task!r} in hwlib.analysis.domain.EXPERIMENTS "
                         f"(it has {list(EXPERIMENTS)}): give its arms, tapt and control")
    e = EXPERIMENTS[task]
    return {"arms": dict(e["arms"]), "tapt": e["tapt"], "control": e["control"], "also": list(e.get("also", [])),
            "epochs": list(e.get("epochs", [])), "few_seeds": list(e.get("few_seeds", []))}


def other_text(arms: dict, task: str) -> set[str]:
    """The labels of the arms pretrained on another task's text than ``task``'s: the controls."""
    return {label for label, model in arms.items() if parse(model) is not None and parse(model).dataset != task}


def short_labels(arms: dict, tapt: str, control: str | None, task: str) -> dict:
    """Column names for tables that hold every arm: ``TAPT`` and ``control`` for the experiment's pair, and for
    the other pretrained arms ``TAPT`` or ``control`` (pretrained on ``task``'s text or another's, ``other_text``)
    with their epochs, e.g. ``control (5 epochs)``; other labels stay as they are."""
    short, controls = {}, other_text(arms, task)
    for label, model in arms.items():
        p = parse(model)
        if label in (tapt, control) or p is None:
            short[label] = {tapt: "TAPT", control: "control"}.get(label, label)
        else:
            short[label] = f"{'control' if label in controls else 'TAPT'} ({p.epochs} epochs)"
    return short


# The ACL-ARC experiment, the one the claims chapter reads.
ARMS, TAPT, CONTROL = (EXPERIMENTS["acl_sup"][k] for k in ("arms", "tapt", "control"))


def fine_tuning_settings(recipe: str, base_model: str, task: str) -> tuple[dict, str]:
    """The full fine-tuning settings every arm uses on ``task``, and where they come from: the recipe chosen on
    ``task``'s own dev split in recipe file ``recipe`` if there is one, else the recipe chosen on
    ``experiments.TRANSFER_FROM`` with the changes ``experiments.TRANSFER`` makes for ``task`` (the recipes chapter's
    carried-over runs). An error names the sweep to run where neither exists."""
    chosen = {r["dataset"]: r["settings"] for r in E.stored_recipes(recipe, base_model, ["full"])}
    if task in chosen:
        return chosen[task], f"chosen on {title(task)}'s dev split (recipe file {recipe!r})"
    carried = {E.resolve_datasets(name)[0]: changes for name, changes in E.TRANSFER.items()}
    if task in carried and E.TRANSFER_FROM in chosen:
        return (chosen[E.TRANSFER_FROM] | carried[task],
                f"chosen on {title(E.TRANSFER_FROM)}'s dev split and carried over (recipe file {recipe!r}"
                + ("".join(f", with {k.replace('_', ' ')} {v}" for k, v in carried[task].items())) + ")")
    raise ValueError(f"recipe file {recipe!r} has no full fine-tuning recipe for {base_model!r} on {task!r} or on "
                     f"{E.TRANSFER_FROM!r}: run the recipes chapter's sweep")


def arm_configs(arms: dict, settings: dict, dataset: str, seeds) -> dict[str, list[RunConfig]]:
    """Per arm (label -> model name), full fine-tuning runs with the same ``settings`` on ``dataset``, per seed."""
    return {label: [RunConfig(model=model, method="full", dataset=dataset, seed=s, **settings) for s in seeds]
            for label, model in arms.items()}


def collect_arms(arms: dict, settings: dict, dataset: str, seeds, retrain: bool = False,
                 arm_seeds: dict | None = None):
    """Every arm's runs (``arm_configs``) through ``experiments.collect``: stored ones load, missing ones train unless
    ``HWLIB_NO_TRAIN=1``; ``arm_seeds`` (label -> seeds) gives some arms other seeds than ``seeds``. Returns
    ``(runs, records, missing)``: ``report.runs_frame`` of all runs with an ``arm`` column (the label), the records,
    and the configurations not stored."""
    records, missing = [], []
    arm_seeds = arm_seeds or {}
    unknown = set(arm_seeds) - set(arms)
    if unknown:
        raise ValueError(f"arm_seeds names {sorted(unknown)}, which are not among the arms {list(arms)}")
    for label, model in arms.items():
        configs, = arm_configs({label: model}, settings, dataset, arm_seeds.get(label, seeds)).values()
        got, m = E.collect(configs, retrain=retrain)
        records += got
        missing += m
    runs = runs_frame(records)
    if not runs.empty:
        runs["arm"] = runs.model.map({m: a for a, m in arms.items()})
    return runs, records, missing


def extend_arm(runs: pd.DataFrame, records: list, arms: dict, label: str, settings: dict, dataset: str, seeds,
               retrain: bool = False):
    """``collect_arms``' ``runs`` and ``records`` with arm ``label`` collected again at ``seeds``: how dev's choice of
    the pretraining epochs gets the TAPT arm's seeds once it is made. Stored runs load, missing ones train unless
    ``HWLIB_NO_TRAIN=1``. Returns ``(runs, records, missing)`` as ``collect_arms`` does."""
    more, more_records, missing = collect_arms({label: arms[label]}, settings, dataset, seeds, retrain)
    model = arms[label]
    records = [r for r in records if r["config"]["model"] != model] + more_records
    runs = pd.concat([runs[runs.model != model], more], ignore_index=True) if not more.empty else runs
    return runs, records, missing


def pretrain_records(models, train: bool = False) -> tuple[list[dict], list[str]]:
    """The stored pretraining records of the TAPT models among ``models`` and the names not pretrained yet;
    ``train=True`` pretrains the missing ones first (``pretrain.checkpoint``), so that fine-tuning finds them."""
    records, missing = [], []
    for m in models:
        if parse(m) is not None:
            rec = stored(m)
            if rec is None and train:
                checkpoint(m, progress=False)
                rec = stored(m)
            (records.append(rec) if rec is not None else missing.append(m))
    return records, missing


# ------------------------------------------------------------------------------------------------ the chapter
def plan(dataset, base: str = BASE, arms: dict | None = None, tapt: str | None = None, control: str | None = None,
         others: dict | None = None, seeds=(1,), other_seeds=(1,), changes: dict | None = None,
         recipe: str = "tuned", candidate_seeds=None) -> dict:
    """The chapter's experiment from its parameters, every one checked before anything loads: per task (``dataset``
    first, then ``others``: task -> spec or ``None`` for ``EXPERIMENTS``' own) its ``arms``, ``tapt``, ``control``
    and ``also``; the first task's fine-tuning settings (with ``changes``) and where they come from; and
    ``arm_seeds``: the seeds of the first task's ``few_seeds`` arms (``candidate_seeds``; ``None``: ``seeds``), for
    ``collect_arms``. A label that is not an arm, a malformed TAPT name or a bad setting is an error naming it."""
    changes = dict(changes or {})
    task, = E.resolve_datasets(dataset)
    first = (experiment(task) if arms is None
             else {"arms": dict(arms), "tapt": tapt, "control": control, "also": [], "epochs": [], "few_seeds": []})
    tasks = {task: first}
    for name, spec in (others or {}).items():
        other, = E.resolve_datasets(name)
        tasks[other] = {"also": [], "epochs": [], "few_seeds": [], **spec} if spec else experiment(other)
    for spec in tasks.values():
        for label in (base, spec["tapt"], spec["control"], *spec["epochs"], *spec["few_seeds"]):
            if label is not None and label not in spec["arms"]:
                raise ValueError(f"{label!r} is not one of the arms {list(spec['arms'])}")
        for model in spec["arms"].values():
            parse(model)  # a clear error for a malformed TAPT name
    E.validate(seeds=seeds, other_seeds=other_seeds, **changes)
    if candidate_seeds is not None:
        E.validate(candidate_seeds=candidate_seeds)
    settings, source = fine_tuning_settings(recipe, first["arms"][base], task)
    arm_seeds = ({label: list(candidate_seeds) for label in first["few_seeds"]}
                 if candidate_seeds is not None else {})
    return {"task": task, "tasks": tasks, "base": base, "recipe": recipe, "changes": changes,
            "settings": settings | changes, "source": source, "arm_seeds": arm_seeds}


def collect_task(exp: dict, task: str, seeds, retrain: bool = False) -> dict:
    """One task of a ``plan``: its fine-tuning settings and their source, its pretraining records (and the names
    not pretrained yet), its runs (``collect_arms``) and the arms' effects (``domain_readings.effects``)."""
    from hwlib.analysis.domain_readings import effects

    spec, base = exp["tasks"][task], exp["base"]
    settings, source = fine_tuning_settings(exp["recipe"], spec["arms"][base], task)
    pre, pre_missing = pretrain_records(spec["arms"].values(), train=retrain or E.train_missing_default())
    runs, records, missing = collect_arms(spec["arms"], settings | exp["changes"], task, seeds, retrain)
    table = (effects(runs, spec["arms"], base, spec["control"], also=spec.get("also", ()), tapt=spec["tapt"])
             if not runs.empty else pd.DataFrame())
    return {"task": task, "spec": spec, "source": source, "pre": pre, "pre_missing": pre_missing, "runs": runs,
            "records": records, "missing": missing, "effects": table}
