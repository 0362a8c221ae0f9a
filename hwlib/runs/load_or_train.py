"""Load or train: the one path from a configuration to its record. ``run(config)`` returns the stored record when the
run has been done before (on the same data) and trains and stores it otherwise, so a grid of runs resumes where it
stopped; ``run_all`` does that for many, in processes side by side.
"""
from __future__ import annotations

import os

from hwlib.data import fingerprint
from hwlib.runs import pretrained
from hwlib.store.runs import ResultStore
from hwlib.train.config import RunConfig
from hwlib.train.finetune import finetune


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run(config: RunConfig, *, store=None, retrain: bool = False, train: bool = True, progress: bool = True,
        log=None) -> dict | None:
    """The stored record of ``config`` if there is one for the data on disk now (and ``retrain`` is false);
    otherwise train and store it, if ``train`` allows, else return ``None``.

    Every caller that loads runs (the chapters, the command line, the benchmarks) comes through here. ``log``, if
    given, is called with one line saying whether the run was loaded or is being trained.
    """
    store = store if store is not None else ResultStore()
    data = fingerprint(config.dataset, split_dev=config.select_on_dev)  # the originals (or marked as modified)
    if not retrain:
        stored = store.get(config, data)
        if stored is not None:
            log and log(f"stored: {store.path(config, data)}")
            return stored
    if not train:
        return None
    log and log("training" + (" (modified data)" if data["modified"] else ""))
    pretrained.ensure(config.model, progress=progress)  # a task-adapted encoder: pretrained first if missing
    rec = finetune(config, progress=progress, data=data)
    if _is_main_process():
        store.put(config, rec, data)
        return store.get(config, data)  # the record as stored: with its key, schema and data checksums
    return rec


def _one_thread():
    import torch

    torch.set_num_threads(1)


def _run_logged(config, head, kwargs):
    import sys

    return run(config, log=lambda line: print(f"{head}: {line}", file=sys.stderr, flush=True), **kwargs)


def run_all(configs, jobs: int = 1, **kwargs) -> list[dict]:
    """``run`` each configuration, in order, logging each to stderr; ``jobs > 1`` runs that many single-threaded
    processes side by side (on a CPU two such processes train faster in total than one with two threads:
    bench/README.md, "Threads"). Each run is stored as it finishes, so an interrupted grid resumes where it stopped."""
    heads = [f"[{i}/{len(configs)}] {c.model} {c.dataset} {c.method} seed={c.seed}" for i, c in enumerate(configs, 1)]
    if jobs == 1:
        return [_run_logged(c, h, kwargs) for c, h in zip(configs, heads)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
        futures = [pool.submit(_run_logged, c, h, kwargs) for c, h in zip(configs, heads)]
        return [f.result() for f in futures]
