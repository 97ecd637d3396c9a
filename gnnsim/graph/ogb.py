"""Read an OGB node-property dataset from the raw folder that ``ogb`` downloads.

An OGB dataset folder (for example ``dataset/ogbn_arxiv``) looks like::

    raw/edge.csv.gz            one "src,dst" line per edge, no header
    raw/num-node-list.csv.gz   the node count on the first line
    raw/node-feat.csv.gz       one comma-separated feature row per node (optional)
    raw/node-label.csv.gz      one label per node, "nan" for unlabelled (optional)
    split/<name>/train.csv.gz  the training node ids, one per line (optional)

Only what the simulator needs is read. The feature width comes from the FIRST line of
``node-feat.csv.gz``: the matrix itself (about 1 GB of text for ogbn-products, 53 GB of
values for ogbn-papers100M) is never loaded. Edges go through the same vectorized,
line-checked reader as any edge list, so a corrupt line is reported with its number.
``<name>`` is ``time`` for ogbn-arxiv/papers100M and ``sales_ranking`` for
ogbn-products; when several splits exist, pass ``split=``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from gnnsim.errors import GraphFormatError
from gnnsim.graph.graph import Graph
from gnnsim.graph.readers import EdgeOptions, graph_from_edges, read_edge_list

DEFAULT_NUM_CLASSES = 2  # when raw/node-label.csv.gz is absent: the cost model barely depends on it


def is_ogb_folder(path: str | Path) -> bool:
    """True when ``path`` (or its ``raw/`` child) holds ``edge.csv.gz``."""
    path = Path(path)
    return (path / "raw" / "edge.csv.gz").is_file() or (path.name == "raw" and (path / "edge.csv.gz").is_file())


def _root(path: Path) -> Path:
    if path.name == "raw" and (path / "edge.csv.gz").is_file():
        return path.parent
    return path


def _first_line(path: Path) -> str:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.readline().strip()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise GraphFormatError(f"{path}: cannot read the first line ({type(exc).__name__}: {exc}); "
                               "re-download the dataset") from None


def read_num_nodes(path: Path) -> int:
    """The node count on the first line of ``num-node-list.csv.gz``."""
    line = _first_line(path)
    if not line.isdigit() or int(line) <= 0:
        raise GraphFormatError(f"{path}: line 1: expected the positive node count, got {line!r}")
    return int(line)


def read_feature_dim(path: Path) -> int:
    """The feature width: comma-separated values on line 1 of ``node-feat.csv.gz`` (nothing more is read).

    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "node-feat.csv.gz"
    >>> with gzip.open(p, "wt") as fh:
    ...     _ = fh.write("0.1,0.2,0.3\\n0.4,0.5,0.6\\n")
    >>> read_feature_dim(p)
    3
    """
    line = _first_line(path)
    values = line.split(",")
    try:
        [float(v) for v in values]
    except ValueError:
        raise GraphFormatError(f"{path}: line 1: expected comma-separated numbers, got {line[:80]!r}") from None
    if not line:
        raise GraphFormatError(f"{path}: line 1 is empty; expected one feature row per node")
    return len(values)


def _read_id_column(path: Path, num_nodes: int) -> np.ndarray:
    """One non-negative id per line (a split file), each checked against ``num_nodes``."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise GraphFormatError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    tokens = text.split()
    try:
        ids = np.array(tokens, dtype=np.int64)
    except ValueError:
        lines = text.splitlines()
        bad = next(i for i, ln in enumerate(lines) if ln.strip() and not ln.strip().isdigit())
        raise GraphFormatError(f"{path}: line {bad + 1}: expected one node id per line, got {lines[bad]!r}") from None
    if len(tokens) != len([ln for ln in text.splitlines() if ln.strip()]):
        raise GraphFormatError(f"{path}: expected exactly one node id per line")
    if ids.size == 0:
        raise GraphFormatError(f"{path}: no node ids; a split file lists the training nodes, one id per line")
    out_of_range = np.flatnonzero((ids < 0) | (ids >= num_nodes))
    if out_of_range.size:
        raise GraphFormatError(f"{path}: entry {out_of_range[0] + 1}: node id {ids[out_of_range[0]]} is outside "
                               f"[0, {num_nodes - 1}] (raw/num-node-list.csv.gz says {num_nodes} nodes)")
    return ids


