"""One look for every chart: palette, sizes, titles that state the finding, and the "not enough history" panel.

Figures are drawn at ``FIGSIZE`` inches and ``DPI`` and inserted into the workbook at that pixel size (720 x 380),
so the fonts below are the sizes a reader sees in the sheet.
"""

from __future__ import annotations

import re
import textwrap

import matplotlib

matplotlib.use("Agg", force=False)  # headless by default; an interactive backend already chosen is kept

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FIGSIZE = (7.2, 3.8)
DPI = 100

INK = "#1f2d3d"
SUBTLE = "#5b6b7b"
GRID = "#dde3ea"
BASE = "#4a6f94"
ACCENT = "#c8453a"
ACCENT_LIGHT = "#f7d9d5"
MUTED = "#a9b4c0"
NORMAL_BAND = "#e6ebf0"
BANDS = {"Low": "#b9cfe2", "Watch": "#f2c14e", "High": "#e9803a", "Critical": "#b5302a"}
TIERS = {"Occasional": "#c9d5e1", "Habitual": "#7d9fc0", "Loyal": "#244d78"}

TITLE_SIZE, SUBTITLE_SIZE, LABEL_SIZE, TICK_SIZE = 12.5, 9.5, 10, 9
TITLE_WIDTH = 68  # characters per title line at FIGSIZE
SUBTITLE_WIDTH = 100

RC = {
    "font.family": "DejaVu Sans",
    "font.size": LABEL_SIZE,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.labelsize": LABEL_SIZE,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "legend.fontsize": TICK_SIZE,
    "legend.frameon": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


def new_axes(ax=None, figsize: tuple[float, float] = FIGSIZE):
    """(figure, axes): the given axes and its figure, or a new figure in the house style."""
    if ax is not None:
        return ax.figure, ax
    with plt.rc_context(RC):
        fig = Figure(figsize=figsize, dpi=DPI)
        ax = fig.add_subplot(1, 1, 1)
    _style(ax)
    return fig, ax


def _style(ax) -> None:
    for key, value in (("top", False), ("right", False)):
        ax.spines[key].set_visible(value)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(colors=INK, labelsize=TICK_SIZE)
    ax.xaxis.label.set_size(LABEL_SIZE)
    ax.yaxis.label.set_size(LABEL_SIZE)


def esc(text: str) -> str:
    """Text shown as typed: a dollar sign would otherwise start matplotlib's math mode ("$1.2M lost")."""
    return re.sub(r"(?<!\\)\$", r"\\$", str(text))


def headline(ax, title: str, subtitle: str = "") -> None:
    """The finding as the title (wrapped), and the evidence under it in smaller grey text."""
    fig = ax.figure
    title, subtitle = esc(title), esc(subtitle)
    lines = textwrap.wrap(title, TITLE_WIDTH)[:2]
    ax.set_title("")
    fig.suptitle("\n".join(lines), x=0.02, y=0.98, ha="left", va="top", fontsize=TITLE_SIZE, fontweight="bold",
                 color=INK)
    top = 0.985 - 0.075 * len(lines)
    if subtitle:
        sub = textwrap.wrap(subtitle, SUBTITLE_WIDTH)
        sub = sub[:1] + [textwrap.shorten(" ".join(sub[1:]), SUBTITLE_WIDTH, placeholder="…")] if len(sub) > 1 \
            else sub
        fig.text(0.02, top, "\n".join(sub), ha="left", va="top", fontsize=SUBTITLE_SIZE, color=SUBTLE,
                 linespacing=1.3)
        top -= 0.055 * len(sub) + 0.01
    fig._relhealth_top = top  # where the plot may start (used by finish)


def finish(fig: Figure, bottom: float = 0.14, left: float = 0.09, right: float = 0.98,
           legend: bool = False) -> Figure:
    """Fit the plot under the headline (leaving a row for a legend placed with ``top_legend``)."""
    top = getattr(fig, "_relhealth_top", 0.88) - (0.11 if legend else 0.04)
    fig.subplots_adjust(top=top, bottom=bottom, left=left, right=right)
    return fig


def top_legend(ax, **kwargs) -> None:
    """Legend in one row just above the plot, right-aligned, clear of the bars and of the headline."""
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=kwargs.pop("ncol", 4), borderaxespad=0.3,
              handlelength=1.4, handletextpad=0.5, columnspacing=1.0, fontsize=TICK_SIZE - 0.5, **kwargs)


def not_enough(ax, what: str, message: str, building: bool = False) -> Figure:
    """A panel that says why there is no chart instead of plotting noise."""
    fig, ax = new_axes(ax)
    ax.set_axis_off()
    headline(ax, f"{what}: {'being built, refresh again' if building else 'not enough history yet'}")
    text = message[0].upper() + message[1:] if message else "There is not enough history to chart this yet."
    ax.text(0.5, 0.5, esc("\n".join(textwrap.wrap(text, 70))), ha="center", va="center", fontsize=LABEL_SIZE + 1,
            color=SUBTLE, transform=ax.transAxes)
    return finish(fig)


def money(value: float) -> str:
    """$1.2M, $340k, $950."""
    value = float(value)
    if abs(value) >= 1e6:
        text = f"{value / 1e6:.1f}M"
    elif abs(value) >= 1e4:
        text = f"{value / 1e3:.0f}k"
    elif abs(value) >= 1e3:
        text = f"{value / 1e3:.1f}k"
    else:
        text = f"{value:,.0f}"
    return "\\$" + text  # escaped for matplotlib (see esc); shown as $


def percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def ratio(value: float) -> str:
    return f"{value:.1f}x"


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text and not text[:2].isupper() else text
