"""Time per training step and memory with adapters and with LoRA vs full fine-tuning, on the same batches, against
the FLOP bound.

The models are hwlib's (``RunConfig(method="full")``, ``method="adapter"`` and ``method="lora"`` at rank 64 on query
and value, which matches the adapters' trainable count: MiniLM on ACL-ARC, batches of 16, length-grouped, fp32),
trained through the ``Trainer``. ``--steps`` batches of one epoch, spread evenly over its batch sizes, are each timed
with each model (the fastest of ``--repeats`` runs), rotating which goes first. Memory: the weights, gradients and
AdamW state measured after one step, the activations autograd saves at the median batch, and the step's peak as the
memory chapter models it. ``--out`` stores the summary with its provenance (the Task 3 chapter reads
``results/bench/adapter_step.json``).

The bound (``hwlib.speed.flops.adapter_flop_bound``): a matmul with N parameters costs 2N FLOPs per token forward and 4N
backward (input gradient + weight gradient), 6N in all; with adapters the frozen weights need no weight gradients
and nothing below layer 0's first adapter needs any backward, so

    bound = 6 N / (2 (N + Na) + 2 (N + Na - N_below) + 2 Na)       (1.5 if the adapters cost nothing)

    python bench/adapter_step.py           # ~2-3 minutes on 2 idle cores
    python bench/adapter_step.py --threads 1 --out results/bench/adapter_step.json   # what the book shows
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

from hwlib.speed import bench  # noqa: E402
from hwlib.speed import flops
from hwlib.models.adapters import count_parameters  # noqa: E402
from hwlib.train.config import RunConfig  # noqa: E402
from hwlib.train.finetune import prepare

GOAL = 1.3


def build(config: RunConfig):
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    set_seed(config.seed)
    model, tokenizer, _, tok = prepare(config)
    train = tok["train"].map(lambda b: {"n_real": b["length"]}, batched=True)
    args = bench.hwlib_trainer_args(config)
    return Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer),
                   processing_class=tokenizer)


METHODS = ("full", "adapter", "lora")


def configs(seed: int, batch_size: int, adapter_size: int, lora_rank: int, methods) -> dict:
    """The ``RunConfig`` of each method: hwlib's defaults in fp32; the adapters at ``adapter_size``, LoRA at
    ``lora_rank`` on its default targets (64 on query and value matches the adapters' trainable count on MiniLM)."""
    full = RunConfig(seed=seed, batch_size=batch_size, precision="fp32")  # validates the numbers, clearly
    every = {"full": full, "adapter": full.replace(method="adapter", adapter_size=adapter_size),
             "lora": full.replace(method="lora", lora_rank=lora_rank)}
    return {m: every[m] for m in methods}


def measured_memory(model, b: int, s: int) -> dict:
    """Weights, gradients and AdamW state after one step, activations saved for backward at ``b x s`` tokens, and
    the step's peak as the memory chapter models it (weights + optimizer + max(activations, gradients))."""
    from hwlib.memory.measure import saved_activation_bytes, state_bytes_measured

    out = {**state_bytes_measured(model), "activations": saved_activation_bytes(model, b, s)}
    out["step_peak"] = out["weights"] + out["optimizer"] + max(out["activations"], out["gradients"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="batches timed with each model (default 12, --quick 4)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help="what to time on the same batches (full is always included: the ratios are over it)")
    p.add_argument("--adapter-size", type=int, default=RunConfig().adapter_size)
    p.add_argument("--lora-rank", type=int, default=64, help="LoRA's rank (64: the adapters' trainable count)")
    p.add_argument("--batch-size", type=int, default=RunConfig().batch_size)
    p.add_argument("--repeats", type=int, default=None,
                   help="runs of each batch; the fastest counts (default 3, --quick 2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    p.add_argument("--out", default=None, help="also write the summary with its provenance to this JSON file "
                                               "(the Task 3 chapter reads results/bench/adapter_step.json)")
    ns = p.parse_args(argv)
    steps = ns.steps if ns.steps is not None else (4 if ns.quick else 12)
    ns.repeats = ns.repeats if ns.repeats is not None else (2 if ns.quick else 3)
    if steps < 1 or ns.repeats < 1 or (ns.threads is not None and ns.threads < 1):
        p.error(f"--steps, --repeats and --threads must be >= 1, got {steps}, {ns.repeats}, {ns.threads}")
    methods = ["full"] + [m for m in ns.methods if m != "full"]
    try:
        cfgs = configs(ns.seed, ns.batch_size, ns.adapter_size, ns.lora_rank, methods)
    except ValueError as e:
        p.error(str(e))
    if ns.threads:
        torch.set_num_threads(ns.threads)

    bench.quiet()
    load_before = os.getloadavg()[0]
    note = bench.load_note()
    if note:
        print(note, flush=True)
    print(f"adapter_step: MiniLM on ACL-ARC, batch {ns.batch_size}, adapter size {ns.adapter_size}, LoRA rank "
          f"{ns.lora_rank}, {steps} batches (fastest of {ns.repeats}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    trainers = {m: build(c) for m, c in cfgs.items()}
    torch.manual_seed(ns.seed)
    plan = bench.epoch_plan(trainers["full"])  # all tokenize the same way: the same batches serve all
    sample = bench.spread(plan, steps)
    timers = {k: bench.StepTimer(t) for k, t in trainers.items()}
    for t in timers.values():
        t.warm_up({"indices": plan[0]["indices"][:1]})

    times = {m: [] for m in methods}
    cpu = {m: [] for m in methods}
    for j, batch in enumerate(sample):
        for k in methods[j % len(methods):] + methods[:j % len(methods)]:  # rotate who goes first
            times[k].append(timers[k].time(batch, ns.repeats))
            cpu[k].append(timers[k].last_cpu_s)
        print(f"  batch {j + 1}/{steps} ({len(batch['indices'])} x {batch['width']} tokens): "
              + ", ".join(f"{k} {times[k][-1]:.3f}s" for k in methods) + "; full / "
              + ", ".join(f"{k} {times['full'][-1] / times[k][-1]:.2f}" for k in methods[1:]), flush=True)
    mid = sample[len(sample) // 2]
    profiles = {k: bench.profile_step(timers[k], mid, repeats=ns.repeats) for k in timers}
    memory = {k: measured_memory(t.model, len(mid["indices"]), mid["width"]) for k, t in trainers.items()}

    speedup = {k: sum(times["full"]) / sum(times[k]) for k in methods[1:]}
    speedup_cpu = {k: sum(cpu["full"]) / sum(cpu[k]) for k in methods[1:]}
    ratios = {k: [f / a for f, a in zip(times["full"], times[k])] for k in methods[1:]}
    params = {k: count_parameters(t.model) for k, t in trainers.items()}
    fb = flops.adapter_flop_bound(trainers["full"].model, trainers["adapter"].model) if "adapter" in trainers else None

    print()
    mb = 2**20
    rows = [{"method": k, "trainable": params[k]["trainable"], "mean_s": statistics.mean(v),
             "median_s": statistics.median(v), "total_s": sum(v), "speedup": sum(times["full"]) / sum(v),
             **{q: memory[k][q] / mb for q in ("weights", "gradients", "optimizer", "activations", "step_peak")}}
            for k, v in times.items()]
    print(bench.table(rows, [("method", "method", "s"), ("trainable", "trainable params", ",d"),
                             ("mean_s", "mean s/step", ".3f"), ("median_s", "median s/step", ".3f"),
                             ("total_s", "total s", ".2f"), ("speedup", "full / method", ".3f"),
                             ("weights", "weights MiB", ".1f"), ("gradients", "grads MiB", ".1f"),
                             ("optimizer", "AdamW MiB", ".1f"), ("activations", "acts MiB", ".1f"),
                             ("step_peak", "step peak MiB", ".1f")]))
    print(f"\nmemory: measured tensors (fp32) after one AdamW step; activations saved for backward at the median "
          f"batch's {len(mid['indices'])} x {mid['width']} tokens; step peak = weights + AdamW + max(activations, "
          "gradients) (the memory chapter's model)")
    for k in methods[1:]:
        print(f"speed-up full / {k}: {speedup[k]:.3f} (total time over the {steps} batches); per-batch ratios median "
              f"{statistics.median(ratios[k]):.3f}, min {min(ratios[k]):.3f}, max {max(ratios[k]):.3f}; from "
              f"process CPU time {speedup_cpu[k]:.3f}")
    if fb:
        print(f"FLOP bound (adapters): 6N / (2(N+Na) + 2(N+Na-N_below) + 2Na) = {fb['bound']:.3f} with "
              f"N={fb['n']:,}, Na={fb['n_adapter']:,}, N_below={fb['n_below']:,} (1.5 if adapters cost nothing)")
        print(f"goal >= {GOAL}: {'met' if speedup['adapter'] >= GOAL else 'missed'}; measured / bound = "
              f"{speedup['adapter'] / fb['bound']:.2f}")
    print(f"\nwhere the median batch's step time goes (profiler, self CPU seconds, least of {ns.repeats} runs):")
    kinds = sorted({k for pr in profiles.values() for k in pr}, key=lambda k: -profiles["full"].get(k, 0))
    prow = [{"kind": k, **{m: profiles[m].get(k, 0.0) for m in methods}} for k in kinds]
    prow.append({"kind": "sum", **{m: sum(profiles[m].values()) for m in methods}})
    print(bench.table(prow, [("kind", "op kind", "s"), *[(m, f"{m} s", ".3f") for m in methods]]))

    summary = {
        "step_s": {k: statistics.mean(v) for k, v in times.items()},
        "speedup_over_full": speedup, "speedup_over_full_cpu_time": speedup_cpu,
        "speedup_over_full_median_batch": {k: statistics.median(r) for k, r in ratios.items()},
        "trainable_params": {k: params[k]["trainable"] for k in methods},
        "memory_bytes": memory, "memory_batch": [len(mid["indices"]), mid["width"]],
        "steps": steps, "repeats": ns.repeats, "batch_size": ns.batch_size, "adapter_size": ns.adapter_size,
        "lora_rank": ns.lora_rank, "threads": torch.get_num_threads(),
        "profile_s": profiles,
        "load_average_before": load_before,
    }
    if fb:
        summary |= {"adapter_step_speedup": speedup["adapter"], "adapter_step_bound": fb["bound"],
                    "adapter_step_speedup_median_batch": statistics.median(ratios["adapter"]),
                    "adapter_step_speedup_cpu_time": speedup_cpu["adapter"],
                    "bound_no_adapter_cost": fb["bound_no_adapter_cost"],
                    "full_step_s": summary["step_s"]["full"], "adapter_step_s": summary["step_s"]["adapter"],
                    "goal_met": speedup["adapter"] >= GOAL}
    if ns.out:
        from hwlib.store.summaries import store_bench

        print(f"stored {store_bench(ns.out, summary, 'python bench/adapter_step.py ' + ' '.join(sys.argv[1:]))}")
    print(bench.summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
