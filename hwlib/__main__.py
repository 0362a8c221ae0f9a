"""Command line: ``python -m hwlib train ...`` for one run, ``python -m hwlib grid ...`` for many, and
``python -m hwlib cuda-memory`` for the memory chapter's GPU measurements (``results/memory/cuda.json``).

Every finished run is stored under ``results/runs`` (or ``--results-dir``); a grid that is stopped and started again
skips the runs already stored. Under ``torchrun --nproc_per_node N`` the same commands train data-parallel. The
settings' flags are ``RunConfig``'s fields (``hwlib.config``), with their help texts.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys

from . import config as C
from .experiments import BOOK_DATASETS, PRESETS


def parser(config_cls=C.RunConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hwlib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_, grid in (("train", "one run", False),
                              ("grid", "many runs, resumable: models x methods (or a preset) x datasets x seeds", True)):
        s = sub.add_parser(name, help=help_)
        if grid:
            s.add_argument("--preset", choices=sorted(PRESETS), default=None,
                           help="(model, method) pairs instead of --models x --methods: "
                                + "; ".join(f"{k}: {', '.join(' '.join(p) for p in v)}" for k, v in PRESETS.items()))
        C.add_flags(s, config_cls, grid=grid)
        if grid:
            s.set_defaults(dataset=list(BOOK_DATASETS.values()), seed=[1, 2, 3])
        s.add_argument("--retrain", action="store_true", help="train even if the run is stored")
        s.add_argument("--results-dir", default=None, help="default: results/ of the repository ($HWLIB_RESULTS_DIR)")
        s.add_argument("--no-progress", action="store_true")
    c = sub.add_parser("cuda-memory", help="measure one training step's GPU memory (MiniLM and the 3B-class encoder)")
    c.add_argument("--out", default=None, help="default: results/memory/cuda.json")
    return p


def configs(ns, config_cls=C.RunConfig) -> list:
    """The runs a parsed command asks for, in training order; a bad value raises ``ValueError``."""
    fields = [f.name for f in dataclasses.fields(config_cls)]
    settings = {f: getattr(ns, f) for f in fields if f not in ("model", "method", "dataset", "seed")}
    if ns.command == "train":
        return [config_cls(model=ns.model, dataset=ns.dataset, method=ns.method, seed=ns.seed, **settings)]
    pairs = PRESETS[ns.preset] if ns.preset else list(itertools.product(ns.model, ns.method))
    # seed-major: every (model, method, dataset) gets seed 1 before any gets seed 2
    return [config_cls(model=m, dataset=d, method=meth, seed=s, **settings)
            for s in ns.seed for d in ns.dataset for m, meth in pairs]


def main(argv=None) -> int:
    ns = parser().parse_args(argv)
    if ns.command == "cuda-memory":
        import torch

        from .memory_gpu import store

        if not torch.cuda.is_available():
            print("error: cuda-memory needs a CUDA device, and torch.cuda.is_available() is False here", file=sys.stderr)
            return 2
        print(f"stored {store(ns.out)}")
        return 0
    try:  # validate everything before anything loads
        configs_ = configs(ns)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from .data import DataError
    from .results import ResultStore, StoreError
    from .train import run

    store = ResultStore(None if ns.results_dir is None else f"{ns.results_dir}/runs")
    for i, c in enumerate(configs_, 1):
        head = f"[{i}/{len(configs_)}] {c.model} {c.dataset} {c.method} seed={c.seed}"
        try:
            r = run(c, store=store, retrain=ns.retrain, progress=not ns.no_progress,
                    log=lambda line: print(f"{head}: {line}", file=sys.stderr, flush=True))
        except (DataError, StoreError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        m = r["metrics"]
        print(f"    accuracy={m['accuracy']:.4f} macro_f1={m['macro_f1']:.4f} "
              f"train_runtime={r['timing']['train_runtime_s']:.0f}s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
