"""Command line: ``python -m hwlib train ...`` for one run, ``python -m hwlib grid ...`` for many, and
``python -m hwlib cuda-memory`` for the memory chapter's GPU measurements (``results/memory/cuda.json``).

Every finished run is stored under ``results/runs`` (or ``--results-dir``); a grid that is stopped and started again
skips the runs already stored. Under ``torchrun --nproc_per_node N`` the same commands train data-parallel.
"""
from __future__ import annotations

import argparse
import itertools
import sys

from .data import DATASET_NAMES
from .models import MODEL_NAMES
from .train import METHODS, PRECISIONS, RunConfig

# The runs the book stores: Task 2 compares pretrained MiniLM with the same network trained from scratch;
# Task 3 compares full fine-tuning with adapters.
PRESETS = {
    "book": [("minilm", "full"), ("minilm", "adapter"), ("minilm-scratch", "full")],
    "task2": [("minilm", "full"), ("minilm-scratch", "full")],
    "task3": [("minilm", "full"), ("minilm", "adapter")],
    "paper": [("bert", "full"), ("roberta", "full"), ("scibert", "full")],
}
BOOK_DATASETS = ["acl_sup", "restaurant_sup", "agnews_sup"]


def _common(p: argparse.ArgumentParser):
    p.add_argument("--adapter-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=None, help="default: the Trainer's (5e-5)")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--max-train-samples", type=int, default=None, help="for smoke runs")
    p.add_argument("--max-eval-samples", type=int, default=None)
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--random-batches", action="store_true",
                   help="random batches instead of length-grouped ones (to check that grouping costs no accuracy)")
    p.add_argument("--retrain", action="store_true", help="train even if the run is stored")
    p.add_argument("--results-dir", default=None, help="default: results/ of the repository ($HWLIB_RESULTS_DIR)")
    p.add_argument("--no-progress", action="store_true")


def _config(ns, model, dataset, method, seed) -> RunConfig:
    return RunConfig(model=model, dataset=dataset, method=method, seed=seed, adapter_size=ns.adapter_size,
                     epochs=ns.epochs, batch_size=ns.batch_size, learning_rate=ns.learning_rate,
                     max_length=ns.max_length, max_train_samples=ns.max_train_samples,
                     max_eval_samples=ns.max_eval_samples, precision=ns.precision,
                     group_by_length=not ns.random_batches)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hwlib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="one run")
    t.add_argument("--model", default="minilm", help=f"{', '.join(MODEL_NAMES)}, a hub id or a directory")
    t.add_argument("--dataset", default="acl_sup", help=f"one of {', '.join(DATASET_NAMES)}")
    t.add_argument("--method", choices=METHODS, default="full")
    t.add_argument("--seed", type=int, default=1)
    _common(t)
    g = sub.add_parser("grid", help="many runs, resumable: models x methods (or a preset) x datasets x seeds")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="book: minilm full + adapter and minilm-scratch full; paper: bert, roberta, scibert full")
    g.add_argument("--models", nargs="+", default=["minilm"])
    g.add_argument("--methods", nargs="+", choices=METHODS, default=["full"])
    g.add_argument("--datasets", nargs="+", default=BOOK_DATASETS)
    g.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    _common(g)
    c = sub.add_parser("cuda-memory", help="measure one training step's GPU memory (MiniLM and the 3B-class encoder)")
    c.add_argument("--out", default=None, help="default: results/memory/cuda.json")
    return p


def configs(ns) -> list[RunConfig]:
    """The runs a parsed command asks for, in training order; a bad value raises ``ValueError``."""
    if ns.command == "train":
        return [_config(ns, ns.model, ns.dataset, ns.method, ns.seed)]
    pairs = PRESETS[ns.preset] if ns.preset else list(itertools.product(ns.models, ns.methods))
    # seed-major: every (model, method, dataset) gets seed 1 before any gets seed 2
    return [_config(ns, m, d, meth, s) for s in ns.seeds for d in ns.datasets for m, meth in pairs]


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
    from .results import ResultStore
    from .train import run

    store = ResultStore(None if ns.results_dir is None else f"{ns.results_dir}/runs")
    for i, c in enumerate(configs_, 1):
        cached = store.get(c) is not None and not ns.retrain
        print(f"[{i}/{len(configs_)}] {c.model} {c.dataset} {c.method} seed={c.seed}"
              f"{' (stored)' if cached else ''}", file=sys.stderr, flush=True)
        r = run(c, retrain=ns.retrain, store=store, progress=not ns.no_progress)
        m = r["metrics"]
        print(f"    accuracy={m['accuracy']:.4f} macro_f1={m['macro_f1']:.4f} "
              f"train_runtime={r['timing']['train_runtime_s']:.0f}s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
