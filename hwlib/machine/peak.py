"""The peak memory of a run: on a GPU, the allocator's peak; on a Linux CPU, the resident set's high-water mark, reset
before the run where the machine allows it (``$HWLIB_PEAK_MEMORY`` forces one or the other)."""
from __future__ import annotations

import os
import resource


def peak_rss_bytes() -> int:
    """The kernel's high-water mark of this process's resident memory (Linux)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


PEAK_MEMORY_ENV = "HWLIB_PEAK_MEMORY"  # run | process: which CPU peak PeakMemory measures, on any machine


def peak_memory_mode() -> str | None:
    """The CPU peak that ``$HWLIB_PEAK_MEMORY`` imposes (``"run"`` or ``"process"``), or ``None`` (unset or empty:
    the run's own peak where the machine allows it). Any other value is an error naming it."""
    value = os.environ.get(PEAK_MEMORY_ENV, "").strip()
    if value and value not in ("run", "process"):
        raise ValueError(f"{PEAK_MEMORY_ENV}={value!r}: must be 'run' or 'process' (or unset, to use the run's own "
                         "peak where the machine allows it)")
    return value or None


class PeakMemory:
    """The peak memory of what runs inside ``with PeakMemory() as m:``; ``m.bytes`` and ``m.kind`` after it.

    On a GPU: ``torch.cuda.max_memory_allocated`` (``cuda_max_allocated``). On a Linux CPU: the resident set's
    high-water mark, reset first through ``/proc/self/clear_refs`` so that an earlier run of the same grid process
    does not count (``run_peak_rss``); where that file cannot be written (not Linux, or a container that forbids
    it), the whole process's peak (``process_peak_rss``). ``$HWLIB_PEAK_MEMORY=process`` forces the second on any
    machine, ``=run`` insists on the first (an error where the reset is impossible).
    """

    def __enter__(self):
        import torch

        mode = peak_memory_mode()  # checked first, also on a GPU
        self._cuda = torch.cuda.is_available()
        if self._cuda:
            torch.cuda.reset_peak_memory_stats()
            self.kind = "cuda_max_allocated"
        elif mode == "process":
            self.kind = "process_peak_rss"
        elif self._reset_rss():
            self.kind = "run_peak_rss"
        elif mode == "run":
            raise RuntimeError(f"{PEAK_MEMORY_ENV}=run, but this machine cannot reset the resident set's high-water "
                               "mark (/proc/self/clear_refs is not writable): unset it, or set it to 'process'")
        else:
            self.kind = "process_peak_rss"
        return self

    def __exit__(self, *exc):
        import torch

        if self._cuda:
            self.bytes = torch.cuda.max_memory_allocated()
        elif self.kind == "run_peak_rss":
            self.bytes = peak_rss_bytes()
        else:
            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return False

    @staticmethod
    def _reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False
