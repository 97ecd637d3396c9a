"""Read graphs from the files users have: edge lists and ``.npz`` arrays.

An edge list is one edge per line, two integer node ids separated by whitespace or a
comma (the first data line decides which); further columns (weights, timestamps) are
ignored. Lines starting with ``#`` or ``%`` and blank lines are comments. A first data
line made only of names (``src,dst``) is taken as a CSV header and skipped. Ids are
0-based; the node count is the largest id plus one unless ``num_nodes`` is given. A
``.gz`` suffix means gzip.

The happy path is vectorized: the file is parsed in blocks of about 64 MiB by numpy's C
parser. Only when a block fails to parse are its lines scanned one by one, to name the
first bad line in the error.

Three choices turn the raw edges into the CSR that training sees. Each one is an
explicit option with the default GNN training uses:

========== ======= =========================================================
option     default meaning
========== ======= =========================================================
symmetrize True    add ``v -> u`` for every ``u -> v`` (message passing on an
                   undirected graph, as DGL's ``to_bidirected`` and PyG's
                   ``to_undirected`` do for ogbn-arxiv)
self_loops False   drop ``v -> v`` edges (GraphSAGE adds the node itself
                   through its root weight, not through a loop)
dedup      True    keep one copy of a repeated edge; ``False`` keeps parallel
                   edges, so degrees and sampled edges count every copy
========== ======= =========================================================

A ``.npz`` file holds either a scipy sparse matrix (``scipy.sparse.save_npz``; row =
destination, column = neighbour, as in :class:`Graph`) or an ``edge_index`` array of
shape ``(2, E)`` (PyG's convention: row 0 = source, row 1 = target) with an optional
``num_nodes`` scalar and optional ``train_ids`` (or a boolean ``train_mask``) and
``labels`` arrays.
"""

from __future__ import annotations

import gzip
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from gnnsim.errors import GraphFormatError
from gnnsim.graph.graph import Graph, csr_from_edges, pick_train_ids
from gnnsim.rng import rng_for

COMMENT_PREFIXES = ("#", "%")
BLOCK_CHARS = 64 * 2**20  # parse ~64 MiB of text at a time: bounded memory, few numpy calls
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class EdgeOptions:
    """How raw edges become the CSR; the defaults are those of GNN training (see module doc)."""

    symmetrize: bool = True
    self_loops: bool = False
    dedup: bool = True


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _blocks(fh: io.TextIOBase, block_chars: int) -> Iterator[tuple[int, str]]:
    """Yield (first line number, text) for blocks of whole lines."""
    line = 1
    carry = ""
    while True:
        piece = fh.read(block_chars)
        if not piece:
            if carry:
                yield line, carry
            return
        text = carry + piece
        cut = text.rfind("\n")
        if cut < 0:
            carry = text
            continue
        block, carry = text[: cut + 1], text[cut + 1:]
        yield line, block
        line += block.count("\n")


