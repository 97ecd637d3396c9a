"""``file:PATH``: use an assignment computed elsewhere (a script, DGL, PyG, an earlier run).

Accepted files:

- ``.npy``: a 1-D integer array, one part id per node (``gnnsim partition --out`` writes it);
- ``.json``: a DGL partition config (its ``node_map``; see :mod:`gnnsim.graph.partition_files`);
- a folder with ``META.json``: a PyG partition (its ``node_map.pt``; needs torch);
- anything else: text, one part id per line (``#`` comments and blank lines allowed).

The file must hold exactly one part id per node of the graph, each in
``[0, num_parts)``; otherwise :class:`PartitionError` names the file and both lengths.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from gnnsim.errors import GraphFormatError, PartitionError
from gnnsim.graph.graph import Graph
from gnnsim.graph.partition_files import is_pyg_partition, read_dgl_partition, read_pyg_partition


def _read_text(path: Path) -> np.ndarray:
    text = path.read_text()
    try:
        return np.loadtxt(io.StringIO(text), dtype=np.int64, comments="#", ndmin=1)
    except ValueError:
        for number, line in enumerate(text.splitlines(), start=1):
            token = line.split("#")[0].strip()
            if token and not token.lstrip("-").isdigit():
                raise PartitionError(f"{path}: line {number}: expected one integer part id per line, got "
                                     f"{line.strip()!r}") from None
        raise PartitionError(f"{path}: expected one integer part id per line") from None


def read_assignment(path: str | Path, graph: Graph, num_parts: int) -> np.ndarray:
    """The int32 assignment stored at ``path``, checked against ``graph`` and ``num_parts``.

    Examples
    --------
    >>> import tempfile, os
    >>> from gnnsim.graph import sbm
    >>> p = os.path.join(tempfile.mkdtemp(), "parts.txt")
    >>> _ = open(p, "w").write("0\\n1\\n1\\n")
    >>> read_assignment(p, sbm(3, 1, 1.0, 1.0), 2).tolist()
    [0, 1, 1]
    """
    path = Path(path)
    if not path.exists():
        raise PartitionError(f"{path}: no such assignment file (given as file:{path})")
    try:
        if path.is_dir():
            if not is_pyg_partition(path):
                raise PartitionError(f"{path}: a folder, but not a PyG partition (no META.json)")
            files = read_pyg_partition(path)
            declared = files.num_parts
            assignment = files.assignment
        elif path.suffix == ".json":
            files = read_dgl_partition(path)
            declared = files.num_parts
            assignment = files.assignment
        elif path.suffix == ".npy":
            declared = None
            try:
                assignment = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise PartitionError(f"{path}: not a readable .npy array ({exc})") from None
        else:
            declared = None
            assignment = _read_text(path)
    except GraphFormatError as exc:
        raise PartitionError(str(exc)) from None
    if declared is not None and declared != num_parts:
        raise PartitionError(f"{path}: holds {declared} parts but {num_parts} were asked for; use --parts {declared}")
    assignment = np.asarray(assignment)
    if assignment.ndim != 1:
        raise PartitionError(f"{path}: expected a 1-D array of part ids, got shape {assignment.shape}")
    if assignment.size != graph.num_nodes:
        raise PartitionError(f"{path}: holds {assignment.size} part ids but the graph has {graph.num_nodes} nodes; "
                             "the file must hold one part id per node of this graph (was it made for another graph?)")
    if assignment.size and not np.issubdtype(assignment.dtype, np.integer):
        raise PartitionError(f"{path}: part ids must be integers, got dtype {assignment.dtype}")
    if assignment.size and (assignment.min() < 0 or assignment.max() >= num_parts):
        raise PartitionError(f"{path}: part ids must lie in [0, {num_parts - 1}] for {num_parts} parts, found "
                             f"{assignment.min()}..{assignment.max()}")
    return assignment.astype(np.int32)
