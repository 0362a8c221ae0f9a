"""What this CPU reports about itself (Linux ``/proc/cpuinfo``): its model name and the flags that decide bf16 and
the fast matmuls."""
from __future__ import annotations

import platform


def _cpuinfo_field(name: str) -> str | None:
    """The value of the first ``name`` line of ``/proc/cpuinfo``: ``""`` where there is no such line, ``None`` where
    the file cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(name)), "")
    except OSError:
        return None


def cpu_flags(names=("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")) -> dict:
    """Which of ``names`` this CPU reports (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    flags = _cpuinfo_field("flags")
    return {} if flags is None else {n: n in flags.split() for n in names}


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` reports."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()
