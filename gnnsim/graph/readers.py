"""Read graphs from the files users have.

An edge list is one edge per line, two integer node ids separated by whitespace or a
comma; lines starting with ``#`` or ``%`` are comments. Ids are 0-based; the node count
is the largest id plus one. Edges are symmetrized by default (GNN message passing on an
undirected graph); self loops and duplicate edges are dropped.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from gnnsim.errors import GraphFormatError
from gnnsim.graph.graph import Graph, csr_from_edges, pick_train_ids
from gnnsim.rng import rng_for


def _first_bad_line(lines: list[str]) -> tuple[int, str]:
    for number, line in enumerate(lines, start=1):
        parts = line.replace(",", " ").split()
        if not parts or line.lstrip().startswith(("#", "%")):
            continue
        if len(parts) < 2 or not all(p.lstrip("-").isdigit() for p in parts[:2]) or int(parts[0]) < 0 or int(parts[1]) < 0:
            return number, line.rstrip("\n")
    return 0, ""


def read_edge_list(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (src, dst) int64 arrays from a whitespace/CSV edge list (optionally .gz)."""
    path = Path(path)
    if not path.is_file():
        raise GraphFormatError(f"{path}: no such edge-list file; check graph.path in the scenario")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphFormatError(f"{path}: cannot read as a text edge list: {exc}") from None
    lines = text.splitlines()
    body = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "%"))]
    try:
        table = np.loadtxt(io.StringIO("\n".join(body).replace(",", " ")), dtype=np.int64, ndmin=2, usecols=(0, 1))
    except ValueError:
        number, line = _first_bad_line(lines)
        raise GraphFormatError(
            f"{path}: line {number}: expected two non-negative integer node ids, got {line!r}. "
            "Fix or remove that line."
        ) from None
    if table.size == 0:
        raise GraphFormatError(f"{path}: no edges found; expected lines like '0 1'")
    if (table < 0).any():
        number, line = _first_bad_line(lines)
        raise GraphFormatError(f"{path}: line {number}: node ids must be non-negative, got {line!r}")
    return table[:, 0], table[:, 1]


def load_edge_list_graph(path: str | Path, *, feature_dim: int, num_classes: int, train_fraction: float,
                         symmetrize: bool = True, seed: int = 0) -> Graph:
    """A :class:`Graph` from an edge list, with seeded train ids and labels."""
    src, dst = read_edge_list(path)
    num_nodes = int(max(src.max(), dst.max())) + 1
    csr = csr_from_edges(src, dst, num_nodes, symmetrize=symmetrize)
    rng = rng_for(seed, "graph")
    labels = rng.integers(0, num_classes, size=num_nodes)
    train = pick_train_ids(num_nodes, train_fraction, rng)
    return Graph(csr, feature_dim, num_classes, train, labels, name=Path(path).stem)
