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
