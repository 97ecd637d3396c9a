"""Shared fixtures: small graphs whose counts can be worked out by hand."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Built graphs and partitions go to a temporary cache, never the user's ~/.cache/gnnsim."""
    os.environ["GNNSIM_CACHE"] = str(tmp_path_factory.mktemp("gnnsim-cache"))


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch):
    """Examples name paths relative to the repository root; run every test from there."""
    monkeypatch.chdir(ROOT)
    os.environ.setdefault("GNNSIM_HWPROFILES", str(ROOT / "hwprofiles"))


@pytest.fixture
def forked(monkeypatch):
    """Two forked workers wherever a step asks for cores, even in a test process that has
    loaded torch (whose thread pool the workers never use); thresholds are the test's to set."""
    import gnnsim.graph.chunked_csr
    import gnnsim.graph.forked
    import gnnsim.partition.metrics
    import gnnsim.workload.batches

    monkeypatch.setattr(gnnsim.graph.forked, "fork_blocker", lambda: None)
    for module in (gnnsim.graph.chunked_csr, gnnsim.workload.batches, gnnsim.partition.metrics):
        monkeypatch.setattr(module, "usable_cores", lambda: 2)


class Catalog:
    """A private copy of ``hwprofiles/`` that a test may break (``GNNSIM_HWPROFILES`` points at it)."""

    def __init__(self, root: Path):
        self.root = root

    def __truediv__(self, rel: str) -> Path:
        return self.root / rel

    def edit(self, rel: str, change) -> Path:
        """Load profile ``rel``, let ``change(data)`` alter it in place, write it back."""
        import yaml

        path = self.root / rel
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> Catalog:
    import shutil

    root = tmp_path / "hwprofiles"
    shutil.copytree(ROOT / "hwprofiles", root)
    monkeypatch.setenv("GNNSIM_HWPROFILES", str(root))
    return Catalog(root)


@pytest.fixture
def path_graph():
    """0-1-2-3-4 (undirected path), train ids 0 and 4."""
    from gnnsim.graph.graph import Graph, csr_from_edges

    csr = csr_from_edges(np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4]), 5)
    return Graph(csr, 4, 2, np.array([0, 4]), np.array([0, 0, 1, 1, 1]))
