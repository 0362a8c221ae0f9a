"""Root of the test suite: checking a chapter (`pytest --nbval notebooks/task3.ipynb`, or the whole `pytest --nbval`)
never trains. A run that is not stored is listed with the command that trains it; the kernels nbval starts inherit
this. Tests that train through a notebook unset it (tests/conftest.py holds their fixtures)."""
import os

os.environ["HWLIB_NO_TRAIN"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
