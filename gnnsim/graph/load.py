"""One entry point for every graph a user can name: files, folders, presets, generators.

A graph is named by a *spec* string, the same on the command line (``--graph``) and in
Python:

=====================================  ==============================================
spec                                    graph
=====================================  ==============================================
``edges.txt``, ``edges.csv.gz``         edge list (:mod:`gnnsim.graph.readers`)
``graph.npz``                           scipy sparse matrix or ``edge_index`` arrays
``dataset/ogbn_arxiv``                  OGB raw folder (:mod:`gnnsim.graph.ogb`)
``parts/`` with ``META.json``           PyG partition folder (edges of every part)
``preset:ogbn-products?scale=0.01``     synthetic stand-in (:mod:`gnnsim.graph.presets`)
``sbm?num_nodes=10000&avg_degree=12``   a generator with keyword arguments
``rmat?num_nodes=65536``                Graph500 R-MAT
``chung-lu?num_nodes=10000``            power-law Chung-Lu
=====================================  ==============================================

The format of a path is detected from its suffix or folder contents; ``fmt=`` forces
it. A DGL partition config (``*.json``) holds a partition, not the graph (its ``.dgl``
files need DGL), so it is refused here with a pointer to ``--method file:CONFIG.json``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path

from gnnsim import specs
from gnnsim.errors import GraphFormatError, did_you_mean
from gnnsim.graph.generators import chung_lu, rmat, sbm
from gnnsim.graph.graph import Graph
from gnnsim.graph.ogb import is_ogb_folder, load_ogb_graph
from gnnsim.graph.partition_files import is_pyg_partition, read_pyg_partition, read_pyg_partition_edges
from gnnsim.graph.presets import PRESETS, preset_graph
from gnnsim.graph.readers import EdgeOptions, graph_from_edges, load_edge_list_graph, load_npz_graph

GENERATORS: dict[str, Callable[..., Graph]] = {"sbm": sbm, "rmat": rmat, "chung-lu": chung_lu}
FILE_FORMATS = ("edgelist", "npz", "ogb", "pyg", "dgl")
# Used when neither the file nor the caller says: the GraphConfig defaults.
DEFAULT_FEATURE_DIM = 128
DEFAULT_NUM_CLASSES = 8
DEFAULT_TRAIN_FRACTION = 0.5
SBM_DEFAULTS = {"num_nodes": 20_000, "num_communities": 8, "avg_degree": 10.0, "intra_fraction": 0.9}


def parse_spec(spec: str) -> tuple[str, dict]:
    """Split ``name?key=value&...`` into the name and typed keyword arguments.

    >>> parse_spec("preset:ogbn-products?scale=0.01&seed=3")
    ('preset:ogbn-products', {'scale': 0.01, 'seed': 3})
    """
    return specs.parse_spec(spec, GraphFormatError, "graph spec")


def _check_kwargs(spec: str, fn: Callable, kwargs: dict) -> None:
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("rng", "name")]
    for key in kwargs:
        if key not in allowed:
            raise GraphFormatError(f"graph spec {spec!r}: unknown option '{key}'. Allowed: {', '.join(allowed)}."
                                   f"{did_you_mean(key, allowed)}")


# Options of generators and presets that are sizes (> 0) or shares ([0, 1]).
_POSITIVE_OPTIONS = ("num_nodes", "num_communities", "avg_degree", "feature_dim", "num_classes", "scale", "exponent",
                     "max_degree")
_SHARE_OPTIONS = ("intra_fraction", "train_fraction", "a", "b", "c")


def _check_numbers(spec: str, fn: Callable, kwargs: dict) -> None:
    """Every option of a generator or preset that is a number in its signature is a finite
    number (not true/false, not text) in its range, and every required one is given."""
    params = inspect.signature(fn).parameters
    for name, p in params.items():
        if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD and name not in kwargs:
            raise GraphFormatError(f"graph spec {spec!r}: give {name}, e.g. {spec.split('?')[0]}?num_nodes=10000"
                                   f"&{name}=10" if name != "num_nodes" else f"graph spec {spec!r}: give num_nodes")
    for key, value in kwargs.items():
        if key not in _POSITIVE_OPTIONS + _SHARE_OPTIONS or (key == "max_degree" and value is None):
            continue
        whole = "int" in str(params[key].annotation) and "float" not in str(params[key].annotation) \
            if key in params else False
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (whole and value != int(value)):
            raise GraphFormatError(f"graph spec {spec!r}: {key} must be a finite {'whole ' if whole else ''}number, "
                                   f"got {value!r}")
        if key in _POSITIVE_OPTIONS and value <= 0 or key in _SHARE_OPTIONS and not 0 <= value <= 1:
            raise GraphFormatError(f"graph spec {spec!r}: {key} must be "
                                   f"{'> 0' if key in _POSITIVE_OPTIONS else 'between 0 and 1'}, got {value!r}")


def _check_size(spec: str, key: str, nodes: float, edges: float, chunked: bool = False) -> None:
    """Refuse a generated graph too large for the memory available now (:mod:`gnnsim.hostmem`;
    ``chunked``: built by :mod:`gnnsim.graph.chunked_csr`, whose peak is far smaller)."""
    from gnnsim.graph.chunked_csr import build_bytes
    from gnnsim.hostmem import available_bytes, fmt_bytes, graph_bytes

    need, avail = (build_bytes if chunked else graph_bytes)(nodes, edges), available_bytes()
    if need > avail:
        raise GraphFormatError(f"graph spec {spec!r}: {key}: the graph ({nodes:.3g} nodes, {edges:.3g} stored edges) "
                               f"needs at least {fmt_bytes(need)} of memory, but {fmt_bytes(avail)} is available. "
                               f"Make {key} smaller.")


def detect_format(path: Path) -> str:
    """``edgelist``, ``npz``, ``ogb``, ``pyg`` or ``dgl`` from the suffix or folder contents."""
    if path.is_dir():
        if is_pyg_partition(path):
            return "pyg"
        if is_ogb_folder(path):
            return "ogb"
        raise GraphFormatError(f"{path}: a folder that is neither an OGB dataset (raw/edge.csv.gz) nor a PyG "
                               "partition (META.json); give a file, or --format to force one")
    if path.suffix == ".npz":
        return "npz"
    if path.suffix == ".json":
        return "dgl"
    return "edgelist"


def pyg_partition_graph(path: str | Path, *, feature_dim: int | None = None, num_classes: int = DEFAULT_NUM_CLASSES,
                        train_fraction: float = DEFAULT_TRAIN_FRACTION, options: EdgeOptions = EdgeOptions(),
                        seed: int = 0) -> Graph:
    """The whole graph stored across a PyG partition folder's ``part_<i>/graph.pt`` files."""
    files = read_pyg_partition(path)
    src, dst, num_nodes = read_pyg_partition_edges(files)
    if feature_dim is None:
        feature_dim = _pyg_feature_dim(files) or DEFAULT_FEATURE_DIM
    return graph_from_edges(src, dst, num_nodes, name=Path(path).name, feature_dim=feature_dim,
                            num_classes=num_classes, train_fraction=train_fraction, options=options, seed=seed)


