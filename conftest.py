"""Doctest collection over the package (``--doctest-modules``): modules that need an
optional extra at import time are left out when the extra is not installed."""

from __future__ import annotations

import importlib.util

OPTIONAL = {
    "torch": ["gnnsim/realrun/layers.py", "gnnsim/realrun/blocks.py", "gnnsim/realrun/models.py",
              "gnnsim/realrun/features.py", "gnnsim/realrun/worker.py", "gnnsim/realrun/pyg_worker.py"],
}

collect_ignore = [path for extra, paths in OPTIONAL.items() if importlib.util.find_spec(extra) is None
                  for path in paths]
