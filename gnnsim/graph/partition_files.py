"""Read partitions that DGL or PyG already wrote to disk.

Both frameworks partition once, offline, and save the result; reading it lets gnnsim
simulate exactly the partition a real job uses.

**DGL** (``dgl.distributed.partition_graph``) writes ``<graph_name>.json``. Its
``node_map`` gives, per node type, one ``[start, end)`` range per part in the
*reshuffled* id space: DGL renumbers nodes so that part ``p`` owns a contiguous range.
The assignment read here is therefore over reshuffled ids (the ids of the partitioned
graph, ``orig_nids.dgl`` maps them back). Older DGL versions store ``node_map`` as a list
of range ends, or as the path of a ``.npy`` file with one part id per original node;
both are accepted. Per-part files (``node_feats``, ``edge_feats``, ``part_graph``) are
taken from the JSON's ``part-<i>`` entries, relative to the JSON's folder when not
absolute: nothing is hard-coded. DGL's binary ``.dgl`` files need DGL to open, so this
reader returns the assignment and the paths, not the graph.

**PyG** (``torch_geometric.distributed.Partitioner``) writes a folder with ``META.json``
(``num_parts``, ``is_hetero``), ``node_map.pt`` (one part id per node) and
``part_<i>/graph.pt`` (a dict with global ``row``, ``col`` and ``size``). Reading ``.pt``
files needs torch (an optional dependency); the error says how to install it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gnnsim.errors import GraphFormatError


@dataclass(frozen=True)
class PartitionFiles:
    """An on-disk partition: the node -> part assignment and where each part's data lives."""

    assignment: np.ndarray  # int32, one part id per node
    num_parts: int
    source: Path
    framework: str  # "dgl" or "pyg"
    part_files: list[dict[str, Path]] = field(default_factory=list)
    num_edges: int | None = None
    method: str | None = None


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise GraphFormatError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise GraphFormatError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise GraphFormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _ranges_to_assignment(path: Path, ranges_by_type: dict, num_parts: int) -> np.ndarray:
    """Every node type's per-part ``[start, end)`` ranges -> one part id per (reshuffled) node."""
    starts, ends, parts = [], [], []
    for ntype, ranges in ranges_by_type.items():
        arr = np.asarray(ranges, dtype=np.int64) if isinstance(ranges, list) else None
        if arr is None or arr.ndim != 2 or arr.shape != (num_parts, 2):
            raise GraphFormatError(f"{path}: node_map['{ntype}'] must hold {num_parts} [start, end] pairs "
                                   f"(one per part), got {ranges!r:.80}")
        if (arr[:, 1] < arr[:, 0]).any() or (arr < 0).any():
            raise GraphFormatError(f"{path}: node_map['{ntype}'] has a range with end < start or a negative id")
        starts.append(arr[:, 0])
        ends.append(arr[:, 1])
        parts.append(np.arange(num_parts))
    start, end, part = np.concatenate(starts), np.concatenate(ends), np.concatenate(parts)
    order = np.argsort(start, kind="stable")
    start, end, part = start[order], end[order], part[order]
    if start[0] != 0 or (start[1:] != end[:-1]).any():
        raise GraphFormatError(f"{path}: node_map ranges must tile [0, num_nodes) without gaps or overlaps; "
                               "the file is damaged or from an unsupported DGL version")
    return np.repeat(part, end - start).astype(np.int32)


