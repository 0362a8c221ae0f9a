"""Measuring training speed: the batches an epoch makes and timed ``Trainer`` steps (FLOPs and the machine's peak are
in ``hwlib.speed.flops``).

The scripts in ``bench/`` are built from these pieces. The idea: the cost of a training step depends on the shape of
its batch, and a setup (sampler + padding) decides which shapes one epoch makes. So

1. ``epoch_plan(trainer)`` lists one epoch's batches as the trainer's own sampler draws them, with real (non-pad) and
   padded token counts, without running the model;
2. ``spread(plan, k)`` picks ``k`` of them evenly over the epoch sorted by padded length (a systematic sample);
3. ``StepTimer.time(batch)`` runs ``Trainer.train()`` on exactly that batch and returns the seconds of its optimizer
   step (forward, backward, gradient clipping, optimizer and scheduler step), and
4. epoch time = number of batches x mean sampled step time + the time to load and collate the epoch's batches.

Timing a few batches per setup, in rounds that alternate between setups, lets the noise of a shared machine fall on
all setups alike: quote the ratios taken in one run, not the absolute seconds.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time

import torch


# ------------------------------------------------------------------------------------------------ epoch plans
def epoch_plan(trainer, real_column: str = "n_real") -> list[dict]:
    """One epoch's batches as ``trainer``'s sampler draws them: example indices, real tokens, padded tokens.

    ``trainer.train_dataset`` needs ``input_ids`` and a column ``real_column`` with each example's non-pad token
    count. Padded tokens assume the collator pads to the longest example in the batch (``DataCollatorWithPadding``);
    examples already padded to ``max_length`` have that length.
    """
    ds = trainer.train_dataset
    if real_column not in ds.column_names:
        raise ValueError(f"the training set needs a column {real_column!r}; it has {ds.column_names}")
    ids_len = [len(x) for x in ds["input_ids"]]
    real = list(ds[real_column])
    order = list(trainer._get_train_sampler(ds))  # the Trainer's own choice: random or length-grouped
    bs = trainer.args.per_device_train_batch_size
    plan = []
    for i in range(0, len(order), bs):
        idx = order[i:i + bs]
        width = max(ids_len[j] for j in idx)
        plan.append({"indices": idx, "width": width, "padded": width * len(idx), "real": sum(real[j] for j in idx)})
    return plan


def spread(plan: list[dict], k: int) -> list[dict]:
    """``k`` batches of ``plan`` at evenly spaced quantiles of padded size: a sample whose mean step time estimates the
    epoch's, with far less spread than ``k`` batches drawn at random."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ranked = sorted(plan, key=lambda b: (b["padded"], b["real"]))
    n = len(ranked)
    return [ranked[min(n - 1, int((j + 0.5) * n / k))] for j in range(k)]


def plan_totals(plan: list[dict]) -> dict:
    examples = sum(len(b["indices"]) for b in plan)
    real = sum(b["real"] for b in plan)
    padded = sum(b["padded"] for b in plan)
    return {"batches": len(plan), "examples": examples, "real_tokens": real, "padded_tokens": padded,
            "pad_fraction": 1 - real / padded}


