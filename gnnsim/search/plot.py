"""The picture of a search: cost against epoch time, with the Pareto front drawn.

Every point that ran is a dot at (epoch time, cost per epoch, or per training run with
``epochs``). The front is drawn solid and joined by a step line (each step is the
cheapest way to be that fast); dominated points are faded; points that do not fit in
GPU memory are grey crosses; the limits are dashed lines; the chosen point is circled
and labelled with its settings. matplotlib is optional (``pip install matplotlib``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gnnsim.search.report import label

if TYPE_CHECKING:
    from gnnsim.search.api import SearchResult

FRONT_COLOR = "#c44e52"
POINT_COLOR = "#4c72b0"
LOG_SPAN = 20  # an axis whose values span more than this factor is drawn in log scale


def check_plot_path(path: str | Path) -> None:
    """Raise :class:`~gnnsim.report.plots.PlotError` unless a plot can be drawn to ``path``
    (a .png, .svg or .pdf name, and matplotlib installed)."""
    from gnnsim.report.plots import PlotError, _pyplot

    if Path(path).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise PlotError(f"--plot {path}: the file must end in .png, .svg or .pdf")
    _pyplot()


def plot_front(result: SearchResult, path: str | Path) -> None:
    """Write the plot (PNG, SVG or PDF by suffix) to ``path``, whole or not at all."""
    from gnnsim.report.files import write_atomic_with
    from gnnsim.report.plots import _pyplot

    check_plot_path(path)
    path = Path(path)
    plt = _pyplot()
    scale = result.epochs or 1
    what = f"$ per {result.epochs}-epoch run" if result.epochs else "$ per epoch"

    def xy(rows):
        return [r.epoch_time_s for r in rows], [r.cost_per_epoch_usd * scale for r in rows]

    ran = [r for r in result.table if r.status == "ok"]
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    dominated = [r for r in ran if r.fits and not r.on_front]
    too_big = [r for r in ran if not r.fits]
    if dominated:
        ax.scatter(*xy(dominated), color=POINT_COLOR, alpha=0.25, s=22, label="dominated")
    if too_big:
        ax.scatter(*xy(too_big), color="#8c8c8c", alpha=0.6, marker="x", s=26, label="does not fit in GPU memory")
    if result.front:
        xs, ys = xy(result.front)
        ax.step(xs, ys, where="post", color=FRONT_COLOR, linewidth=1.2, alpha=0.8)
        ax.scatter(xs, ys, color=FRONT_COLOR, s=30, zorder=3, label="Pareto front")
    if result.max_epoch_s is not None:
        ax.axvline(result.max_epoch_s, color="black", linestyle="--", linewidth=0.8, label="limit")
    if result.max_cost is not None:
        ax.axhline(result.max_cost, color="black", linestyle="--", linewidth=0.8,  # same unit as the y axis
                   label=None if result.max_epoch_s is not None else "limit")
    c = result.chosen
    if c is not None:
        (x,), (y,) = xy([c])
        ax.scatter([x], [y], s=140, facecolors="none", edgecolors="black", linewidths=1.5, zorder=4, label="chosen")
        ax.annotate(label(c.settings), (x, y), xytext=(10, 10), textcoords="offset points", fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": "black", "linewidth": 0.6})
    xs, ys = xy(ran)
    if xs and min(xs) > 0 and max(xs) / min(xs) > LOG_SPAN:
        ax.set_xscale("log")
    if ys and min(ys) > 0 and max(ys) / min(ys) > LOG_SPAN:
        ax.set_yscale("log")
    ax.set_xlabel("epoch time (s)")
    ax.set_ylabel(what)
    ax.set_title(f"search: {result.scenario} ({len(ran)} points, objective {result.objective})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fmt = path.suffix.lower().lstrip(".")
    try:
        write_atomic_with(path, lambda fh: fig.savefig(fh, format=fmt), binary=True)
    finally:
        plt.close(fig)
