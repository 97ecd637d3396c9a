"""Set-up of a worker process of a search's own local Dask cluster (a Dask preload).

Ctrl-C in a terminal reaches every process of the search, the workers too. The search
itself answers it (it closes its results file and shuts the cluster down); a worker
that also answered would print its own traceback and could die before it is told to.
So a local worker ignores SIGINT and leaves when its cluster is closed.
"""

from __future__ import annotations

import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
