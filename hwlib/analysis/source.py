"""The library's own code as the chapters show it: ``show(obj, ...)`` is the source of each object
(``inspect.getsource``) in one fenced Python block, so that the book teaches the code that produced its numbers.
The objects shown keep their lines within ``WIDTH`` columns, the book's page (``tests/test_notebooks.py`` checks
every block the stored chapters show)."""
from __future__ import annotations

import inspect

WIDTH = 88


def text(*objects) -> str:
    """The objects' source, one after another, a blank line between them."""
    return "\n\n".join(inspect.getsource(o).rstrip() for o in objects) + "\n"


def too_wide(source: str, width: int = WIDTH) -> list[str]:
    """The lines of ``source`` longer than ``width`` characters."""
    return [line for line in source.splitlines() if len(line) > width]


def show(*objects):
    """The objects' source as Markdown, for ``display``."""
    from IPython.display import Markdown

    return Markdown(f"```python\n{text(*objects)}```")
