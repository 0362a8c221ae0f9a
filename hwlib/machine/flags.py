"""What this CPU reports it can do (Linux ``/proc/cpuinfo``): the flags that decide bf16 and the fast matmuls."""
from __future__ import annotations


def cpu_flags(names=("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")) -> dict:
    """Which of ``names`` this CPU reports (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return {}
    return {n: n in flags for n in names}
