"""How the book draws its figures: at the text column's width, so that a figure is shown unscaled, with no text
smaller than 9 pt. At 100 dpi a 7.4-inch figure is about 740 px, the column's width at a 1280 px window."""
from __future__ import annotations

COLUMN_INCHES = 7.4
DPI = 100
MIN_FONT_PT = 9
FIGURE = {"figure.dpi": DPI, "figure.figsize": (COLUMN_INCHES, 3.2), "font.size": 10, "axes.titlesize": 10,
          "axes.labelsize": 10, "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT,
          "legend.fontsize": MIN_FONT_PT}


def book_figures() -> None:
    """Set matplotlib's defaults to the book's: figure width and resolution, font sizes."""
    import matplotlib

    matplotlib.rcParams.update(FIGURE)


EMPTY_CELL = "—"


def titled(frame):
    """``frame`` with every dataset name (``acl_sup``) in its index, its column labels and its text cells written as the
    book names the dataset (``ACL-ARC``, ``hwlib.data.tasks.title``); everything else as it was."""
    import pandas as pd

    from hwlib.data.tasks import DATASET_NAMES, title

    names = {n: title(n) for n in DATASET_NAMES}

    def name(value):
        return names.get(value, value) if isinstance(value, str) else value

    def axis(index):
        if isinstance(index, pd.MultiIndex):
            return index.set_levels([level.map(name) for level in index.levels], verify_integrity=False)
        return index.map(name)

    shown = frame.copy()
    shown.index, shown.columns = axis(shown.index), axis(shown.columns)
    for i in range(shown.shape[1]):
        if not pd.api.types.is_numeric_dtype(shown.iloc[:, i]):
            shown.isetitem(i, shown.iloc[:, i].map(name))
    return shown


def table_html(frame) -> str:
    """A table as the book shows it: datasets named as the book names them (``titled``), an empty cell (nothing
    measured or nothing to compare) as a dash rather than ``NaN`` or ``<NA>``, and a column that holds only whole
    numbers (a rank, a count, an epoch that a missing value turned into floats) as whole numbers; everything else as
    pandas shows it (``display.precision``)."""
    import pandas as pd

    shown = titled(frame)
    for i in range(shown.shape[1]):
        values = shown.iloc[:, i]
        whole = pd.api.types.is_integer_dtype(values)  # Int64 and the like, whose missing value is <NA>
        if pd.api.types.is_float_dtype(values) and values.notna().any():
            present = values.dropna()
            whole = bool((present == present.round()).all() and present.abs().max() < 2**53)
        if whole and (values.isna().any() or pd.api.types.is_float_dtype(values)):
            shown.isetitem(i, pd.Series([EMPTY_CELL if pd.isna(v) else int(v) for v in values], index=shown.index,
                                        dtype=object))
    return shown.to_html(na_rep=EMPTY_CELL, notebook=True, max_rows=pd.get_option("display.max_rows"),
                         max_cols=pd.get_option("display.max_columns"), show_dimensions=False)


def book_tables() -> None:
    """Show every DataFrame in the running notebook through ``table_html``; outside IPython, nothing to do."""
    import pandas as pd

    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)
