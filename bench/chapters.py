"""How long each chapter takes to execute from the stored runs (nothing trains): every notebook run once by papermill
in a fresh kernel, with ``HWLIB_NO_TRAIN=1``, timed as a whole. Prints a table and stores the summary with its
provenance (``--out results/bench/chapters.json``), which the "Run it yourself" page reads.

    python bench/chapters.py --out results/bench/chapters.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ("findings", "task1_data", "task2", "memory", "task3", "recipes", "tapt", "claims")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chapters", nargs="+", default=list(CHAPTERS), choices=CHAPTERS)
    p.add_argument("--out", default=None, help="store the summary here (results/bench/chapters.json)")
    ns = p.parse_args(argv)
    import papermill as pm

    os.environ["HWLIB_NO_TRAIN"] = "1"
    load_before = os.getloadavg()[0]
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ns.chapters:
            start = time.perf_counter()
            pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(Path(tmp) / f"{name}.ipynb"),
                                cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
            seconds[name] = time.perf_counter() - start
            print(f"{name:<12} {seconds[name]:7.1f} s", flush=True)
    summary = {"seconds": seconds, "total_s": sum(seconds.values()), "load_average_before": load_before,
               "cpus": os.cpu_count()}
    if ns.out:
        from hwlib.store.summaries import store_bench

        print(f"stored {store_bench(ns.out, summary, 'python bench/chapters.py ' + ' '.join(sys.argv[1:]))}")
    from hwlib.speed.bench import summary_line

    print(summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