def _read_labels(path: Path, num_nodes: int) -> np.ndarray:
    """Labels as int64; unlabelled ("nan") nodes get class 0 (only train nodes' labels matter)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            values = np.loadtxt(fh, dtype=np.float64, delimiter=",", ndmin=1, usecols=0)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise GraphFormatError(f"{path}: expected one numeric label per line ({type(exc).__name__}: {exc})") from None
    if values.shape[0] != num_nodes:
        raise GraphFormatError(f"{path}: has {values.shape[0]} labels but raw/num-node-list.csv.gz says "
                               f"{num_nodes} nodes")
    return np.nan_to_num(values, nan=0.0).astype(np.int64)


def find_split(root: Path, split: str | None) -> Path | None:
    """The ``split/<name>`` folder to read train ids from, or None when the dataset has none."""
    split_root = root / "split"
    if split is not None:
        chosen = split_root / split
        if not (chosen / "train.csv.gz").is_file():
            known = sorted(p.name for p in split_root.glob("*") if (p / "train.csv.gz").is_file())
            raise GraphFormatError(f"{chosen / 'train.csv.gz'}: no such file; splits here: {known or 'none'}")
        return chosen
    candidates = sorted(p for p in split_root.glob("*") if (p / "train.csv.gz").is_file())
    if len(candidates) > 1:
        raise GraphFormatError(f"{split_root}: several splits ({', '.join(p.name for p in candidates)}); "
                               "choose one with split=NAME")
    return candidates[0] if candidates else None


def load_ogb_graph(path: str | Path, *, feature_dim: int = 128, num_classes: int | None = None,
                   train_fraction: float = 0.5, split: str | None = None, options: EdgeOptions = EdgeOptions(),
                   seed: int = 0) -> Graph:
    """A :class:`Graph` from an OGB node-property folder (see the module docstring).

    ``feature_dim`` and ``train_fraction`` are used only when the folder has no
    ``node-feat.csv.gz`` or no split; ``num_classes`` defaults to ``max label + 1``.

    Raises
    ------
    GraphFormatError
        A missing ``raw/edge.csv.gz`` or ``raw/num-node-list.csv.gz``, a corrupt line
        (named by file and line), or an id outside the node count.
    """
    root = _root(Path(path))
    raw = root / "raw"
    edge_file, count_file = raw / "edge.csv.gz", raw / "num-node-list.csv.gz"
    for needed in (edge_file, count_file):
        if not needed.is_file():
            raise GraphFormatError(f"{needed}: missing; an OGB node-property folder needs raw/edge.csv.gz and "
                                   "raw/num-node-list.csv.gz (as written by ogb.nodeproppred)")
    num_nodes = read_num_nodes(count_file)
    src, dst = read_edge_list(edge_file, num_nodes=num_nodes)
    feat_file = raw / "node-feat.csv.gz"
    if feat_file.is_file():
        feature_dim = read_feature_dim(feat_file)
    labels = None
    label_file = raw / "node-label.csv.gz"
    if label_file.is_file():
        labels = _read_labels(label_file, num_nodes)
        num_classes = num_classes or int(labels.max()) + 1
    num_classes = max(2, num_classes or DEFAULT_NUM_CLASSES)
    split_dir = find_split(root, split)
    train_ids = _read_id_column(split_dir / "train.csv.gz", num_nodes) if split_dir else None
    return graph_from_edges(src, dst, num_nodes, name=root.name, feature_dim=feature_dim, num_classes=num_classes,
                            train_fraction=train_fraction, train_ids=train_ids, labels=labels, options=options,
                            seed=seed)
