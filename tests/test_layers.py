"""The package's layers (``[tool.importlinter]`` in pyproject.toml): `lint-imports` keeps them.

A module may import only from the layers below its own, and no package's modules import
each other in a cycle. A broken contract names the importing module, the line and the
layer it reaches up to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_imports_keep_the_layers_and_make_no_cycles():
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
