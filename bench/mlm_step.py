"""Masked-LM pretraining step: the stock head (vocabulary projection at every position) against hwlib's masked-only
head (``hwlib.train.pretrain.masked_only_head``: the projection only where a token is masked), on the same batches.

The stock ``BertForMaskedLM`` multiplies every position's hidden state by the 384 x 30,522 decoder (about twice
MiniLM's encoder weights per token) and then ignores the 85 % of positions that carry no label. Both models start
from the same weights; each timed step is a forward, a backward and an AdamW step on one batch of ACL-ARC training
text (``PretrainConfig``'s batch of 32, 15 % masking drawn once per batch, the same masks for both). Batches are
spread over the lengths of one epoch; each is timed with each model in turn (alternating who goes first), the
fastest of ``--repeats`` runs counts. The losses of the first step are compared too: they must agree.

    python bench/mlm_step.py --threads 1     # about 2 minutes

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


def batches(tokenizer, batch_size: int, steps: int, seed: int) -> list[dict]:
    """``steps`` masked batches of ACL-ARC training text, from short to long (sorted by length, evenly spaced)."""
    from transformers import DataCollatorForLanguageModeling

    from hwlib.data import get_dataset
    from hwlib.models.tapt import PretrainConfig

    cfg = PretrainConfig()
    texts = list(get_dataset("acl_sup", sep_token=tokenizer.sep_token)["train"]["text"])
    ids = sorted(tokenizer(texts, truncation=True, max_length=cfg.max_length)["input_ids"], key=len)
    n = len(ids) // batch_size
    picks = [round(i * (n - 1) / max(1, steps - 1)) for i in range(steps)]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mlm_probability, seed=seed)
    return [collate([{"input_ids": x} for x in ids[p * batch_size:(p + 1) * batch_size]]) for p in picks]


def main(argv=None) -> int:
    from transformers import AutoModelForMaskedLM

    from hwlib.models.encoders import load_tokenizer, resolve
    from hwlib.train.pretrain import masked_only_head

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=8, help="batches timed with each head")
    p.add_argument("--repeats", type=int, default=2, help="runs of each batch; the fastest counts")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    ns = p.parse_args(argv)
    if min(ns.steps, ns.repeats, ns.batch_size) < 1 or (ns.threads is not None and ns.threads < 1):
        p.error(f"--steps, --repeats, --batch-size and --threads must be >= 1, got {ns.steps}, {ns.repeats}, "
                f"{ns.batch_size}, {ns.threads}")
    if ns.threads:
        torch.set_num_threads(ns.threads)
    bench.quiet()
    load_before = os.getloadavg()[0]
    print(f"mlm_step: MiniLM masked-LM on ACL-ARC training text, batch {ns.batch_size}, {ns.steps} batches (fastest "
          f"of {ns.repeats}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    tokenizer = load_tokenizer("minilm")
    data = batches(tokenizer, ns.batch_size, ns.steps, ns.seed)
    models, optims = {}, {}
    for name in ("stock", "masked-only"):
        torch.manual_seed(ns.seed)
        m = AutoModelForMaskedLM.from_pretrained(resolve("minilm"), use_safetensors=True)
        models[name] = masked_only_head(m) if name == "masked-only" else m
        models[name].train()
        optims[name] = torch.optim.AdamW(models[name].parameters(), lr=1e-4)
    for m in models.values():
        m.eval()
    with torch.no_grad():
        exact = {k: float(m(**data[0]).loss) for k, m in models.items()}  # no dropout: must agree
    for m in models.values():
        m.train()

    def step(name, batch):
        t = time.perf_counter()
        loss = models[name](**batch).loss
        loss.backward()
        optims[name].step()
        optims[name].zero_grad(set_to_none=True)
        return time.perf_counter() - t

    for name in models:
        step(name, data[0])  # warm-up: allocates AdamW's state
    times = {k: [] for k in models}
    for j, batch in enumerate(data):
        for name in (("stock", "masked-only") if j % 2 == 0 else ("masked-only", "stock")):
            times[name].append(min(step(name, batch) for _ in range(ns.repeats)))
        masked = int((batch["labels"] != -100).sum())
        print(f"  batch {j + 1}/{len(data)} ({batch['input_ids'].shape[0]} x {batch['input_ids'].shape[1]} tokens, "
              f"{masked} masked): stock {times['stock'][-1]:.3f}s, masked-only {times['masked-only'][-1]:.3f}s, "
              f"ratio {times['stock'][-1] / times['masked-only'][-1]:.2f}", flush=True)
    speedup = sum(times["stock"]) / sum(times["masked-only"])
    print(f"\nspeed-up stock / masked-only: {speedup:.3f} (total over {len(data)} batches); per batch "
          + " ".join(f"{a / b:.2f}" for a, b in zip(times["stock"], times["masked-only"])))
    print(f"loss on the first batch without dropout: stock {exact['stock']:.6f}, masked-only "
          f"{exact['masked-only']:.6f} (difference {abs(exact['stock'] - exact['masked-only']):.1e})")
    summary = {"speedup": speedup, "step_s": {k: statistics.mean(v) for k, v in times.items()},
               "loss_eval_mode": exact, "steps": len(data), "repeats": ns.repeats,
               "batch_size": ns.batch_size, "threads": torch.get_num_threads(), "load_average_before": load_before}
    print(bench.summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
