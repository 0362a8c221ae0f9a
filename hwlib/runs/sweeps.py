"""Choosing settings on dev: the sweeps' configurations (a cross, or one change at a time around a base), the
choice of the best mean dev macro-F1 (test scores play no part), and the runs of the chosen recipes, on their own
dataset or carried over to others."""
from __future__ import annotations

import itertools
import json

from hwlib.runs.grids import resolve_datasets
from hwlib.store import recipes as stored
from hwlib.train import config as C
from hwlib.train.config import RunConfig


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


def recipe_configs(name: str, pairs, datasets, seeds) -> list[RunConfig]:
    """The seeds of the recipes chosen by sweep ``name`` for each (model, method) of ``pairs`` and each dataset, in
    grid order; a recipe that the sweep did not choose is an error naming it and the sweep to run."""
    recipes = stored.read(name)
    if recipes is None:
        raise ValueError(f"no recipe file {stored.path(name)}: run `python -m hwlib sweep --name {name} ...` first")
    chosen = {(r["model"], r["method"], r["dataset"]): r["settings"] for r in recipes}
    missing = [k for k in itertools.product(pairs, datasets) if (*k[0], k[1]) not in chosen]
    if missing:
        raise ValueError(f"{stored.path(name)} has no recipe for {[f'{m} {meth} {d}' for (m, meth), d in missing]}; it has "
                         f"{sorted(' '.join(k) for k in chosen)}")
    return tuned_configs([{"model": m, "method": meth, "dataset": d, "settings": chosen[(m, meth, d)]}
                          for d in datasets for m, meth in pairs], seeds)


def tuned_configs(recipes, seeds) -> list[RunConfig]:
    """The runs of each recipe (``choose_recipes``' output, or a recipe file's) for ``seeds``, seed-major."""
    return [RunConfig(model=r["model"], method=r["method"], dataset=r["dataset"], seed=s, **r["settings"])
            for s in seeds for r in recipes]


def carried_recipes(recipes, targets: dict) -> list[dict]:
    """Recipes chosen on one dataset's dev as they run on other datasets without a sweep of their own: for every
    target (a dataset name, or a short name such as ``"agnews"``, mapped to the settings that change there, e.g.
    ``{"agnews": {"epochs": 3}}``) and every recipe, the same recipe dict with the target's name and settings. Each
    run still picks its epoch on the target's own dev split; only the settings come from elsewhere."""
    names = dict(zip(targets, resolve_datasets(list(targets))))
    return [r | {"dataset": names[t], "settings": r["settings"] | {"select_on_dev": True} | dict(changes)}
            for t, changes in targets.items() for r in recipes]


def transferred_configs(recipes, targets: dict, seeds) -> list[RunConfig]:
    """The runs of the ``carried_recipes`` for ``seeds``, seed-major."""
    return tuned_configs(carried_recipes(recipes, targets), seeds)
