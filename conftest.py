"""Doctest collection over the package (``--doctest-modules``): a module that imports an
optional extra at load time (a top-level ``import torch``) is left out when the extra is
not installed, so ``python -m pytest`` runs without the torch extra."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

OPTIONAL_EXTRAS = ("torch", "torch_geometric")
_TOP_LEVEL_IMPORT = re.compile(r"^(?:import|from) (" + "|".join(OPTIONAL_EXTRAS) + r")\b", re.MULTILINE)


def _needs_missing_extra(path: Path) -> bool:
    return any(importlib.util.find_spec(m) is None for m in _TOP_LEVEL_IMPORT.findall(path.read_text()))


collect_ignore = [str(p.relative_to(Path(__file__).parent)) for p in sorted(Path(__file__).parent.glob("gnnsim/**/*.py"))
                  if _needs_missing_extra(p)]
