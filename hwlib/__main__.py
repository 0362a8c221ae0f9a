"""Command line: ``python -m hwlib train ...`` for one run, ``python -m hwlib grid ...`` for many (``--recipe NAME``:
the recipes a sweep chose), ``python -m hwlib sweep ...`` to choose recipes on dev, ``python -m hwlib results`` to
list what is stored, and ``python -m hwlib cuda-memory`` for the memory chapter's GPU measurements.

Every finished run is stored under ``results/runs`` (or ``--results-dir``); a grid that is stopped and started again
skips the runs already stored. Under ``torchrun --nproc_per_node N`` the same commands train data-parallel. The
settings' flags are ``RunConfig``'s fields (``hwlib.train.config``), with their help texts.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys

from hwlib.train import config as C
from hwlib import runs as E
from hwlib.runs.grids import BOOK_DATASETS, PRESETS


def parser(config_cls=C.RunConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hwlib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("train", "one run"),
                        ("grid", "many runs, resumable: models x methods (or a preset) x datasets x seeds"),
                        ("sweep", "a grid crossed with --vary settings, each run choosing its epoch on dev; writes the "
                                  "settings with the best mean dev macro-F1 per model, method and dataset to "
                                  "results/recipes/NAME.json")):
        s = sub.add_parser(name, help=help_)
        grid = name != "train"
        if grid:
            s.add_argument("--preset", choices=sorted(PRESETS), default=None,
                           help="(model, method) pairs instead of --models x --methods: "
                                + "; ".join(f"{k}: {', '.join(' '.join(p) for p in v)}" for k, v in PRESETS.items()))
            s.add_argument("--jobs", type=int, default=1, help="single-threaded training processes side by side")
        C.add_flags(s, config_cls, grid=grid)
        if grid:
            s.set_defaults(dataset=list(BOOK_DATASETS.values()), seed=[1, 2, 3])
        if name == "grid":
            s.add_argument("--recipe", default=None, help="train the seeds of the recipes that `sweep --name RECIPE` "
                                                          "chose (its settings replace the flags')")
        if name == "sweep":
            s.add_argument("--vary", nargs="+", default=[], metavar="FIELD=V1,V2",
                           help="settings to cross, e.g. learning_rate=1e-4,3e-4 pooling=cls,mean")
            s.add_argument("--name", default="tuned", help="the recipe file's name (default: tuned)")
            s.add_argument("--one-at-a-time", action="store_true",
                           help="instead of crossing the --vary settings, change one at a time from the settings "
                                "the other flags give (1 + sum(values - 1) runs per base instead of the product)")
        s.add_argument("--retrain", action="store_true", help="train even if the run is stored")
        s.add_argument("--results-dir", default=None, help="default: results/ of the repository ($HWLIB_RESULTS_DIR)")
        s.add_argument("--no-progress", action="store_true")
    r = sub.add_parser("results", help="one line per stored configuration (all its seeds): mean and std of accuracy "
                                       "and macro-F1 in points, and whether every seed sits at the majority floor")
    r.add_argument("--json", action="store_true", help="a JSON list of objects, for scripts")
    r.add_argument("--results-dir", default=None)
    t = sub.add_parser("pretrain", help="task-adaptive MLM pretraining of an encoder named like "
                                        "minilm+tapt:acl_sup (hwlib.train.pretrain); cached, resumable")
    t.add_argument("--model", required=True, help="BASE+tapt:TASK or BASE+tapt:TASK:eEPOCHS")
    t.add_argument("--no-progress", action="store_true")
    f = sub.add_parser("findings", help="the original report's conclusions, one verdict each, from the stored runs and "
                                        "the memory model (hwlib.analysis.ledger)")
    f.add_argument("--json", action="store_true", help="a JSON list of objects, one per finding, for scripts")
    f.add_argument("--results-dir", default=None)
    c = sub.add_parser("cuda-memory", help="measure one training step's GPU memory (MiniLM and the 3B-class encoder)")
    c.add_argument("--out", default=None, help="default: results/memory/cuda.json")
    return p


def configs(ns, config_cls=C.RunConfig) -> list:
    """The runs a parsed command asks for, in training order; a bad value raises ``ValueError``."""
    fields = [f.name for f in dataclasses.fields(config_cls)]
    settings = {f: getattr(ns, f) for f in fields if f not in ("model", "method", "dataset", "seed")}
    if ns.command == "train":
        return [config_cls(model=ns.model, dataset=ns.dataset, method=ns.method, seed=ns.seed, **settings)]
    if ns.jobs < 1:
        raise ValueError(f"jobs={ns.jobs} (an integer >= 1)")
    pairs = PRESETS[ns.preset] if ns.preset else list(itertools.product(ns.model, ns.method))
    if ns.command == "sweep":
        settings["select_on_dev"] = True  # a sweep chooses on dev, never on test
    if getattr(ns, "recipe", None):
        return E.recipe_configs(ns.recipe, pairs, ns.dataset, ns.seed)
    # seed-major: every (model, method, dataset) gets seed 1 before any gets seed 2
    kwargs = [dict(model=m, dataset=d, method=meth, seed=s, **settings)
              for s in ns.seed for d in ns.dataset for m, meth in pairs]
    if ns.command == "sweep" and ns.one_at_a_time:
        return E.neighbour_configs(kwargs, E.parse_vary(ns.vary, config_cls), config_cls)
    grid = [config_cls(**k) for k in kwargs]
    return E.sweep_configs(grid, E.parse_vary(ns.vary, config_cls)) if ns.command == "sweep" else grid


def main(argv=None) -> int:
    ns = parser().parse_args(argv)
    if ns.command == "cuda-memory":
        import torch

        from hwlib.memory.gpu import store

        if not torch.cuda.is_available():
            print("error: cuda-memory needs a CUDA device, and torch.cuda.is_available() is False here", file=sys.stderr)
            return 2
        print(f"stored {store(ns.out)}")
        return 0
    if ns.command == "pretrain":
        from hwlib.runs.pretrained import checkpoint
        from hwlib.models.tapt import parse

        try:
            parse(ns.model)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"pretrained encoder: {checkpoint(ns.model, progress=not ns.no_progress)}")
        return 0
    if getattr(ns, "results_dir", None) is not None:
        os.environ["HWLIB_RESULTS_DIR"] = ns.results_dir  # for this process and the training processes it starts
    if ns.command == "results":
        return show_results(ns.json)
    if ns.command == "findings":
        return show_findings(ns.json)
    try:  # validate everything before anything loads
        configs_ = configs(ns)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from hwlib.data import DataError
    from hwlib.files import StoreError
    from hwlib.runs.load_or_train import run_all

    try:
        records = run_all(configs_, jobs=getattr(ns, "jobs", 1), retrain=ns.retrain, progress=not ns.no_progress)
    except (DataError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for c, r in zip(configs_, records):
        m = r["metrics"]
        print(f"{c.model} {c.dataset} {c.method} seed={c.seed} {json.dumps(c.settings())}: accuracy="
              f"{m['accuracy']:.4f} macro_f1={m['macro_f1']:.4f} train_runtime={r['timing']['train_runtime_s']:.0f}s",
              file=sys.stderr, flush=True)
    if ns.command == "sweep":
        path = E.write_recipes(ns.name, E.choose_recipes(records), "python -m hwlib " + " ".join(sys.argv[1:] or argv))
        print(f"recipes chosen on dev: {path}")
    return 0


def show_results(as_json: bool) -> int:
    groups = E.stored_groups()
    if as_json:
        print(json.dumps(groups, indent=1))
        return 0
    for g in groups:
        spread = (lambda v: f" ± {v:.2f}" if v is not None else "")
        print(f"{g['model']:<15} {g['method']:<8} {g['dataset']:<15} seeds={g['seeds']} accuracy="
              f"{g['accuracy_mean']:.2f}{spread(g['accuracy_std'])} macro_f1={g['macro_f1_mean']:.2f}"
              f"{spread(g['macro_f1_std'])}{' AT FLOOR' if g['at_floor'] else ''} {json.dumps(g['settings'])}")
    return 0


def show_findings(as_json: bool) -> int:
    from hwlib.analysis.findings import text, to_json
    from hwlib.analysis.ledger import ledger

    findings = ledger()
    print(to_json(findings) if as_json else text(findings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