def _pyg_feature_dim(files) -> int | None:
    """Feature width from part 0's ``node_feats.pt``, memory-mapped so the rows are not read."""
    feats = files.part_files[0]["node_feats"]
    if not feats.is_file():
        return None
    import torch

    try:
        data = torch.load(feats, map_location="cpu", weights_only=True, mmap=True)
        x = data["feats"]["x"]
        return int(x.shape[1]) if x is not None and x.dim() == 2 else None
    except Exception:  # a feature file we cannot interpret only loses the width, not the graph
        return None


def load_graph(spec: str | Path, *, fmt: str | None = None, seed: int = 0, feature_dim: int | None = None,
               num_classes: int | None = None, train_fraction: float | None = None,
               options: EdgeOptions = EdgeOptions(), base_dir: str | Path | None = None) -> Graph:
    """The graph named by ``spec`` (see the module docstring).

    ``feature_dim``, ``num_classes`` and ``train_fraction`` apply where the source does
    not fix them (edge lists, npz without labels); presets and OGB folders bring their own.

    Raises
    ------
    GraphFormatError
        Unknown preset/generator/option, an undetectable format, or a bad file.

    Examples
    --------
    >>> load_graph("sbm?num_nodes=500&avg_degree=6", seed=1).num_nodes
    500
    >>> load_graph("preset:reddit?scale=0.002").feature_dim
    602
    """
    text = str(spec)
    name, kwargs = parse_spec(text)
    if name.startswith("preset:"):
        preset = name.split(":", 1)[1]
        kwargs.setdefault("seed", seed)
        _check_kwargs(text, preset_graph, kwargs)
        if feature_dim is not None:
            kwargs.setdefault("feature_dim", feature_dim)
        _check_numbers(text, preset_graph, {"name": preset, **kwargs})
        if preset in PRESETS:
            scale = float(kwargs.get("scale", 1.0))
            _check_size(text, "scale", PRESETS[preset].nodes * scale, 2.0 * PRESETS[preset].undirected_edges * scale,
                        chunked=True)
        return preset_graph(preset, **kwargs)
    if name in GENERATORS:
        fn = GENERATORS[name]
        kwargs.setdefault("seed", seed)
        defaults = {"feature_dim": feature_dim, "num_classes": num_classes, "train_fraction": train_fraction}
        kwargs = {**{k: v for k, v in defaults.items() if v is not None}, **kwargs}
        if name == "sbm":
            kwargs = {**SBM_DEFAULTS, **kwargs}
        elif "num_nodes" not in kwargs:
            kwargs["num_nodes"] = SBM_DEFAULTS["num_nodes"]
        _check_kwargs(text, fn, kwargs)
        _check_numbers(text, fn, kwargs)
        degree = kwargs.get("avg_degree", inspect.signature(fn).parameters["avg_degree"].default)
        _check_size(text, "avg_degree" if degree > kwargs["num_nodes"] else "num_nodes", float(kwargs["num_nodes"]),
                    float(kwargs["num_nodes"]) * float(degree), chunked=name == "chung-lu")
        try:
            return fn(**kwargs)
        except (TypeError, ValueError) as exc:
            raise GraphFormatError(f"graph spec {text!r}: {exc}") from None
    path = Path(text)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if not path.exists():
        known = [f"preset:{p}" for p in PRESETS] + list(GENERATORS)
        raise GraphFormatError(f"{text}: no such file or folder, and not a graph spec. Give a path, or one of: "
                               f"{', '.join(known)} (options as ?key=value).{did_you_mean(name, known)}")
    if kwargs:
        raise GraphFormatError(f"{text}: options after '?' apply to presets and generators, not to files")
    fmt = fmt or detect_format(path)
    if fmt not in FILE_FORMATS:
        raise GraphFormatError(f"--format {fmt}: unknown format. Known: {', '.join(FILE_FORMATS)}."
                               f"{did_you_mean(fmt, FILE_FORMATS)}")
    fd = feature_dim or DEFAULT_FEATURE_DIM
    nc = num_classes or DEFAULT_NUM_CLASSES
    tf = train_fraction or DEFAULT_TRAIN_FRACTION
    if fmt == "edgelist":
        return load_edge_list_graph(path, feature_dim=fd, num_classes=nc, train_fraction=tf, seed=seed,
                                    symmetrize=options.symmetrize, self_loops=options.self_loops, dedup=options.dedup)
    if fmt == "npz":
        return load_npz_graph(path, feature_dim=fd, num_classes=nc, train_fraction=tf, options=options, seed=seed)
    if fmt == "ogb":
        return load_ogb_graph(path, feature_dim=fd, num_classes=num_classes, train_fraction=tf, options=options,
                              seed=seed)
    if fmt == "pyg":
        return pyg_partition_graph(path, feature_dim=feature_dim, num_classes=nc, train_fraction=tf, options=options,
                                   seed=seed)
    raise GraphFormatError(f"{path}: a DGL partition config describes a partition, not the graph (its .dgl files "
                           "need DGL to read). Load the original graph with --graph and reuse DGL's assignment "
                           f"with --method file:{path}")

