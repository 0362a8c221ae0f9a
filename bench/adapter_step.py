"""Time per training step with adapters vs full fine-tuning, on the same batches, against the FLOP bound.

Both models are hwlib's (``RunConfig(method="full")`` and ``RunConfig(method="adapter")``: MiniLM on ACL-ARC, batches
of 16, length-grouped, fp32), trained through the ``Trainer``. ``--steps`` batches of one epoch, spread evenly over its
batch sizes, are each timed with each model (the fastest of ``--repeats`` runs), alternating which goes first.

The bound (``hwlib.flops.adapter_flop_bound``): a matmul with N parameters costs 2N FLOPs per token forward and 4N
backward (input gradient + weight gradient), 6N in all; with adapters the frozen weights need no weight gradients
and nothing below layer 0's first adapter needs any backward, so

    bound = 6 N / (2 (N + Na) + 2 (N + Na - N_below) + 2 Na)       (1.5 if the adapters cost nothing)

    python bench/adapter_step.py           # ~1-2 minutes on 2 idle cores
    python bench/adapter_step.py --quick   # ~30 seconds

The last line printed is ``SUMMARY {json}``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing hwlib

import torch  # noqa: E402

from hwlib import bench, flops  # noqa: E402
from hwlib.adapters import count_parameters  # noqa: E402
from hwlib.train import RunConfig, prepare  # noqa: E402

GOAL = 1.3


def build(config: RunConfig):
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    set_seed(config.seed)
    model, tokenizer, _, tok = prepare(config)
    train = tok["train"].map(lambda b: {"n_real": b["length"]}, batched=True)
    args = bench.hwlib_trainer_args(config)
    return Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer),
                   processing_class=tokenizer)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="batches timed with each model (default 12, --quick 4)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--adapter-size", type=int, default=RunConfig().adapter_size)
    p.add_argument("--batch-size", type=int, default=RunConfig().batch_size)
    p.add_argument("--repeats", type=int, default=None,
                   help="runs of each batch; the fastest counts (default 3, --quick 2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    ns = p.parse_args(argv)
    steps = ns.steps if ns.steps is not None else (4 if ns.quick else 12)
    ns.repeats = ns.repeats if ns.repeats is not None else (2 if ns.quick else 3)
    if steps < 1 or ns.repeats < 1 or (ns.threads is not None and ns.threads < 1):
        p.error(f"--steps, --repeats and --threads must be >= 1, got {steps}, {ns.repeats}, {ns.threads}")
    if ns.threads:
        torch.set_num_threads(ns.threads)
    full_cfg = RunConfig(seed=ns.seed, batch_size=ns.batch_size)  # validates the numbers, with a clear message
    adapter_cfg = full_cfg.replace(method="adapter", adapter_size=ns.adapter_size)

    bench.quiet()
    load_before = os.getloadavg()[0]
    note = bench.load_note()
    if note:
        print(note, flush=True)
    print(f"adapter_step: MiniLM on ACL-ARC, batch {ns.batch_size}, adapter size {ns.adapter_size}, {steps} batches "
          f"(fastest of {ns.repeats}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    trainers = {"full": build(full_cfg), "adapter": build(adapter_cfg)}
    torch.manual_seed(ns.seed)
    plan = bench.epoch_plan(trainers["full"])  # both tokenize the same way: the same batches serve both
    sample = bench.spread(plan, steps)
    timers = {k: bench.StepTimer(t) for k, t in trainers.items()}
    for t in timers.values():
        t.warm_up({"indices": plan[0]["indices"][:1]})

    times = {"full": [], "adapter": []}
    cpu = {"full": [], "adapter": []}
    for j, batch in enumerate(sample):
        for k in (("full", "adapter") if j % 2 == 0 else ("adapter", "full")):
            times[k].append(timers[k].time(batch, ns.repeats))
            cpu[k].append(timers[k].last_cpu_s)
        print(f"  batch {j + 1}/{steps} ({len(batch['indices'])} x {batch['width']} tokens): "
              f"full {times['full'][-1]:.3f}s, adapter {times['adapter'][-1]:.3f}s, "
              f"ratio {times['full'][-1] / times['adapter'][-1]:.2f}", flush=True)
    mid = sample[len(sample) // 2]
    profiles = {k: bench.profile_step(timers[k], mid, repeats=ns.repeats) for k in timers}

    speedup = sum(times["full"]) / sum(times["adapter"])
    speedup_cpu = sum(cpu["full"]) / sum(cpu["adapter"])
    ratios = [f / a for f, a in zip(times["full"], times["adapter"])]
    fb = flops.adapter_flop_bound(trainers["full"].model, trainers["adapter"].model)
    params = {k: count_parameters(t.model) for k, t in trainers.items()}

    print()
    rows = [{"method": k, "trainable": params[k]["trainable"], "mean_s": statistics.mean(v),
             "median_s": statistics.median(v), "total_s": sum(v)} for k, v in times.items()]
    print(bench.table(rows, [("method", "method", "s"), ("trainable", "trainable params", ",d"),
                             ("mean_s", "mean s/step", ".3f"), ("median_s", "median s/step", ".3f"),
                             ("total_s", "total s", ".2f")]))
    print()
    print(f"speed-up full / adapter: {speedup:.3f} (total time over the {steps} batches); "
          f"per-batch ratios median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}; "
          f"from process CPU time {speedup_cpu:.3f}")
    print(f"FLOP bound: 6N / (2(N+Na) + 2(N+Na-N_below) + 2Na) = {fb['bound']:.3f} with N={fb['n']:,}, "
          f"Na={fb['n_adapter']:,}, N_below={fb['n_below']:,} (1.5 if adapters cost nothing)")
    print(f"goal >= {GOAL}: {'met' if speedup >= GOAL else 'missed'}; measured / bound = {speedup / fb['bound']:.2f}")
    print(f"\nwhere the median batch's step time goes (profiler, self CPU seconds, least of {ns.repeats} runs):")
    kinds = sorted({k for pr in profiles.values() for k in pr}, key=lambda k: -profiles["full"].get(k, 0))
    prow = [{"kind": k, "full": profiles["full"].get(k, 0.0), "adapter": profiles["adapter"].get(k, 0.0)}
            for k in kinds]
    for r in prow:
        r["ratio"] = r["full"] / r["adapter"] if r["adapter"] > 0 else None
    prow.append({"kind": "sum", "full": sum(profiles["full"].values()), "adapter": sum(profiles["adapter"].values())})
    prow[-1]["ratio"] = prow[-1]["full"] / prow[-1]["adapter"]
    print(bench.table(prow, [("kind", "op kind", "s"), ("full", "full s", ".3f"), ("adapter", "adapter s", ".3f"),
                             ("ratio", "full / adapter", ".2f")]))

    summary = {
        "adapter_step_speedup": speedup,
        "adapter_step_bound": fb["bound"],
        "adapter_step_speedup_median_batch": statistics.median(ratios),
        "adapter_step_speedup_cpu_time": speedup_cpu,
        "bound_no_adapter_cost": fb["bound_no_adapter_cost"],
        "full_step_s": statistics.mean(times["full"]), "adapter_step_s": statistics.mean(times["adapter"]),
        "steps": steps, "repeats": ns.repeats, "batch_size": ns.batch_size, "adapter_size": ns.adapter_size,
        "threads": torch.get_num_threads(),
        "profile_s": profiles,
        "goal_met": speedup >= GOAL,
        "load_average_before": load_before,
    }
    print(bench.summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
