"""Training throughput of hwlib's defaults against the usual set-ups, and its model FLOPs utilisation (MFU).

Set-ups, all fine-tuning MiniLM on ACL-ARC's training set with the Trainer's AdamW:

* ``hwlib``        hwlib's defaults (``RunConfig()``): dynamic padding, length-grouped batches of 16,
                   max_length 256, in fp32 (what ``precision="auto"`` picks on this CPU is printed below)
* ``hwlib-bf16``   the same with bf16 autocast (``RunConfig(precision="bf16")``)
* ``hwlib-nodrop`` the same with every dropout off: not a candidate default (dropout regularises), it shows what
                   drawing the dropout masks costs
* ``trainer``      a plain ``Trainer``: random batches of 16, ``DataCollatorWithPadding``, truncation at the
                   tokenizer's 512
* ``trainer-bs8``  the same with every ``TrainingArguments`` default, batch size 8 included
* ``pad128``       the common homework set-up: ``padding="max_length"``, max_length 128, random batches of 16
* ``pad512``       the same at max_length 512

For each set-up the epoch's batches are drawn by that set-up's own sampler (``bench.epoch_plan``); ``--steps``
of them, spread evenly over the epoch's batch sizes, are timed as real ``Trainer`` optimizer steps (the fastest of
``--repeats`` runs), in rounds that alternate between set-ups (so the noise of a shared machine falls on all of them
alike). Epoch time = batches x mean step time + data loading. Ratios are examples per second over the same epoch of
the same examples.

MFU = 6 N (real tokens per second) / peak, where N counts the parameters applied to every token and the peak is
the fastest of the 4096^3 ``torch.matmul`` timed in every round of the same run; for ``hwlib-bf16`` it is the
fastest 2048^3 bf16 matmul of the same rounds (MFU against the peak of the arithmetic actually used). The summary's
``bf16`` block says whether this CPU has native bf16, what ``precision="auto"`` picks here and why
(``hwlib.machine.precision``), and how fast bf16 training ran against fp32.

    python bench/throughput.py                 # ~4 minutes on 2 idle cores
    python bench/throughput.py --quick         # about a minute: 2 steps, hwlib / trainer / pad512 only
    python bench/throughput.py --threads 1     # while another job shares the cores (see bench/README.md)
    python bench/throughput.py --only-accuracy # length-grouped vs random batches: accuracy (trains; slow)
    python bench/throughput.py --only-accuracy --accuracy-dataset restaurant_sup   # the same check on restaurant
    python bench/throughput.py --only-accuracy --accuracy-compare precision        # fp32 vs bf16 autocast

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
from hwlib.analysis.intervals import paired_t  # noqa: E402
from hwlib.machine.precision import cpu_choice  # noqa: E402
from hwlib.train.config import RunConfig  # noqa: E402
from hwlib.train.finetune import prepare

SETUPS = ("hwlib", "hwlib-bf16", "hwlib-nodrop", "trainer", "trainer-bs8", "pad128", "pad512")
QUICK_SETUPS = ("hwlib", "trainer", "pad512")
GOALS = {"speedup_vs_pad512": 4.0, "speedup_vs_trainer_default": 1.2, "mfu": 0.5}


def build(name: str, config: RunConfig, raw_train, seed: int):
    """The Trainer of set-up ``name`` on the full training set."""
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    from hwlib.models.encoders import load_model

    set_seed(seed)
    if name.startswith("hwlib"):
        c = config.replace(precision="bf16" if name == "hwlib-bf16" else "fp32")
        model, tokenizer, _, tok = prepare(c)
        if name == "hwlib-nodrop":
            for module in model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
        train = tok["train"].map(lambda b: {"n_real": b["length"]}, batched=True)
        args = bench.hwlib_trainer_args(c)
        collator = DataCollatorWithPadding(tokenizer)
    else:
        num_labels = raw_train.features["label"].num_classes
        model, tokenizer = load_model(config.model, num_labels=num_labels, seed=seed)
        if name.startswith("pad"):
            n = int(name[3:])
            tokenize = lambda b: tokenizer(b["text"], padding="max_length", truncation=True, max_length=n)  # noqa: E731
        else:
            tokenize = lambda b: tokenizer(b["text"], truncation=True)  # noqa: E731
        train = raw_train.map(tokenize, batched=True, remove_columns=["text"])
        train = train.map(lambda b: {"n_real": [sum(m) for m in b["attention_mask"]]}, batched=True)
        kwargs = {} if name == "trainer-bs8" else {"per_device_train_batch_size": config.batch_size}
        args = bench.quiet_trainer_args(seed=seed, **kwargs)
        collator = DataCollatorWithPadding(tokenizer)  # what Trainer picks by itself when given the tokenizer
    return Trainer(model=model, args=args, train_dataset=train, data_collator=collator, processing_class=tokenizer)


MAX_LENGTH = {"pad128": 128, "trainer": 512, "trainer-bs8": 512, "pad512": 512}  # hwlib*: RunConfig().max_length


def measure(setups, steps: int, seed: int, peak_n: int, repeats: int, log=print):
    """Set up every set-up, then time ``steps`` rounds; each round times one batch of every set-up and one matmul.

    A batch is run ``repeats`` times and the fastest run counts. A set-up whose batches all have one shape (padding
    to max_length) needs no sample of shapes: it is run once in each of ``repeats`` rounds spread over the run, and
    the fastest of those counts, so it costs ``repeats`` steps instead of ``steps x repeats``.
    """
    from hwlib.data import get_dataset
    from hwlib.models.encoders import load_tokenizer

    config = RunConfig(seed=seed)
    tokenizer = load_tokenizer(config.model)
    raw = get_dataset(config.dataset, sep_token=tokenizer.sep_token)["train"]
    full_lengths = [len(x) for x in tokenizer(list(raw["text"]))["input_ids"]]  # untruncated
    rows = {}
    for name in setups:
        t = time.perf_counter()
        trainer = build(name, config, raw, seed)
        torch.manual_seed(seed)
        plan = bench.epoch_plan(trainer)
        r = rows[name] = {"setup": name, "trainer": trainer, "sample": bench.spread(plan, steps),
                          "loader_s": bench.loader_seconds(trainer), "wall": [], "cpu": [], **bench.plan_totals(plan)}
        r["max_length"] = MAX_LENGTH.get(name, config.max_length)
        r["truncated"] = sum(n > r["max_length"] for n in full_lengths)
        r["fixed"] = len({b["width"] for b in plan}) == 1
        if r["fixed"]:
            n = min(repeats, steps)
            r["rounds"] = {round(i * (steps - 1) / (n - 1)) for i in range(n)} if n > 1 else {0}
            r["sample"] = bench.spread(plan, 1) * steps
        r["timer"] = bench.StepTimer(trainer)
        r["timer"].warm_up({"indices": plan[0]["indices"][:1]})  # one example: allocates the optimizer state
        log(f"  set up {name}: {r['batches']} batches, pad fraction {r['pad_fraction']:.2f} "
            f"({time.perf_counter() - t:.0f}s)", flush=True)
    peaks = []
    for j in range(steps):
        order = list(setups[j % len(setups):]) + list(setups[:j % len(setups)])  # rotate who goes first
        timed = {}
        for name in order:
            r = rows[name]
            if r["fixed"] and j not in r["rounds"]:
                continue
            timed[name] = r["timer"].time(r["sample"][j], 1 if r["fixed"] else repeats)
            r["wall"].append(timed[name])
            r["cpu"].append(r["timer"].last_cpu_s)
        peaks.append(flops.matmul_flops(peak_n))
        if "hwlib-bf16" in setups:  # the bf16 peak in the same rounds, so the neighbours slow both alike
            peaks[-1]["bf16"] = flops.matmul_flops(min(peak_n, 2048), torch.bfloat16)
        log(f"  round {j + 1}/{steps}: " + " ".join(f"{n}={timed[n]:.2f}s" for n in setups if n in timed)
            + f" matmul={peaks[-1]['wall'] / 1e9:.0f} GFLOP/s"
            + (f" bf16 matmul={peaks[-1]['bf16']['wall'] / 1e9:.0f} GFLOP/s" if "bf16" in peaks[-1] else ""),
            flush=True)
    return rows, peaks


# the two arms of each accuracy check: (label, RunConfig settings); the first is the reference
CHECKS = {"batching": (("random", {"group_by_length": False}), ("length-grouped", {})),
          "precision": (("fp32", {}), ("bf16", {"precision": "bf16"}))}


def accuracy_check(seeds, dataset="acl_sup", compare="batching", log=print):
    """Final test accuracy and macro-F1 of hwlib's default run (MiniLM, full fine-tuning, 3 epochs) under the two
    arms of ``CHECKS[compare]``, seed by seed: random vs length-grouped batches, or fp32 vs bf16 autocast.

    Every run is an ordinary book run: read from ``results/`` or trained and stored there, as ``python -m hwlib
    grid --models minilm --methods full --datasets <dataset> [--no-group-by-length | --precision bf16]`` would. The
    fp32 arm is the stored default run (``precision="auto"``) where that one trained in fp32, as its record says;
    elsewhere (a CPU on which ``auto`` picks bf16) it is a run with ``precision="fp32"``.
    """
    from hwlib.runs.load_or_train import run

    out = []
    for seed in seeds:
        for label, settings in CHECKS[compare]:
            c = RunConfig(dataset=dataset, seed=seed, **settings)
            if label == "fp32":
                stored = run(c, train=False)
                if stored is None or stored["provenance"]["precision"] != "fp32":
                    c = c.replace(precision="fp32")
            lines = []

            def note(line, seed=seed, label=label):
                lines.append(line)
                if line.startswith("training"):
                    log(f"  training seed={seed} {label} ...", flush=True)

            rec = run(c, progress=False, log=note)
            source = "stored" if lines[0].startswith("stored") else "trained now"
            out.append({"seed": seed, "arm": label, "precision": rec["provenance"]["precision"],
                        "accuracy": rec["metrics"]["accuracy"], "macro_f1": rec["metrics"]["macro_f1"],
                        "train_s": rec["timing"]["train_runtime_s"], "source": source})
    return out


def report_throughput(setups, steps: int, seed: int, peak_n: int, repeats: int) -> dict:
    """Measure, print the table and the notes under it; return the summary figures."""
    threads = torch.get_num_threads()
    print(f"throughput: MiniLM on ACL-ARC, {steps} timed steps per set-up (fastest of {repeats}), "
          f"torch {torch.__version__}, {threads} threads, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    rows, peaks = measure(setups, steps, seed, peak_n, repeats)
    hw = rows["hwlib"]
    profile = bench.profile_step(hw["timer"], hw["sample"][len(hw["sample"]) // 2], repeats=repeats)
    # the peak: the fastest of the rounds' matmuls (the one the neighbours slowed least), as the steps count their
    # fastest run; the median shows how much the neighbours took
    peak = {k: max(p[k] for p in peaks) for k in ("wall", "cpu")}
    peak_median = statistics.median(p["wall"] for p in peaks)
    bf16_rounds = [p["bf16"] for p in peaks if "bf16" in p]
    bf16_peak = ({k: max(p[k] for p in bf16_rounds) for k in ("wall", "cpu")} if bf16_rounds
                 else flops.matmul_flops(min(peak_n, 2048), torch.bfloat16, repeats=2))
    auto = cpu_choice()  # what precision="auto" trains in on this CPU, and why
    params = flops.token_params(hw["trainer"].model)
    n = params["per_token"]
    m = round(hw["padded_tokens"] / hw["batches"])  # tokens in a mean hwlib batch: its feed-forward matmul's rows
    shaped = flops.shaped_matmul_flops(m, 384, 1536)

    for r in rows.values():
        # epoch = batches x mean sampled step + loading and collating (single-threaded: CPU time ~ wall time)
        # (one shape: the fastest run; many shapes: the mean over the sampled shapes of each one's fastest run)
        r["step_s"] = min(r["wall"]) if r["fixed"] else statistics.mean(r["wall"])
        r["epoch_s"] = r["batches"] * r["step_s"] + r["loader_s"]
        r["epoch_cpu_s"] = r["batches"] * (min(r["cpu"]) if r["fixed"] else statistics.mean(r["cpu"])) + r["loader_s"]
        r["examples_per_s"] = r["examples"] / r["epoch_s"]
        r["real_tokens_per_s"] = r["real_tokens"] / r["epoch_s"]
        r["padded_tokens_per_s"] = r["padded_tokens"] / r["epoch_s"]
        # MFU against the peak of the arithmetic the set-up uses: the bf16 matmul's for bf16 autocast
        own = bf16_peak if r["setup"] == "hwlib-bf16" else peak
        r["peak"] = "bf16" if own is bf16_peak else "fp32"
        r["mfu"] = flops.training_flops(n, r["real_tokens_per_s"]) / own["wall"]
        r["mfu_padded"] = flops.training_flops(n, r["padded_tokens_per_s"]) / own["wall"]
        r["mfu_cpu"] = flops.training_flops(n, r["real_tokens"] / r["epoch_cpu_s"]) / own["cpu"]
    for r in rows.values():
        r["speedup"] = hw["examples_per_s"] / r["examples_per_s"]
        r["speedup_cpu"] = r["epoch_cpu_s"] / hw["epoch_cpu_s"]

    print()
    print(bench.table(list(rows.values()), [
        ("setup", "set-up", "s"), ("max_length", "max_len", "d"), ("truncated", "truncated", "d"),
        ("batches", "batches", "d"), ("pad_fraction", "pad", ".2f"), ("step_s", "s/step", ".2f"),
        ("epoch_s", "s/epoch", ".0f"), ("examples_per_s", "examples/s", ".2f"),
        ("real_tokens_per_s", "real tok/s", ".0f"), ("padded_tokens_per_s", "padded tok/s", ".0f"),
        ("peak", "peak", "s"), ("mfu", "MFU", ".3f"), ("mfu_padded", "MFU padded", ".3f"),
        ("speedup", "hwlib x", ".2f"),
        ("speedup_cpu", "hwlib x (CPU s)", ".2f")]))
    print()
    print("pad: fraction of the epoch's tokens that are padding; truncated: training examples cut at max_len;\n"
          "MFU: 6 N real tokens/s over the matmul peak of the set-up's arithmetic (peak: fp32, or bf16 for\n"
          "hwlib-bf16); MFU padded: the same counting pad tokens; hwlib: hwlib's defaults in fp32;\n"
          "hwlib x: hwlib's examples/s over the set-up's (wall clock); (CPU s): the same from process CPU time.")
    print(f"N = {n:,} parameters applied to every token (the 6 encoder layers); non-embedding "
          f"{params['non_embedding']:,}; all {params['total']:,}")
    print(f"fp32 matmul {peak_n}^3, fastest of {len(peaks)} rounds (the peak): {peak['wall'] / 1e9:.1f} GFLOP/s "
          f"(median {peak_median / 1e9:.1f}, slowest {min(p['wall'] for p in peaks) / 1e9:.1f}); "
          f"{peak['cpu'] / 1e9:.1f} GFLOP per CPU-second")
    flags = flops.cpu_flags()
    cap = auto["capability"]
    print(f"bf16 matmul {min(peak_n, 2048)}^3, fastest of {len(bf16_rounds) or 2}: {bf16_peak['wall'] / 1e9:.1f} "
          f"GFLOP/s ({bf16_peak['wall'] / peak['wall']:.2f} x fp32); CPU flags: "
          + " ".join(f"{k}={'yes' if v else 'no'}" for k, v in flags.items())
          + f"; oneDNN bf16: {'yes' if cap['onednn_bf16'] else 'no'}; native bf16: {'yes' if cap['native'] else 'no'}")
    print(f"precision='auto' on this CPU ({auto['threads']} threads): {auto['precision']}, {auto['reason']}")
    print(f"fp32 matmul at a mean hwlib batch's feed-forward shape ({m}x384 @ 384x1536): "
          f"{shaped / 1e9:.1f} GFLOP/s = {shaped / peak['wall']:.2f} of the peak")
    total = sum(profile.values())
    print("where a median hwlib step's time goes (profiler, self CPU time): "
          + ", ".join(f"{k} {v / total:.0%}" for k, v in profile.items()))
    print(f"hwlib MFU: {hw['mfu']:.3f} (wall clock); {hw['mfu_cpu']:.3f} (FLOPs per CPU-second over the matmul's); "
          f"{hw['mfu'] * params['total'] / n:.3f} if N counted all parameters (overstated: embeddings are a look-up)")

    summary = {
        "speedup_vs_pad512": hw["examples_per_s"] / rows["pad512"]["examples_per_s"],
        "speedup_vs_trainer_default": hw["examples_per_s"] / rows["trainer"]["examples_per_s"],
        "mfu": hw["mfu"],
        "mfu_cpu_time": hw["mfu_cpu"],
        "mfu_all_params": hw["mfu"] * params["total"] / n,
        "speedup_cpu_time_vs_pad512": rows["pad512"]["speedup_cpu"],
        "speedup_cpu_time_vs_trainer_default": rows["trainer"]["speedup_cpu"],
        "peak_fp32_flops": peak["wall"], "peak_fp32_flops_median": peak_median,
        "peak_fp32_flops_per_cpu_s": peak["cpu"], "peak_bf16_flops": bf16_peak["wall"],
        "matmul_at_batch_shape_flops": shaped,
        "n_per_token": n, "n_total": params["total"], "steps": steps, "repeats": repeats, "threads": threads,
        "cpu_flags": flags,
        "bf16": {"native": cap["native"], "onednn_bf16": cap["onednn_bf16"], "cpu": cap["cpu"],
                 "auto_precision": auto["precision"], "auto_reason": auto["reason"],
                 "auto_matmul_speedup": (auto["timing"] or {}).get("speedup"),
                 "matmul_peak_ratio": bf16_peak["wall"] / peak["wall"]},
        "hwlib_step_profile": {k: v / total for k, v in profile.items()},
        "setups": {k: {f: r[f] for f in ("examples_per_s", "real_tokens_per_s", "padded_tokens_per_s", "pad_fraction",
                                         "step_s", "epoch_s", "batches", "truncated", "mfu")} for k, r in rows.items()},
    }
    for k in ("pad128", "trainer-bs8", "hwlib-bf16"):
        if k in rows:
            summary[f"speedup_vs_{k.replace('-', '_')}"] = hw["examples_per_s"] / rows[k]["examples_per_s"]
    if "hwlib-bf16" in rows:
        summary["bf16"]["speedup_vs_fp32"] = rows["hwlib-bf16"]["examples_per_s"] / hw["examples_per_s"]
        summary["bf16"]["mfu"] = rows["hwlib-bf16"]["mfu"]
    if "hwlib-nodrop" in rows:
        summary["nodrop_speedup"] = rows["hwlib-nodrop"]["examples_per_s"] / hw["examples_per_s"]
        summary["mfu_nodrop"] = rows["hwlib-nodrop"]["mfu"]
    summary["goals_met"] = {k: summary[k] >= v for k, v in GOALS.items()}
    return summary



def report_accuracy(seeds, dataset="acl_sup", compare="batching") -> dict:
    (ref, _), (other, _) = CHECKS[compare]
    print(f"\naccuracy: hwlib defaults (MiniLM, 3 epochs, full {dataset} train, test set), {ref} vs {other}",
          flush=True)
    acc = accuracy_check(seeds, dataset, compare)
    print(bench.table(acc, [("seed", "seed", "d"), ("arm", compare, "s"), ("precision", "precision", "s"),
                            ("accuracy", "accuracy", ".4f"), ("macro_f1", "macro-F1", ".4f"),
                            ("train_s", "train s", ".0f"), ("source", "run", "s")]))
    by = {b: [a for a in acc if a["arm"] == b] for b in (other, ref)}
    out = {b: {m: statistics.mean(a[m] for a in v) for m in ("accuracy", "macro_f1")} for b, v in by.items()}
    diffs = {m: [g[m] - r[m] for g, r in zip(by[other], by[ref])] for m in ("accuracy", "macro_f1")}
    tests = {m: paired_t(d) for m, d in diffs.items()}
    for m, d in diffs.items():
        t = tests[m]
        spread = (f" (sd {t['std']:.4f} over {len(d)} seeds; 95 % interval {t['low']:+.4f} to {t['high']:+.4f})"
                  if t["pairs"] > 1 else "")
        print(f"{other} - {ref}, {m}: mean {t['mean']:+.4f}{spread}; per seed " + " ".join(f"{x:+.4f}" for x in d))
    key = "grouped_minus_random" if compare == "batching" else "bf16_minus_fp32"
    return {**out, key: {m: t["mean"] for m, t in tests.items()}, "intervals": tests, "seeds": list(seeds),
            "dataset": dataset, "compare": compare}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="timed steps per set-up (default 5, --quick 2)")
    p.add_argument("--setups", nargs="+", choices=SETUPS, default=None, help=f"default: all ({' '.join(SETUPS)})")
    p.add_argument("--quick", action="store_true", help=f"2 steps of {', '.join(QUICK_SETUPS)}: about a minute")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None,
                   help="runs of each timed batch; the fastest counts (default 2, --quick 1)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    p.add_argument("--peak-size", type=int, default=4096, help="n of the n x n matmul that sets the peak")
    p.add_argument("--accuracy", action="store_true", help="also compare accuracy, length-grouped vs random batches")
    p.add_argument("--only-accuracy", action="store_true", help="the accuracy comparison alone")
    p.add_argument("--accuracy-seeds", type=int, nargs="+", default=[1, 2, 3],
                   help="seeds of the accuracy check (runs missing from results/ are trained and stored there)")
    p.add_argument("--accuracy-dataset", default="acl_sup", choices=("acl_sup", "restaurant_sup", "agnews_sup"),
                   help="dataset of the accuracy check")
    p.add_argument("--accuracy-compare", default="batching", choices=sorted(CHECKS),
                   help="batching: random vs length-grouped batches; precision: fp32 vs bf16 autocast")
    ns = p.parse_args(argv)
    steps = ns.steps if ns.steps is not None else (2 if ns.quick else 5)
    ns.repeats = ns.repeats if ns.repeats is not None else (1 if ns.quick else 2)
    setups = tuple(ns.setups or (QUICK_SETUPS if ns.quick else SETUPS))
    if steps < 1 or ns.repeats < 1 or (ns.threads is not None and ns.threads < 1):
        p.error(f"--steps, --repeats and --threads must be >= 1, got {steps}, {ns.repeats}, {ns.threads}")
    if ns.threads:
        torch.set_num_threads(ns.threads)
    for needed in ("hwlib", "trainer", "pad512"):
        if needed not in setups:
            p.error(f"--setups must include {needed} (the summary's ratios need it), got {' '.join(setups)}")

    bench.quiet()
    load_before = os.getloadavg()[0]
    note = bench.load_note()
    if note:
        print(note, flush=True)
    summary = {}
    if not ns.only_accuracy:
        summary = report_throughput(setups, steps, ns.seed, ns.peak_size, ns.repeats)
    if ns.accuracy or ns.only_accuracy:
        summary["accuracy"] = report_accuracy(ns.accuracy_seeds, ns.accuracy_dataset, ns.accuracy_compare)
    summary["load_average_before"] = load_before
    print(bench.summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