def read_dgl_partition(path: str | Path) -> PartitionFiles:
    """Read a DGL partition config (``<graph_name>.json``) into an assignment.

    Examples
    --------
    >>> import tempfile, os
    >>> d = Path(tempfile.mkdtemp())
    >>> cfg = {"num_parts": 2, "num_nodes": 5, "node_map": {"_N": [[0, 3], [3, 5]]},
    ...        "part-0": {"node_feats": "p0/nf.dgl", "part_graph": "p0/g.dgl"},
    ...        "part-1": {"node_feats": "p1/nf.dgl", "part_graph": "p1/g.dgl"}}
    >>> _ = (d / "g.json").write_text(json.dumps(cfg))
    >>> pf = read_dgl_partition(d / "g.json")
    >>> pf.assignment.tolist(), pf.part_files[1]["node_feats"].name
    ([0, 0, 0, 1, 1], 'nf.dgl')
    """
    path = Path(path)
    if not path.is_file():
        raise GraphFormatError(f"{path}: no such DGL partition config")
    cfg = _load_json(path)
    if "num_parts" not in cfg or "node_map" not in cfg:
        raise GraphFormatError(f"{path}: a DGL partition config needs 'num_parts' and 'node_map' "
                               f"(found keys {sorted(cfg)[:12]})")
    num_parts = cfg["num_parts"]
    if not isinstance(num_parts, int) or num_parts < 1:
        raise GraphFormatError(f"{path}: num_parts must be a positive integer, got {num_parts!r}")
    node_map = cfg["node_map"]
    if isinstance(node_map, dict):
        assignment = _ranges_to_assignment(path, node_map, num_parts)
    elif isinstance(node_map, list):  # old DGL: cumulative range ends, one per part
        ends = np.asarray(node_map, dtype=np.int64)
        if ends.shape != (num_parts,) or (np.diff(ends) < 0).any() or ends[0] < 0:
            raise GraphFormatError(f"{path}: node_map as a list must hold {num_parts} non-decreasing range ends")
        assignment = np.repeat(np.arange(num_parts), np.diff(np.concatenate([[0], ends]))).astype(np.int32)
    elif isinstance(node_map, str):  # old DGL: a .npy file with one part id per node
        npy = _resolve(path.parent, node_map)
        try:
            assignment = np.load(npy, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise GraphFormatError(f"{path}: node_map points to {npy}, which cannot be read ({exc})") from None
        if assignment.ndim != 1 or (assignment.size and (assignment.min() < 0 or assignment.max() >= num_parts)):
            raise GraphFormatError(f"{npy}: expected one part id in [0, {num_parts - 1}] per node")
        assignment = assignment.astype(np.int32)
    else:
        raise GraphFormatError(f"{path}: node_map must be an object of ranges, a list or a file name")
    declared = cfg.get("num_nodes")
    if isinstance(declared, int) and declared != assignment.size:
        raise GraphFormatError(f"{path}: node_map covers {assignment.size} nodes but num_nodes says {declared}")
    part_files = []
    for p in range(num_parts):
        entry = cfg.get(f"part-{p}")
        if not isinstance(entry, dict):
            raise GraphFormatError(f"{path}: missing the 'part-{p}' entry with that part's file paths")
        part_files.append({k: _resolve(path.parent, v) for k, v in entry.items() if isinstance(v, str)})
    num_edges = cfg.get("num_edges") if isinstance(cfg.get("num_edges"), int) else None
    return PartitionFiles(assignment, num_parts, path, "dgl", part_files, num_edges, cfg.get("part_method"))


def _torch():
    try:
        import torch
    except ImportError:
        raise GraphFormatError("reading PyG partition files (.pt) needs torch: pip install 'gnnsim[torch]' "
                               "(or pip install torch)") from None
    return torch


def _load_pt(path: Path):
    torch = _torch()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (pickle, zip, runtime) for a bad file
        raise GraphFormatError(f"{path}: cannot be read by torch.load ({type(exc).__name__}: {exc})") from None


def is_pyg_partition(path: str | Path) -> bool:
    return (Path(path) / "META.json").is_file()


def read_pyg_partition(path: str | Path) -> PartitionFiles:
    """Read a PyG partition folder's ``META.json`` and ``node_map.pt`` into an assignment."""
    root = Path(path)
    meta_path = root / "META.json"
    if not meta_path.is_file():
        raise GraphFormatError(f"{meta_path}: missing; a PyG partition folder has META.json and node_map.pt "
                               "(written by torch_geometric.distributed.Partitioner)")
    meta = _load_json(meta_path)
    num_parts = meta.get("num_parts")
    if not isinstance(num_parts, int) or num_parts < 1:
        raise GraphFormatError(f"{meta_path}: num_parts must be a positive integer, got {num_parts!r}")
    if meta.get("is_hetero"):
        raise GraphFormatError(f"{meta_path}: heterogeneous PyG partitions are not supported; gnnsim simulates "
                               "homogeneous graphs (convert with HeteroData.to_homogeneous before partitioning)")
    node_map_path = root / "node_map.pt"
    if not node_map_path.is_file():
        raise GraphFormatError(f"{node_map_path}: missing; it holds one part id per node")
    node_map = _load_pt(node_map_path)
    assignment = np.asarray(node_map.numpy() if hasattr(node_map, "numpy") else node_map)
    if assignment.ndim != 1 or not np.issubdtype(assignment.dtype, np.integer):
        raise GraphFormatError(f"{node_map_path}: expected a 1-D integer tensor (one part id per node), got "
                               f"{assignment.dtype} with shape {assignment.shape}")
    if assignment.size and (assignment.min() < 0 or assignment.max() >= num_parts):
        raise GraphFormatError(f"{node_map_path}: part ids must lie in [0, {num_parts - 1}] (META.json num_parts), "
                               f"found {assignment.min()}..{assignment.max()}")
    part_files = [{name: root / f"part_{p}" / f"{name}.pt" for name in ("graph", "node_feats", "edge_feats")}
                  for p in range(num_parts)]
    return PartitionFiles(assignment.astype(np.int32), num_parts, root, "pyg", part_files)


def read_pyg_partition_edges(files: PartitionFiles) -> tuple[np.ndarray, np.ndarray, int]:
    """Global ``(src, dst, num_nodes)`` from every ``part_<i>/graph.pt`` of a PyG partition.

    PyG stores edge ``e`` of a part as ``row[e] -> col[e]`` in global ids (row 0 of
    ``edge_index`` is the source).
    """
    src, dst = [], []
    num_nodes = int(files.assignment.size)
    for p, entry in enumerate(files.part_files):
        gpath = entry["graph"]
        if not gpath.is_file():
            raise GraphFormatError(f"{gpath}: missing; part {p} of {files.source} has no graph.pt")
        data = _load_pt(gpath)
        if not isinstance(data, dict) or "row" not in data or "col" not in data:
            raise GraphFormatError(f"{gpath}: expected a dict with 'row' and 'col' tensors (PyG homogeneous format)")
        row, col = (np.asarray(data[k].numpy() if hasattr(data[k], "numpy") else data[k]) for k in ("row", "col"))
        if row.shape != col.shape or row.ndim != 1:
            raise GraphFormatError(f"{gpath}: 'row' and 'col' must be 1-D and of equal length, got "
                                   f"{row.shape} and {col.shape}")
        if row.size and (min(row.min(), col.min()) < 0 or max(row.max(), col.max()) >= num_nodes):
            raise GraphFormatError(f"{gpath}: node ids must lie in [0, {num_nodes - 1}] (node_map.pt has "
                                   f"{num_nodes} nodes)")
        src.append(row.astype(np.int64))
        dst.append(col.astype(np.int64))
    return np.concatenate(src), np.concatenate(dst), num_nodes
