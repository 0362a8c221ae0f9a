"""What merging buys at inference: prediction time of LoRA merged into the weights vs LoRA beside them, the
bottleneck adapters and the plain model, on the same batches.

LoRA's update ``(alpha / r) B A`` can be added into the frozen weight once training is over
(``merge_and_unload``): the merged model is the plain architecture again, with no extra matmuls. The adapters
cannot be folded away (each has a nonlinearity between its two projections), so they cost time at every
prediction. Four models, all MiniLM with a 6-label head, in eval mode under ``torch.inference_mode``:

* ``plain``          the model without any added module (what full fine-tuning serves)
* ``adapter``        two bottleneck adapters per layer (size 64)
* ``lora``           LoRA on query and value (rank 64), unmerged (peft's wrapped layers)
* ``lora-merged``    the same after ``merge_and_unload``; its predictions are checked against ``lora``'s

The LoRA ``B`` matrices are set to small random values first (they start at zero), so that the merge changes the
weights and the check means something; the time of a forward pass does not depend on the values. The batches are
ACL-ARC's test set, sorted by length and cut into batches of ``--batch-size``; every round times each model on each
batch (rotating who goes first), and each batch's fastest run counts.

    python bench/inference.py                      # about a minute
    python bench/inference.py --threads 1 --out results/bench/inference.json   # what the book shows

The last line printed is ``SUMMARY {json}``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing hwlib

import torch  # noqa: E402

from hwlib.speed import bench  # noqa: E402

MODELS = ("plain", "adapter", "lora", "lora-merged")


def build_models(num_labels: int, adapter_size: int, lora_rank: int, seed: int) -> dict:
    """The four models, from the same pretrained weights and the same head."""
    import copy

    from hwlib.models.adapters import add_adapters
    from hwlib.models.lora import add_lora
    from hwlib.models.encoders import load_model

    plain, tokenizer = load_model("minilm", num_labels=num_labels, seed=seed)
    adapter = add_adapters(copy.deepcopy(plain), size=adapter_size)
    lora = add_lora(copy.deepcopy(plain), rank=lora_rank)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.copy_(0.01 * torch.randn(p.shape, generator=g))
    merged = copy.deepcopy(lora).merge_and_unload()
    models = {"plain": plain, "adapter": adapter, "lora": lora, "lora-merged": merged}
    for m in models.values():
        m.eval()
    return models, tokenizer


def batches(tokenizer, batch_size: int, max_length: int = 256) -> list[dict]:
    """ACL-ARC's test texts, sorted by length, as padded batches of ``batch_size``."""
    from hwlib.data import get_dataset

    texts = list(get_dataset("acl_sup", sep_token=tokenizer.sep_token)["test"]["text"])
    texts.sort(key=lambda t: len(tokenizer(t)["input_ids"]))
    return [tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt") for i in range(0, len(texts), batch_size)]


def time_models(models: dict, data: list[dict], rounds: int) -> dict:
    """Seconds per pass over ``data`` for each model: the sum over batches of each batch's fastest run."""
    best = {k: [float("inf")] * len(data) for k in models}
    names = list(models)
    with torch.inference_mode():
        for m in models.values():
            m(**data[0])  # warm-up
        for r in range(rounds):
            for i, batch in enumerate(data):
                for k in names[(r + i) % len(names):] + names[:(r + i) % len(names)]:
                    t = time.perf_counter()
                    models[k](**batch)
                    best[k][i] = min(best[k][i], time.perf_counter() - t)
    return {k: sum(v) for k, v in best.items()}


def max_merge_difference(models: dict, data: list[dict]) -> float:
    """The largest difference of logits between LoRA unmerged and merged over ``data``."""
    with torch.inference_mode():
        return max(float((models["lora"](**b).logits - models["lora-merged"](**b).logits).abs().max())
                   for b in data)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=7, help="passes over the batches; each batch's fastest counts")
    p.add_argument("--adapter-size", type=int, default=64)
    p.add_argument("--lora-rank", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    p.add_argument("--out", default=None, help="also write the summary with its provenance to this JSON file")
    ns = p.parse_args(argv)
    for name in ("batch_size", "rounds", "adapter_size", "lora_rank"):
        if getattr(ns, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(ns, name)}")
    if ns.threads is not None:
        if ns.threads < 1:
            p.error(f"--threads must be >= 1, got {ns.threads}")
        torch.set_num_threads(ns.threads)
    bench.quiet()
    load_before = os.getloadavg()[0]
    print(f"inference: MiniLM on ACL-ARC's test set, batches of {ns.batch_size}, {ns.rounds} rounds, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    models, tokenizer = build_models(6, ns.adapter_size, ns.lora_rank, ns.seed)
    data = batches(tokenizer, ns.batch_size)
    seconds = time_models(models, data, ns.rounds)
    diff = max_merge_difference(models, data)
    examples = sum(len(b["input_ids"]) for b in data)
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    rows = [{"model": k, "params": params[k], "s": s, "per_s": examples / s, "x": s / seconds["plain"]}
            for k, s in seconds.items()]
    print(bench.table(rows, [("model", "model", "s"), ("params", "parameters", ",d"), ("s", "s per pass", ".3f"),
                             ("per_s", "examples/s", ".1f"), ("x", "time x plain", ".3f")]))
    print(f"\nLoRA merged vs unmerged: largest logit difference {diff:.2e} over {examples} test examples; "
          f"merging saves {1 - seconds['lora-merged'] / seconds['lora']:.0%} of LoRA's prediction time")
    summary = {"seconds_per_pass": seconds, "time_vs_plain": {k: s / seconds["plain"] for k, s in seconds.items()},
               "merged_speedup_over_unmerged": seconds["lora"] / seconds["lora-merged"],
               "max_merge_logit_difference": diff, "examples": examples, "batches": len(data),
               "batch_size": ns.batch_size, "rounds": ns.rounds, "params": params, "lora_rank": ns.lora_rank,
               "adapter_size": ns.adapter_size, "threads": torch.get_num_threads(),
               "load_average_before": load_before}
    if ns.out:
        from hwlib.store.summaries import store_bench

        print(f"stored {store_bench(ns.out, summary, 'python bench/inference.py ' + ' '.join(sys.argv[1:]))}")
    print(bench.summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
