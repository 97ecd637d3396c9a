"""Plots: a stacked per-stage breakdown, one bar per configuration.

Each bar stacks the stages' *exposed* time per iteration (the time each stage added to
the iteration: compute, plus whatever loading and communication was not hidden under
it), and a black tick marks the simulated iteration time, so a bar that reaches its
tick has no overlap and a tick below the top shows what prefetching or bucketing hid.

matplotlib is an optional dependency: without it :func:`plot_breakdown` raises a
:class:`PlotError` that says how to install it.
"""

from __future__ import annotations

from pathlib import Path

from gnnsim.errors import GnnsimError
from gnnsim.workload.builder import STAGES

STAGE_COLORS = {"sample": "#4c72b0", "fetch": "#dd8452", "h2d": "#55a868", "forward": "#c44e52",
                "backward": "#8172b3", "halo": "#937860", "allreduce": "#da8bc3", "optimizer": "#8c8c8c"}


class PlotError(GnnsimError):
    """A plot cannot be drawn (matplotlib missing, bad output path)."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("--plot needs matplotlib, which is not installed: pip install matplotlib "
                        "(or leave out --plot; --json/--csv carry the same numbers)") from None
    return plt


def plot_breakdown(labels: list[str], breakdowns: list[dict[str, dict[str, float]]], iteration_times_s: list[float],
                   path: str | Path, title: str = "") -> None:
    """Write a stacked bar chart (PNG, SVG or PDF by suffix) of per-stage exposed time."""
    plt = _pyplot()
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise PlotError(f"--plot {path}: the file must end in .png, .svg or .pdf")
    stages = [s for s in STAGES if any(s in b for b in breakdowns)]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2.5), 4.5))
    bottoms = [0.0] * len(labels)
    for stage in stages:
        heights = [b.get(stage, {}).get("exposed_s", b.get(stage, {}).get("time_s", 0.0)) * 1e3 for b in breakdowns]
        ax.bar(labels, heights, bottom=bottoms, label=stage, color=STAGE_COLORS.get(stage))
        bottoms = [x + h for x, h in zip(bottoms, heights)]
    ax.scatter(labels, [t * 1e3 for t in iteration_times_s], marker="_", s=900, color="black", zorder=3,
               label="iteration time")
    ax.set_ylabel("ms per iteration (exposed time per stage)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right", fontsize=8)
    fig.tight_layout()
    from gnnsim.outputs import write_atomic_with

    try:
        write_atomic_with(path, lambda fh: fig.savefig(fh, format=path.suffix.lower()[1:], dpi=120), binary=True)
    finally:
        plt.close(fig)
