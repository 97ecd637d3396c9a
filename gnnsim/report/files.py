"""Write output files whole or not at all (a bad run never leaves half a file)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
