"""A simulation's output files: the breakdown as CSV, and every output a command asked for."""

from __future__ import annotations

# the writers live below every layer (gnnsim.outputs); their old home still names them
from gnnsim.outputs import check_output_path, write_atomic, write_atomic_with  # noqa: F401


def breakdown_csv(result) -> str:
    """One row per stage: mean seconds per trainer per iteration, share, busy and exposed seconds."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["stage", "time_s", "share", "busy_s", "exposed_s"])
    for stage, row in result.analysis.breakdown.items():
        w.writerow([stage, f"{row['time_s']:.9g}", f"{row['share']:.6f}", f"{row.get('busy_s', row['time_s']):.9g}",
                    f"{row.get('exposed_s', row['time_s']):.9g}"])
    return buf.getvalue()


def write_result_outputs(result, *, json_path: str | None = None, csv_path: str | None = None,
                         trace_path: str | None = None, plot_path: str | None = None) -> list[str]:
    """Write the requested outputs of one simulation; returns the paths written.

    The plot is drawn first (it is the one that can fail on a missing optional
    dependency), so a failure leaves no partial set of files behind.
    """
    written = []
    if plot_path:
        from gnnsim.report.plots import plot_breakdown

        a = result.analysis
        plot_breakdown([result.scenario.name], [a.breakdown], [a.iteration_time_s], plot_path,
                       title=f"{result.scenario.name} on {result.cluster.name}")
        written.append(plot_path)
    for path, text in ((json_path, result.to_json), (csv_path, result.to_csv), (trace_path, result.to_chrome_trace)):
        if path:
            write_atomic(path, text())
            written.append(path)
    return written
