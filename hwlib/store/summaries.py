"""The book's stored summaries beside the runs: benchmark summaries (``results/bench/<name>.json``, written by
``bench/<name>.py --out``) and the GPU memory measurements (``results/memory/cuda.json``), each with the command or
the provenance that made it; each kind with one path, one read and one write."""
from __future__ import annotations

from pathlib import Path

from hwlib.files import read_json, results_root, write_json_atomic
from hwlib.machine.provenance import device_and_precision, provenance


def bench_path(name: str) -> Path:
    """Where the book keeps the summary of benchmark ``name`` (``bench/<name>.py --out`` writes it)."""
    return results_root() / "bench" / f"{name}.json"


def store_bench(path, summary: dict, command: str) -> Path:
    """A benchmark's summary with the command that made it and its provenance (device, threads, versions, date),
    written atomically to ``path``."""
    device, _ = device_and_precision("fp32")
    return write_json_atomic(Path(path), {"summary": summary, "command": command,
                                          "provenance": provenance(device, "fp32")})


def load_bench(name: str) -> dict | None:
    """The stored summary of benchmark ``name`` (``summary``, ``command``, ``provenance``), or ``None``."""
    path = bench_path(name)
    return read_json(path, "benchmark summary", ("summary", "command", "provenance")) if path.is_file() else None


def memory_path() -> Path:
    """Where the GPU memory measurements are stored (``python -m hwlib cuda-memory`` writes them)."""
    return results_root() / "memory" / "cuda.json"


def store_memory(record: dict, path=None) -> Path:
    return write_json_atomic(Path(path) if path else memory_path(), record)


def load_memory(path=None) -> dict | None:
    """The stored GPU memory measurements (``cases``, ``provenance``), or ``None`` when none are stored."""
    p = Path(path) if path else memory_path()
    return read_json(p, "GPU memory measurements", ("cases", "provenance")) if p.is_file() else None
