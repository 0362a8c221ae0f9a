"""Shared set-up: the real data (through HWLIB_DATA_DIR when set), the embedded model offline, and a private
results directory for every test that trains, so the committed results/ is never touched."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Checking the stored notebooks (pytest --nbval) must never train: runs that are not stored are listed, not trained.
# The kernels nbval starts inherit this; tests that train through a notebook unset it.
os.environ["HWLIB_NO_TRAIN"] = "1"


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """A fresh, empty results directory, also exported as HWLIB_RESULTS_DIR for subprocesses."""
    d = tmp_path / "results"
    d.mkdir()
    monkeypatch.setenv("HWLIB_RESULTS_DIR", str(d))
    return d
