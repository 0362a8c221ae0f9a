"""What runs cost and what the methods cost to train and to serve: CPU- or GPU-hours per device from the run records,
and the sentences that report the stored benchmarks (``bench/adapter_step.py``: step time and memory of full
fine-tuning, adapters and LoRA on identical batches; ``bench/inference.py``: prediction time, LoRA merged or not).
"""
from __future__ import annotations

import pandas as pd

from hwlib.machine.provenance import device_words


def cost(records) -> pd.DataFrame:
    """What training took, per device: runs, hours of wall-clock time, and CPU-hours (wall time x the torch threads
    the run used; on a GPU, GPU-hours). A run listed twice (one record under two of a chapter's designs, say the
    centre of a one-at-a-time design that is also a seed of a recipe) is counted once, by its key."""
    import re

    rows = []
    for r in {r.get("key", id(r)): r for r in records}.values():
        device, hours = device_words(r["provenance"]["device"]), r["timing"]["wall_s"] / 3600
        threads = re.search(r"(\d+) threads?\)", device)
        rows.append({"device": device, "hours": hours, "cpu_or_gpu_hours": hours * (int(threads[1]) if threads else 1)})
    if not rows:
        return pd.DataFrame(columns=["runs", "hours", "cpu_or_gpu_hours"])
    g = pd.DataFrame(rows).groupby("device")
    return pd.concat([g.size().rename("runs"), g[["hours", "cpu_or_gpu_hours"]].sum()], axis=1).round(2)


def _missing_bench(name: str, minutes: str) -> str:
    from hwlib.store.summaries import bench_path

    path = bench_path(name)
    return f"No stored benchmark at `{path}`: `python bench/{name}.py --threads 1 --out {path}` measures it ({minutes})."


def describe_step_bench() -> str:
    """Markdown: the step-time ratios and memory of full fine-tuning, adapters and LoRA measured on the same batches
    in one run of ``bench/adapter_step.py`` (stored in ``results/bench/adapter_step.json`` with its provenance)."""
    from hwlib.store.summaries import load_bench

    stored = load_bench("adapter_step")
    if stored is None:
        return _missing_bench("adapter_step", "about 3 minutes")
    s, prov = stored["summary"], stored["provenance"]
    mem = {k: v["step_peak"] / 2**20 for k, v in s["memory_bytes"].items()}
    lora = (f", and {s['speedup_over_full']['lora']:.2f}x as long as a LoRA step (rank {s['lora_rank']}, "
            f"{s['trainable_params']['lora']:,} trainable weights)" if "lora" in s["speedup_over_full"] else "")
    load = s.get("load_average_before")
    busy = f", load average {load:.1f} at the start" if load is not None else ""
    device = device_words(prov["device"])
    return (f"**Paired on identical batches** (`{stored['command']}`, {device}, {prov['date'][:10]}{busy}): "
            f"over the same {s['steps']} ACL-ARC batches of {s['batch_size']}, each timed with every method in "
            f"turn, a full fine-tuning step took {s['adapter_step_speedup']:.2f}x as long as an adapter step (counting "
            f"arithmetic alone, the floating-point operations saved would allow {s['adapter_step_bound']:.2f}x){lora}. Measured in fp32 at the median batch "
            f"({s['memory_batch'][0]} x {s['memory_batch'][1]} tokens), the step's peak (weights + AdamW + the "
            f"larger of activations and gradients) is {mem['full']:.0f} MiB for full fine-tuning and "
            f"{mem['adapter']:.0f} MiB with adapters" + (f" ({mem['lora']:.0f} MiB with LoRA)" if "lora" in mem
                                                          else "") + ". These ratios, not the stored runs' epoch "
            "times above (made beside other jobs), are the method's speed.")


def describe_merge_bench() -> str:
    """Markdown: prediction time of LoRA merged and unmerged, the adapters and the plain model on the same batches
    (``bench/inference.py``, stored in ``results/bench/inference.json`` with its provenance)."""
    from hwlib.store.summaries import load_bench

    stored = load_bench("inference")
    if stored is None:
        return _missing_bench("inference", "about a minute")
    s, prov = stored["summary"], stored["provenance"]
    x = s["time_vs_plain"]
    device = device_words(prov["device"])
    return (f"**At inference** (`{stored['command']}`, {device}, {prov['date'][:10]}): predicting ACL-ARC's "
            f"{s['examples']} test examples in batches of {s['batch_size']} took {x['lora']:.2f}x the plain model's "
            f"time with LoRA beside the weights and {x['lora-merged']:.2f}x once merged into them "
            f"(`merge_and_unload`; the merged model's logits differ from the unmerged one's by at most "
            f"{s['max_merge_logit_difference']:.0e}), against {x['adapter']:.2f}x with the adapters, which cannot be "
            "merged: a nonlinearity sits between their two projections. Merging gives back the plain model's speed; "
            "the adapters' cost stays.")


CHAPTERS = ("Task 2 and Task 3 (the course's settings)", "Beyond the course's settings", "Does domain pretraining help?",
            "The report's findings, decided")


def chapter_of(record: dict) -> str:
    """The chapter whose runs a stored record belongs to: a pretraining or a task-adapted model's fine-tuning is
    the domain-pretraining chapter's; a run cut to another task's size is the findings chapter's; a run that chose
    its epoch on dev, or the probe, is the recipes chapter's; the rest ran the course's settings."""
    c = record["config"]
    if "checkpoint" in record or "+tapt" in str(c.get("model", "")):
        return CHAPTERS[2]
    if c.get("stratified_train_samples"):
        return CHAPTERS[3]
    if c.get("select_on_dev") or c.get("method") == "probe":
        return CHAPTERS[1]
    return CHAPTERS[0]


def by_chapter(records) -> pd.DataFrame:
    """``cost`` of every stored record (fine-tuning runs and pretrainings), per chapter and device."""
    groups = {}
    for r in records:
        groups.setdefault(chapter_of(r), []).append(r)
    parts = {ch: cost(groups[ch]) for ch in CHAPTERS if ch in groups}
    return pd.concat(parts, names=["chapter"]) if parts else cost([])