# ------------------------------------------------------------------------------------------------ timing
class _ListSampler(torch.utils.data.Sampler):
    def __init__(self, indices):
        self.indices = list(indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class StepTimer:
    """Times ``Trainer.train()`` optimizer steps on chosen batches of ``trainer.train_dataset``.

    Each ``time(batch)`` call runs the trainer's full training loop (autocast, clipping, optimizer, scheduler) for
    one step on exactly ``batch["indices"]`` and returns its wall-clock seconds (``last_cpu_s``: the process's CPU
    seconds in the same step, all threads). The optimizer and its state persist between calls, as in one long run.
    Call ``warm_up`` (the same as ``time``) once first: the first step also allocates the optimizer state.
    ``repeats`` > 1 runs the batch again and keeps the fastest: on a shared machine that is the run nearest to what
    the step costs on its own.
    """

    def __init__(self, trainer):
        from transformers import TrainerCallback
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        timer = self

        class _Clock(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timer._t0 = (time.perf_counter(), time.process_time())

            def on_step_end(self, args, state, control, **kw):
                timer._steps.append((time.perf_counter() - timer._t0[0], time.process_time() - timer._t0[1]))

        self.trainer = trainer
        self._steps: list[tuple[float, float]] = []
        self.last_cpu_s = math.nan
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_Clock())
        trainer._get_train_sampler = lambda ds=None: _ListSampler(self._indices)

    def time(self, batch: dict, repeats: int = 1) -> float:
        """Seconds of the step on ``batch``: the least of ``repeats`` runs, the one other programs slowed least."""
        if not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
        self._indices = batch["indices"]
        runs = []
        for _ in range(repeats):
            self._steps.clear()
            self.trainer.train()
            if len(self._steps) != 1:
                raise RuntimeError(f"expected one optimizer step per batch, the trainer made {len(self._steps)}")
            runs.append(self._steps[0])
        self.last_cpu_s = min(c for _, c in runs)
        return min(w for w, _ in runs)

    warm_up = time


def loader_seconds(trainer) -> float:
    """Seconds to load and collate one epoch's batches (the dataloader's share of the step, no model)."""
    t = time.perf_counter()
    for _ in trainer.get_train_dataloader():
        pass
    return time.perf_counter() - t


def quiet() -> None:
    """Silence the progress bars and load reports of ``datasets`` and ``transformers``: the tables are the output."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


# timing needs one epoch and nothing else: no evaluation, logging, saving, progress bars or reports
QUIET_ARGS = {"report_to": "none", "save_strategy": "no", "eval_strategy": "no", "logging_strategy": "no",
              "disable_tqdm": True, "log_level": "error", "num_train_epochs": 1}
_OUT = os.path.join(tempfile.gettempdir(), "hwlib-bench-trainer")  # nothing is written there (no saving)


def quiet_trainer_args(**kwargs):
    """Plain ``TrainingArguments`` (defaults plus ``kwargs``) for timing; CPU unless a GPU is there."""
    from transformers import TrainingArguments

    return TrainingArguments(**({"output_dir": _OUT, "use_cpu": not torch.cuda.is_available()} | QUIET_ARGS | kwargs))


def hwlib_trainer_args(config):
    """hwlib's own arguments for ``config`` (``hwlib.train.training_arguments``), quietened for timing."""
    from hwlib.train.finetune import training_arguments

    return training_arguments(config, _OUT, progress=False, **QUIET_ARGS)


# Where a step's time goes: profiler op names, matched in this order (the first pattern an op contains wins).
OP_KINDS = (
    ("optimizer", ("adam", "_foreach", "vector_norm", "clip_grad")),
    ("matmul", ("addmm", "aten::mm", "bmm", "matmul", "linear", "scaled_dot_product")),
    ("dropout masks", ("dropout", "bernoulli")),
    ("softmax", ("softmax",)),
    ("layer norm", ("layer_norm",)),
    ("gelu", ("gelu",)),
    ("embedding", ("embedding",)),
    ("elementwise and copies", ("copy", "mul", "add", "div", "sub", "fill", "zero", "where", "sum", "clamp",
                                "threshold", "neg", "::all", "bitwise", "masked", "cat", "clone", "contiguous")),
)


@contextlib.contextmanager
def _no_fd2():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def profile_step(timer: "StepTimer", batch: dict, repeats: int = 1) -> dict:
    """Self CPU seconds of a ``timer`` step on ``batch`` by kind of op (``OP_KINDS``; the rest is "other").

    The step is profiled ``repeats`` times and the run with the least total counts (the one least disturbed).
    """
    from torch.profiler import ProfilerActivity, profile

    best: dict[str, float] = {}
    for _ in range(repeats):
        prof = profile(activities=[ProfilerActivity.CPU])
        with _no_fd2():  # the profiler's C++ side writes a line to stderr on start and on stop
            prof.start()
        try:
            timer.time(batch)
        finally:
            with _no_fd2():
                prof.stop()
        kinds: dict[str, float] = {}
        for ev in prof.key_averages():
            if not ev.key.startswith("aten::") and not ev.key.startswith("Optimizer"):
                continue  # Python-level ranges and profiler bookkeeping: their time is inside the aten ops
            kind = next((k for k, pats in OP_KINDS if any(p in ev.key.lower() for p in pats)), "other")
            kinds[kind] = kinds.get(kind, 0.0) + ev.self_cpu_time_total / 1e6
        if not best or sum(kinds.values()) < sum(best.values()):
            best = kinds
    return dict(sorted(best.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------------------------------------ reporting
def load_note() -> str | None:
    """A warning when other programs already keep the cores busy, else ``None``.

    With more runnable threads than cores, each of torch's parallel regions waits for its slowest thread, and a
    thread the scheduler has set aside makes the whole op wait: small ops then take several times longer, big
    matmuls much less so. Timings taken so are skewed, not only slower; ``--threads 1`` avoids the waiting.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    cores = os.cpu_count() or 1
    if load < cores - 0.5 or torch.get_num_threads() == 1:
        return None
    return (f"note: load average {load:.1f} on {cores} cores before this run started; with {torch.get_num_threads()} "
            "torch threads the timings are skewed by waiting threads (--threads 1 avoids it)")


def summary_line(figures: dict) -> str:
    """``SUMMARY {json}``: the last line every bench script prints, for tools to read."""
    return "SUMMARY " + json.dumps(figures, sort_keys=True, allow_nan=False)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table; ``columns`` are ``(key, header, format)``."""
    cells = [[h for _, h, _ in columns]] + [[format(r[k], f) if r.get(k) is not None else "-" for k, _, f in columns]
                                            for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
