"""What ``precision="auto"`` trains in: bf16 autocast where it is measured to be faster, fp32 elsewhere.

On a GPU, ``auto`` is bf16 autocast (fp16 where the GPU has no bf16). On a CPU it depends on the CPU, and the CPU's
flags are not enough to tell: two machines of this project's kind, both reporting ``avx512_bf16`` and no AMX, ran
bf16 autocast at 2.0x and at 0.7x the speed of fp32 (``bench/README.md``, "Precision"). So ``auto`` measures:

1. bf16 is a candidate only where the CPU reports native bf16 arithmetic (AVX512-BF16 or AMX) and torch's oneDNN
   can use it (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``); elsewhere a bf16 matmul is emulated and slow.
2. A candidate is then timed: a matmul of a training step's feed-forward shape in bf16 and in fp32, in alternating
   rounds (so a busy neighbour slows both alike), with the thread count the run uses. bf16 is chosen only if its
   matmul is at least ``BF16_MIN_SPEEDUP`` times as fast, because about a third of a MiniLM step is not matmul
   (dropout, element-wise ops, the optimizer: ``bench/README.md``) and autocast adds casts; a smaller matmul gain
   does not survive into the step.

The choice is cached per CPU model, flags, torch version and thread count in ``$HWLIB_CACHE_DIR/precision.json``
(default ``~/.cache/hwlib``), so the timing (about a second) happens once per machine. Every run records the
precision it actually used (``provenance.precision``). Accuracy: bf16 and fp32 runs of the same seeds are compared in
``bench/README.md``.

``HWLIB_AUTO_PRECISION=bf16`` or ``=fp32`` makes ``auto`` decide that way on any machine, CPU or GPU, without
measuring (``forced()``): what a bf16 CPU would train in can be tried on one without bf16 (slowly: emulated), and the
test suite runs its numerics-sensitive files once with each decision. An explicit ``precision="fp32"`` (or
``"bf16"``) is never overridden.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hwlib.files import cache_root, write_json_atomic
from hwlib.machine.flags import cpu_flags, cpu_name

BF16_MIN_SPEEDUP = 1.3  # bf16 matmul over fp32 matmul that a bf16 choice needs (see the module docstring)
SHAPE = (1024, 384, 1536)  # (tokens, H, 4H): the feed-forward matmul of a MiniLM batch of 16 x 64 tokens
FORCE_ENV = "HWLIB_AUTO_PRECISION"  # bf16 | fp32: what "auto" resolves to, on any machine, without measuring
FORCEABLE = ("bf16", "fp32")


def forced() -> str | None:
    """The decision ``$HWLIB_AUTO_PRECISION`` imposes on ``auto`` (``"bf16"`` or ``"fp32"``), or ``None`` when it is
    unset or empty. Any other value is an error that names it, raised before anything is loaded or trained."""
    value = os.environ.get(FORCE_ENV, "").strip()
    if not value:
        return None
    if value not in FORCEABLE:
        raise ValueError(f"{FORCE_ENV}={value!r}: must be one of {', '.join(FORCEABLE)} "
                         f"(or unset, to let precision='auto' measure this machine)")
    return value


def bf16_capability() -> dict:
    """What this CPU and torch report about bf16: the CPU flags, oneDNN's bf16 support, and ``native``, true when
    the CPU has bf16 arithmetic (AVX512-BF16 or AMX) that oneDNN can use."""
    import torch

    flags = cpu_flags()
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    native = (flags.get("avx512_bf16", False) or flags.get("amx_bf16", False)) and onednn
    return {"cpu": cpu_name(), "flags": flags, "onednn_bf16": onednn, "native": native,
            "torch_capability": torch.backends.cpu.get_cpu_capability()}


def time_matmuls(rounds: int = 5, shape=SHAPE) -> dict:
    """FLOP/s of the ``shape`` matmul in fp32 and in bf16, each the fastest of ``rounds`` alternating rounds (with
    the current torch thread count), and ``speedup`` = bf16 over fp32."""
    import torch

    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}: must be an integer >= 1")
    m, k, n = shape
    operands = {dt: (torch.randn(m, k).to(dt), torch.randn(k, n).to(dt)) for dt in (torch.float32, torch.bfloat16)}
    best = {dt: float("inf") for dt in operands}
    for a, b in operands.values():
        torch.matmul(a, b)  # warm-up: thread pool and kernels
    for _ in range(rounds):
        for dt, (a, b) in operands.items():
            t = time.perf_counter()
            torch.matmul(a, b)
            best[dt] = min(best[dt], time.perf_counter() - t)
    fp32, bf16 = (2 * m * k * n / best[dt] for dt in (torch.float32, torch.bfloat16))
    return {"fp32_flops": fp32, "bf16_flops": bf16, "speedup": bf16 / fp32, "shape": list(shape), "rounds": rounds}


def decide(capability: dict, timing: dict | None) -> tuple[str, str]:
    """The rule, apart from the measuring: ``(precision, reason)`` from ``bf16_capability()`` and ``time_matmuls()``
    (``None`` where bf16 was not a candidate and so not timed)."""
    if not capability["native"]:
        return "fp32", "no native bf16 arithmetic (AVX512-BF16 or AMX usable by oneDNN): bf16 would be emulated"
    if timing is None:
        raise ValueError("a CPU with native bf16 needs time_matmuls() to decide")
    x = timing["speedup"]
    if x >= BF16_MIN_SPEEDUP:
        return "bf16", f"bf16 matmul measured {x:.2f}x as fast as fp32 (bf16 needs >= {BF16_MIN_SPEEDUP})"
    return "fp32", f"bf16 matmul measured {x:.2f}x the speed of fp32, below the {BF16_MIN_SPEEDUP}x bf16 needs"


def _cache_path() -> Path:
    return cache_root() / "precision.json"


def cpu_choice(refresh: bool = False) -> dict:
    """``auto``'s choice on this CPU with the current torch thread count: ``precision``, ``reason``, the capability
    and the timing it rests on. Measured at first use and cached; ``refresh=True`` measures again. Under
    ``$HWLIB_AUTO_PRECISION`` the forced decision, with ``forced: True``: nothing is timed, nothing cached."""
    import torch

    cap = bf16_capability()
    force = forced()
    if force is not None:
        return {"precision": force, "reason": f"forced by {FORCE_ENV}={force}", "forced": True, "capability": cap,
                "timing": None, "threads": torch.get_num_threads()}
    key = json.dumps([cap["cpu"], cap["flags"], cap["onednn_bf16"], torch.__version__, torch.get_num_threads()])
    path = _cache_path()
    cache = {}
    if path.is_file():
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}  # an unreadable cache is measured again, never trusted
    if not refresh and isinstance(cache.get(key), dict) and cache[key].get("precision") in ("fp32", "bf16"):
        return cache[key]
    timing = time_matmuls() if cap["native"] else None
    precision, reason = decide(cap, timing)
    choice = {"precision": precision, "reason": reason, "capability": cap, "timing": timing,
              "threads": torch.get_num_threads()}
    try:
        write_json_atomic(path, {**cache, key: choice})
    except OSError:
        pass  # a read-only home still trains; it only measures again next time
    return choice