def _is_data(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(COMMENT_PREFIXES)


def _tokens(line: str, delimiter: str | None) -> list[str]:
    return [t.strip() for t in line.split(delimiter)] if delimiter else line.split()


def _line_problem(line: str, delimiter: str | None) -> str | None:
    """Why ``line`` is not an edge, or None when it is one (the slow path of errors only)."""
    if not _is_data(line):
        return None
    tokens = _tokens(line, delimiter)
    if len(tokens) < 2:
        return "expected two node ids on the line"
    for t in tokens[:2]:
        if not _INT.match(t):
            return f"{t!r} is not an integer node id"
        if int(t) < 0:
            return f"node id {t} is negative"
        if int(t) >= 2**63:
            return f"node id {t} is too large"
    return None


def _bad_line(path: Path, number: int, line: str, why: str) -> GraphFormatError:
    return GraphFormatError(f"{path}: line {number}: {why}: {line.rstrip()!r}. Expected two non-negative integer "
                            f"node ids such as '0 1' or '0,1'; fix or delete that line, or comment it out with '#'.")


def _parse_block(path: Path, first_line: int, text: str, delimiter: str | None, skip_lines: int) -> np.ndarray:
    """Parse one block into an (E, 2) int64 array, naming the first bad line on failure."""
    # numpy's C parser is fastest with one comment character and no usecols; '%' comments
    # and ragged column counts take the slower general call, then the line scan.
    comments = list(COMMENT_PREFIXES) if "%" in text else "#"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a block of comments only is not an error
        try:
            table = np.loadtxt(io.StringIO(text), dtype=np.int64, comments=comments, delimiter=delimiter, ndmin=2,
                               skiprows=skip_lines)
            if table.size == 0:
                return np.zeros((0, 2), dtype=np.int64)
            if table.shape[1] >= 2:
                return table[:, :2]
        except ValueError:
            pass
        try:
            return np.loadtxt(io.StringIO(text), dtype=np.int64, comments=list(COMMENT_PREFIXES),
                              delimiter=delimiter, usecols=(0, 1), ndmin=2, skiprows=skip_lines)
        except ValueError:
            pass
    lines = text.splitlines()
    for offset, line in enumerate(lines[skip_lines:], start=skip_lines):
        why = _line_problem(line, delimiter)
        if why:
            raise _bad_line(path, first_line + offset, line, why) from None
    # Every line is fine on its own: numpy tripped over whitespace-only lines in a CSV.
    kept = "\n".join(ln for ln in lines[skip_lines:] if _is_data(ln))
    if not kept:
        return np.zeros((0, 2), dtype=np.int64)
    return np.loadtxt(io.StringIO(kept), dtype=np.int64, delimiter=delimiter, usecols=(0, 1), ndmin=2)


def _first_data_line(text: str) -> tuple[int, str] | None:
    for index, line in enumerate(text.splitlines()):
        if _is_data(line):
            return index, line
    return None


def _locate_row(text: str, row: int, skip_lines: int) -> tuple[int, str]:
    """Offset and text of the ``row``-th data line of a block (for errors only)."""
    seen = -1
    for offset, line in enumerate(text.splitlines()):
        if offset >= skip_lines and _is_data(line):
            seen += 1
            if seen == row:
                return offset, line
    return 0, ""


def read_edge_list(path: str | Path, *, num_nodes: int | None = None,
                   block_chars: int = BLOCK_CHARS) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(src, dst)`` int64 arrays from a whitespace/CSV edge list (optionally .gz).

    Parameters
    ----------
    path : str or Path
        The edge list.
    num_nodes : int, optional
        When given, every id must be below it (an id beyond it is an error that names
        the line).
    block_chars : int
        Characters parsed per numpy call (memory bound); tests use small blocks.

    Raises
    ------
    GraphFormatError
        Missing or unreadable file, a corrupt gzip stream, or a line that is not two
        non-negative integer ids; the message names the file and the line number.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "g.csv")
    >>> _ = open(p, "w").write("# a triangle\\nsrc,dst\\n0,1\\n1,2\\n2,0\\n")
    >>> src, dst = read_edge_list(p)
    >>> src.tolist(), dst.tolist()
    ([0, 1, 2], [1, 2, 0])
    """
    path = Path(path)
    if not path.is_file():
        raise GraphFormatError(f"{path}: no such edge-list file; check the path (graph.path in a scenario is "
                               "relative to the scenario file)")
    parts: list[np.ndarray] = []
    delimiter: str | None = None
    decided = False
    try:
        with _open_text(path) as fh:
            for first_line, text in _blocks(fh, block_chars):
                skip = 0
                if not decided:
                    found = _first_data_line(text)
                    if found is None:
                        continue
                    index, line = found
                    delimiter = "," if "," in line else None
                    decided = True
                    tokens = _tokens(line, delimiter)
                    if tokens and not any(_INT.match(t) for t in tokens):
                        skip = index + 1  # a header such as "src,dst"
                table = _parse_block(path, first_line, text, delimiter, skip)
                if table.size and table.min() < 0:
                    row = int(np.flatnonzero((table < 0).any(axis=1))[0])
                    offset, line = _locate_row(text, row, skip)
                    raise _bad_line(path, first_line + offset, line, "node ids must be non-negative")
                if num_nodes is not None and table.size and table.max() >= num_nodes:
                    row = int(np.flatnonzero((table >= num_nodes).any(axis=1))[0])
                    offset, line = _locate_row(text, row, skip)
                    raise GraphFormatError(f"{path}: line {first_line + offset}: node id beyond the {num_nodes} nodes "
                                           f"declared: {line.rstrip()!r}. Ids are 0-based; fix the id or the node count.")
                parts.append(table)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise GraphFormatError(f"{path}: cannot read as a text edge list ({type(exc).__name__}: {exc}); "
                               "if it is gzip, check that the download is complete") from None
    table = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
    if table.shape[0] == 0:
        raise GraphFormatError(f"{path}: no edges found; expected lines like '0 1' or '0,1'")
    return np.ascontiguousarray(table[:, 0]), np.ascontiguousarray(table[:, 1])


def graph_from_edges(src: np.ndarray, dst: np.ndarray, num_nodes: int, *, name: str, feature_dim: int,
                     num_classes: int, train_fraction: float = 0.5, train_ids: np.ndarray | None = None,
                     labels: np.ndarray | None = None, options: EdgeOptions = EdgeOptions(),
                     seed: int = 0) -> Graph:
    """A :class:`Graph` from raw edges; missing train ids and labels are drawn seeded.

    >>> g = graph_from_edges(np.array([0, 1]), np.array([1, 2]), 3, name="path", feature_dim=8, num_classes=2)
    >>> g.num_edges, g.train_ids.size
    (4, 2)
    """
    csr = csr_from_edges(src, dst, num_nodes, symmetrize=options.symmetrize, self_loops=options.self_loops,
                         dedup=options.dedup)
    rng = rng_for(seed, "graph")
    if labels is None:
        labels = rng.integers(0, num_classes, size=num_nodes)
    if train_ids is None:
        train_ids = pick_train_ids(num_nodes, train_fraction, rng)
    return Graph(csr, feature_dim, num_classes, np.unique(np.asarray(train_ids, dtype=np.int64)),
                 np.asarray(labels, dtype=np.int64), name=name)


def check_node_count(path: str | Path, num_nodes: int, num_edges: int) -> None:
    """Refuse a node count (the largest id plus one) whose arrays cannot fit in the memory
    available now: an id of 10^11 in a small file is a typo, not a graph."""
    from gnnsim.hostmem import available_bytes, fmt_bytes, graph_bytes

    need, avail = graph_bytes(num_nodes, 2.0 * num_edges), available_bytes()
    if need > avail:
        raise GraphFormatError(f"{path}: the largest node id is {num_nodes - 1:,}, so the graph has {num_nodes:,} "
                               f"nodes and needs at least {fmt_bytes(need)} of memory, but {fmt_bytes(avail)} is "
                               "available. Node ids must run from 0 to the node count - 1: renumber them.")


def load_edge_list_graph(path: str | Path, *, feature_dim: int, num_classes: int, train_fraction: float,
                         symmetrize: bool = True, seed: int = 0, self_loops: bool = False, dedup: bool = True,
                         num_nodes: int | None = None) -> Graph:
    """A :class:`Graph` from an edge list, with seeded train ids and labels.

    ``symmetrize``, ``self_loops`` and ``dedup`` are described in the module docstring.
    """
    src, dst = read_edge_list(path, num_nodes=num_nodes)
    n = num_nodes if num_nodes is not None else int(max(src.max(), dst.max())) + 1
    check_node_count(path, n, src.size)
    return graph_from_edges(src, dst, n, name=Path(path).name.split(".")[0], feature_dim=feature_dim,
                            num_classes=num_classes, train_fraction=train_fraction,
                            options=EdgeOptions(symmetrize, self_loops, dedup), seed=seed)


def _npz_int_array(path: Path, arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    a = arrays[key]
    if not np.issubdtype(a.dtype, np.integer) and not np.issubdtype(a.dtype, np.bool_):
        raise GraphFormatError(f"{path}: array '{key}' has dtype {a.dtype}; expected integers")
    return a


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, int, dict[str, np.ndarray]]:
    """Read ``(src, dst, num_nodes, extras)`` from a ``.npz`` file (see module docstring).

    ``extras`` may hold ``train_ids`` and ``labels`` when the file has them.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "g.npz")
    >>> np.savez(p, edge_index=np.array([[0, 1], [1, 2]]), num_nodes=4)
    >>> src, dst, n, extras = read_npz(p)
    >>> src.tolist(), dst.tolist(), n
    ([0, 1], [1, 2], 4)
    """
    path = Path(path)
    if not path.is_file():
        raise GraphFormatError(f"{path}: no such .npz file; check the path")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise GraphFormatError(f"{path}: not a readable .npz archive ({exc}); write it with numpy.savez or "
                               "scipy.sparse.save_npz") from None
    extras: dict[str, np.ndarray] = {}
    if "format" in arrays and "shape" in arrays:
        try:
            mat = sp.load_npz(path).tocoo()
        except (ValueError, KeyError) as exc:
            raise GraphFormatError(f"{path}: looks like a scipy sparse matrix but cannot be loaded: {exc}") from None
        if mat.shape[0] != mat.shape[1]:
            raise GraphFormatError(f"{path}: the adjacency matrix must be square, got shape {mat.shape}")
        # Row = destination, column = its neighbour (the source of the message).
        src, dst, num_nodes = mat.col.astype(np.int64), mat.row.astype(np.int64), int(mat.shape[0])
    elif "edge_index" in arrays:
        ei = _npz_int_array(path, arrays, "edge_index")
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise GraphFormatError(f"{path}: 'edge_index' must have shape (2, E) (row 0 = source, row 1 = target), "
                                   f"got {ei.shape}; transpose it if you stored (E, 2)")
        src, dst = ei[0].astype(np.int64), ei[1].astype(np.int64)
        if src.size and min(src.min(), dst.min()) < 0:
            col = int(np.flatnonzero((src < 0) | (dst < 0))[0])
            raise GraphFormatError(f"{path}: edge_index column {col} has a negative node id")
        largest = int(max(src.max(), dst.max())) + 1 if src.size else 0
        if "num_nodes" in arrays:
            num_nodes = int(np.asarray(arrays["num_nodes"]).reshape(-1)[0])
            if num_nodes < largest:
                col = int(np.flatnonzero((src >= num_nodes) | (dst >= num_nodes))[0])
                raise GraphFormatError(f"{path}: edge_index column {col} names node {max(src[col], dst[col])} but "
                                       f"num_nodes is {num_nodes}; fix num_nodes or the ids")
        else:
            num_nodes = largest
    else:
        raise GraphFormatError(f"{path}: found arrays {sorted(arrays)}; expected a scipy sparse matrix "
                               "(scipy.sparse.save_npz) or an 'edge_index' array of shape (2, E)")
    if num_nodes == 0:
        raise GraphFormatError(f"{path}: the graph has no nodes")
    check_node_count(path, num_nodes, src.size)
    if "train_ids" in arrays:
        extras["train_ids"] = _npz_int_array(path, arrays, "train_ids").astype(np.int64)
    elif "train_mask" in arrays:
        extras["train_ids"] = np.flatnonzero(arrays["train_mask"]).astype(np.int64)
    if "labels" in arrays:
        extras["labels"] = _npz_int_array(path, arrays, "labels").astype(np.int64)
    for key, values in extras.items():
        bound = num_nodes if key == "train_ids" else None
        if key == "labels" and values.shape != (num_nodes,):
            raise GraphFormatError(f"{path}: 'labels' has shape {values.shape}; expected ({num_nodes},), one per node")
        if bound is not None and values.size and (values.min() < 0 or values.max() >= bound):
            raise GraphFormatError(f"{path}: 'train_ids' must lie in [0, {bound - 1}]")
    return src, dst, num_nodes, extras


def load_npz_graph(path: str | Path, *, feature_dim: int, num_classes: int, train_fraction: float,
                   options: EdgeOptions = EdgeOptions(), seed: int = 0) -> Graph:
    """A :class:`Graph` from a ``.npz`` file; train ids and labels come from the file when present."""
    src, dst, num_nodes, extras = read_npz(path)
    labels = extras.get("labels")
    if labels is not None and labels.size:
        num_classes = max(num_classes, int(labels.max()) + 1)
    return graph_from_edges(src, dst, num_nodes, name=Path(path).stem, feature_dim=feature_dim,
                            num_classes=num_classes, train_fraction=train_fraction,
                            train_ids=extras.get("train_ids"), labels=labels, options=options, seed=seed)
