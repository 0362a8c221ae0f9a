"""Where and how a run is made: the device, the precision ``"auto"`` resolves to there, package versions,
data-parallel processes, date and host (``provenance``), as every stored record and summary keeps them."""
from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sys

from hwlib import __version__
from hwlib.machine import precision as choice


def device_and_precision(precision: str) -> tuple[str, str]:
    """The device a run trains on, in words, and the precision ``"auto"`` resolves to there (``$HWLIB_AUTO_PRECISION``
    forces it either way: ``hwlib.machine.precision.forced``)."""
    import torch

    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
        if precision == "auto":
            precision = choice.forced() or ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    else:
        device = device_words(f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
        if precision == "auto":  # bf16 only where it is measured to be faster here (hwlib.machine.precision)
            precision = choice.cpu_choice()["precision"]
    return device, precision


def device_words(device: str) -> str:
    """A record's device as the book prints it: ``cpu (x86_64, 1 thread)``. Records made before the singular was
    written say ``1 threads``; both name the same device."""
    return re.sub(r"\b1 threads\)", "1 thread)", str(device))


def versions(packages=("torch", "transformers", "datasets")) -> dict:
    """hwlib's, Python's and each package's version, as a run's provenance records them."""
    import importlib

    return {"hwlib": __version__, **{p: importlib.import_module(p).__version__ for p in packages},
            "python": sys.version.split()[0]}


def world_size() -> int:
    """Data-parallel processes (``torchrun`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def provenance(device: str, precision: str) -> dict:
    """Where and how a run was made: package versions, device, precision, processes, date (UTC) and host."""
    return {**versions(), "device": device, "precision": precision, "world_size": world_size(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}
