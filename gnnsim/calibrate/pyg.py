"""PyG's costs beyond plain torch, measured against the real ``torch_geometric`` here.

The ``pyg`` software profile says what PyG adds on top of the kernels gnnsim prices
(:mod:`gnnsim.hardware.software`). Two micro-benchmarks measure it, never an
end-to-end run:

- **layers**: each PyG model (``torch_geometric.nn.models``: ``GraphSAGE``, ``GCN``,
  ``GAT``, ``GIN``, as :mod:`gnnsim.realrun.pyg_worker` builds them) against gnnsim's
  own torch model of the same dims (:mod:`gnnsim.realrun.models`) on identical inputs:
  a whole random subgraph of ``N`` nodes and ``E`` edges, every layer on all of it (the
  shape :func:`gnnsim.workload.frameworks.pyg_shapes` prices), the two timed in turn.
  The difference per stage (the median of the repeats' paired differences: this host's
  other load hits both alike) is fitted as ``layers * fixed + elements * per_element +
  rows * per_row``, where ``elements`` and ``rows`` are what the cost model sees of the
  same step: edges x width and destinations x width of the stage's ``aggregate``
  kernels in the workload model. GCN's and GAT's per-edge work (the per-edge norm,
  PyG's scatter softmax) lands in the element term, their self-loops (one edge more per
  node) in the row term, the ``MessagePassing`` machinery in the fixed one. The sizes
  have the node-to-edge ratios of sampled subgraphs (1.5 to 4 edges per node) so the
  terms separate. The fixed and row terms are at least 0; the element term may be
  negative: PyG's scatter-based backward of a sum or mean can be faster per edge than
  the ``index_add`` one of gnnsim's layers.
- **loader**: ``next()`` of a PyG ``NodeLoader`` over gnnsim's sampler
  (:class:`gnnsim.realrun.pyg_worker.GnnsimSampler`) against the bare sampler
  (:func:`gnnsim.workload.frameworks.pyg_minibatch`) on the same seeds and random
  stream, fitted as ``fixed + nodes * a + edges * b`` on the sample task's own counts
  (the collation: ``SamplerOutput``, ``filter_data``, the ``Data`` object); a full CPU
  calibration draws the batches in rounds from the same loaders (:class:`LoaderBench`,
  :mod:`gnnsim.calibrate.rounds`) and fits each shape's median round.
- **DDP**: each model wrapped in ``DistributedDataParallel`` against bare
  (:mod:`gnnsim.calibrate.ddp`): the wrapper's own work per forward and backward pass,
  ``ddp_forward_us`` and ``ddp_backward_us`` per model.
- **sampler**: the bare ``pyg_minibatch`` that ``NodeLoader`` runs here, timed after a
  cache-evicting pass as the sampler benchmark times ``sample_minibatch``, against what
  the node's sampler block (fitted on ``sample_minibatch`` in the same calibration)
  predicts for the same batch: one scale on its node and edge terms
  (:func:`fit_sampler_scale`), the profile's ``sampler:`` block. PyG's sampling expands
  only each hop's new nodes and builds every hop's block on all nodes so far, a
  different sequence of numpy passes than the one the sampler block was fitted on.

:func:`calibrate_pyg` returns the profile block that ``gnnsim calibrate`` writes under
``frameworks: pyg:`` (read by :func:`gnnsim.hardware.software.load_software`).
"""

from __future__ import annotations

import time

import numpy as np

from gnnsim.calibrate.ddp import bench_ddp
from gnnsim.calibrate.profile_blocks import rounded
from gnnsim.calibrate.timing import train_step_s

PYG_MODELS = ("graphsage", "gcn", "gat", "gin")
IN_DIM, CLASSES, LAYERS, HEADS = 64, 4, 2, 4  # as the validation scenarios (SBM features 64, 4 classes)
# (nodes, edges, hidden): whole sampled subgraphs from a few hundred rows to a large batch's
# (as NodeLoader's batches: batch 256 with fan-outs [8, 4] is ~4.9k nodes and ~8k edges), at
# hidden widths up to the widest the suite trains (256): the element term is per edge and column,
# and a fit from widths of 64 and 128 alone extrapolated it to 256
LAYER_SIZES = [(64, 128, 64), (1024, 1536, 64), (2048, 8192, 64), (4096, 6144, 64), (4096, 16384, 128),
               (8192, 12288, 64), (4096, 6144, 256)]
LAYER_SIZES_QUICK = [(64, 128, 64), (2048, 8192, 64), (4096, 6144, 64), (4096, 16384, 128)]
MIN_REPEATS = 8
# (batch size, fan-outs) of the loader benchmark, on an SBM graph like the suite's
LOADER_BATCHES = [(32, [5, 5]), (128, [8, 4]), (256, [10, 5]), (512, [10, 10]), (1024, [15, 10])]
LOADER_GRAPH_NODES = 8_000
LOADER_REPEATS = 12  # batches per shape


def available() -> str | None:
    """The installed ``torch_geometric``'s version, or None when it does not import."""
    try:
        import torch_geometric
    except ImportError:
        return None
    return str(torch_geometric.__version__)


def stage_elements(name: str, nodes: int, edges: int, hidden: int, seeds: int) -> dict[str, list[float]]:
    """Per stage, the aggregated [elements, rows] (edges x width, destinations x width of
    the ``aggregate`` kernels) of a forward and a backward step of model ``name`` on a
    whole subgraph, as the workload model prices PyG's layers
    (:func:`gnnsim.hardware.software.aggregate_elements`, :func:`~gnnsim.hardware.software.aggregate_rows`)."""
    from gnnsim.hardware.software import aggregate_elements, aggregate_rows
    from gnnsim.workload import kernels as m
    from gnnsim.workload.frameworks import framework_model

    shapes = [(nodes, nodes, edges)] * LAYERS
    dims = m.layer_dims(IN_DIM, hidden, CLASSES, LAYERS)
    spec = framework_model(name, "pyg")  # the order of PyG's layers (GCN projects first)
    kernels = {"forward": spec.forward_kernels(shapes, dims, 4, HEADS),
               "backward": spec.backward_kernels(shapes, dims, seeds, CLASSES, 4, HEADS)}
    return {stage: [aggregate_elements(ks), aggregate_rows(ks)] for stage, ks in kernels.items()}


def _models(name: str, hidden: int, device: str):
    import torch
    import torch_geometric.nn.models as pyg_models

    from gnnsim.realrun.layers import GCNLayer
    from gnnsim.realrun.models import build_model
    from gnnsim.realrun.pyg_worker import pyg_model_class
    from gnnsim.workload.frameworks import pyg_gcn_project_first

    torch.manual_seed(0)
    extra = {"heads": HEADS} if name == "gat" else {}
    pyg = getattr(pyg_models, pyg_model_class(name))(IN_DIM, hidden, LAYERS, out_channels=CLASSES, **extra).to(device)
    own = build_model(name, IN_DIM, hidden, CLASSES, LAYERS, heads=HEADS).to(device)
    for layer in own.modules():  # gnnsim's GCN in PyG's order (lin, then propagate), as the workload prices it
        if isinstance(layer, GCNLayer):
            layer.project_first = pyg_gcn_project_first(layer.lin.in_features, layer.lin.out_features)
    return pyg, own


def bench_layers(quick: bool, repeats: int, device: str = "cpu") -> list[dict]:
    """Forward and backward of every PyG model and gnnsim's own on the same whole
    subgraphs: one row per model and size with both times (mean seconds) per stage."""
    import torch

    from gnnsim.calibrate.timing import device_sync
    from gnnsim.realrun.blocks import with_degrees

    sync = device_sync(device)
    rng = np.random.default_rng(5)
    rows = []
    for nodes, edges, hidden in LAYER_SIZES_QUICK if quick else LAYER_SIZES:
        src = torch.from_numpy(rng.integers(0, nodes, edges)).to(device)
        dst = torch.from_numpy(rng.integers(0, nodes, edges)).to(device)
        edge_index = torch.stack([src, dst])  # row: source (neighbour), col: destination
        x = torch.randn(nodes, IN_DIM, device=device)
        seeds = max(1, nodes // 8)
        y = torch.randint(0, CLASSES, (seeds,), device=device)
        for name in PYG_MODELS:
            pyg, own = _models(name, hidden, device)

            def step_pyg():
                return pyg(x, edge_index)[:seeds]

            def step_own():
                blocks = with_degrees([(src, dst, nodes)] * LAYERS, own.uses_inverse_degree)
                return own(blocks, x)[:seeds]

            times = {"pyg": {"forward": [], "backward": []}, "own": {"forward": [], "backward": []}}
            for i in range(max(repeats, MIN_REPEATS) + 2):
                for which, step, model in (("pyg", step_pyg, pyg), ("own", step_own, own)):  # in turn: one drift
                    forward, backward = train_step_s(step, y, model, sync)
                    if i >= 2:
                        times[which]["forward"].append(forward)
                        times[which]["backward"].append(backward)
            rows.append({"model": name, "nodes": nodes, "edges": edges, "hidden": hidden, "seeds": seeds,
                         "elements": stage_elements(name, nodes, edges, hidden, seeds),
                         "extra": {stage: float(np.median(np.subtract(times["pyg"][stage], times["own"][stage])))
                                   for stage in ("forward", "backward")},
                         **{which: {stage: float(np.mean(ts)) for stage, ts in by.items()}
                            for which, by in times.items()}})
    return rows


def _fit(X: np.ndarray, y: np.ndarray, signed: tuple[int, ...] = ()) -> np.ndarray:
    """Least squares ``y = X c`` with ``c >= 0`` (the coefficients ``signed`` free)."""
    from scipy.optimize import lsq_linear

    scale = np.maximum(np.abs(X).max(axis=0), 1e-30)
    low = np.zeros(X.shape[1])
    low[list(signed)] = -np.inf
    return lsq_linear(X / scale, y, bounds=(low, np.inf)).x / scale


def fit_layers(rows: list[dict]) -> tuple[dict, dict]:
    """Per model: ``per_layer_{forward,backward}_us``, ``per_element_{forward,backward}_ns``
    and ``per_row_{forward,backward}_ns`` fitted to PyG's time over gnnsim's own (least
    squares, the element term signed), and the fit's error on PyG's times (own time +
    fitted overhead against the measured PyG time)."""
    models, residuals = {}, {}
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        block, errors = {}, []
        for stage in ("forward", "backward"):
            X = np.array([[LAYERS, *r["elements"][stage]] for r in mine], dtype=float)
            extra = np.array([r["extra"][stage] for r in mine])
            coef = _fit(X, extra, signed=(1,))
            block[f"per_layer_{stage}_us"] = rounded(coef[0] * 1e6)
            block[f"per_element_{stage}_ns"] = rounded(coef[1] * 1e9)
            block[f"per_row_{stage}_ns"] = rounded(coef[2] * 1e9)
            predicted = np.array([r["own"][stage] for r in mine]) + X @ coef
            errors += list(np.abs(predicted / np.array([r["pyg"][stage] for r in mine]) - 1.0))
        models[name] = block
        residuals[f"pyg_{name}"] = {"fit_mape": rounded(float(np.mean(errors)), 3), "samples": 2 * len(mine)}
    return models, residuals


def bench_loader(quick: bool, repeats: int) -> list[dict]:
    """``next()`` of PyG's ``NodeLoader`` over gnnsim's sampler against the bare sampler,
    batch by batch on identical seeds and random streams: one row per batch with both
    times and the sample task's node and edge counts (one round of :class:`LoaderBench`)."""
    count = max(repeats, LOADER_REPEATS) if not quick else max(repeats, 6)
    return LoaderBench(quick, count).round(count)


class LoaderBench:
    """One ``NodeLoader`` per batch shape over gnnsim's sampler, and the bare sampler on
    the same seeds and random stream, each warmed up by two batches; :meth:`round` times
    the next batches of every shape. The loaders live on from round to round: the first
    batches of a fresh one ran 10-40% slower than its later ones here, and a training
    loop draws many from each (``docs/calibration-notes.md``, "Optimizer and loader rounds")."""

    def __init__(self, quick: bool, batches: int):
        import torch
        from torch_geometric.data import Data
        from torch_geometric.loader import NodeLoader

        from gnnsim.graph.generators import sbm
        from gnnsim.realrun.pyg_worker import sampler_class

        self.graph = graph = sbm(LOADER_GRAPH_NODES, 4, 8.0, 0.85, seed=3)
        data = Data(edge_index=torch.empty(2, 0, dtype=torch.long), y=torch.zeros(graph.num_nodes, dtype=torch.long),
                    num_nodes=graph.num_nodes)
        self.shapes, self.drawn = [], 0
        for bs, fanouts in LOADER_BATCHES[::2] if quick else LOADER_BATCHES:
            pick = np.random.default_rng(bs)
            seeds = np.concatenate([pick.choice(graph.train_ids, size=min(bs, graph.train_ids.size), replace=False)
                                    for _ in range(batches + 2)])
            sampler = sampler_class()(graph.indptr, graph.indices, fanouts, False, np.random.default_rng(7))
            loader = iter(NodeLoader(data, node_sampler=sampler, input_nodes=torch.from_numpy(seeds), batch_size=bs,
                                     shuffle=False, num_workers=0))
            bare_rng = np.random.default_rng(7)  # the same stream: the same batches
            self.shapes.append((bs, fanouts, seeds, loader, bare_rng))
        self._draw(2)  # warm-up, not kept

    def _draw(self, count: int) -> list[list[dict]]:
        from gnnsim.workload.frameworks import pyg_minibatch

        g, out = self.graph, []
        for bs, fanouts, seeds, loader, bare_rng in self.shapes:
            mine = []
            for i in range(self.drawn, self.drawn + count):
                start = time.perf_counter()
                next(loader)
                mid = time.perf_counter()
                mb = pyg_minibatch(g.indptr, g.indices, seeds[i * bs:(i + 1) * bs], fanouts, bare_rng)
                end = time.perf_counter()
                mine.append({"batch": bs, "fanouts": fanouts, "index": i, "nodes": mb.num_sampled_nodes,
                             "edges": mb.num_sampled_edges, "loader": mid - start, "bare": end - mid})
            out.append(mine)
        self.drawn += count
        return out

    def round(self, count: int, round_index: int = 0) -> list[dict]:
        """The next ``count`` batches of every shape, tagged ``round`` ``round_index``
        (:func:`fit_loader` keeps each shape's median round)."""
        from gnnsim.calibrate.memory_state import evict_caches
        from gnnsim.workload.frameworks import pyg_minibatch
        from gnnsim.workload.sampler import sampling_work

        g, rows = self.graph, []
        for (bs, fanouts, seeds, _, _), mine in zip(self.shapes, self._draw(count)):
            # then the same seeds each after an eviction, as the sampler benchmark times its
            # batches (apart, so that the loader's calls above follow no eviction)
            for row in mine:
                i = row.pop("index")
                evicted_rng = np.random.default_rng(1000 + i)
                evict_caches()
                start = time.perf_counter()
                evicted = pyg_minibatch(g.indptr, g.indices, seeds[i * bs:(i + 1) * bs], fanouts, evicted_rng)
                row.update(round=round_index, bare_evicted=time.perf_counter() - start, graph_nodes=g.num_nodes,
                           evicted_counts=[evicted.num_sampled_nodes, evicted.num_sampled_edges,
                                           *sampling_work(g.indptr, evicted, fanouts)])
            rows += mine
        return rows


def loader_points(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per batch shape, its mean [1, nodes, edges] and the loader's time over the bare
    sampler's: the mean of each round's batches, then the median over the rounds (rows
    without ``batch`` are shapes of their own, without ``round`` all one round).

    >>> row = lambda r, extra: {"batch": 8, "fanouts": [2], "round": r, "nodes": 10, "edges": 20,
    ...                         "loader": 1.0 + extra, "bare": 1.0}
    >>> X, y = loader_points([row(0, 0.1), row(0, 0.3), row(1, 0.25), row(2, 0.9)])
    >>> X.tolist(), [round(float(v), 3) for v in y]
    ([[1.0, 10.0, 20.0]], [0.25])
    """
    shapes: dict = {}
    for i, r in enumerate(rows):
        shape = (r["batch"], tuple(r.get("fanouts", ()))) if "batch" in r else i
        shapes.setdefault(shape, {}).setdefault(r.get("round", 0), []).append(r)
    X, y = [], []
    for by_round in shapes.values():
        mine = [r for rs in by_round.values() for r in rs]
        X.append([1.0, np.mean([r["nodes"] for r in mine]), np.mean([r["edges"] for r in mine])])
        y.append(float(np.median([np.mean([r["loader"] - r["bare"] for r in rs]) for rs in by_round.values()])))
    return np.array(X), np.array(y)


def fit_loader(rows: list[dict]) -> tuple[dict, dict]:
    """``per_iteration_us``, ``loader_per_node_ns`` and ``loader_per_edge_ns`` from the
    loader's time over the bare sampler's (per shape, the median of its rounds' means:
    :func:`loader_points`), and the fit's error on the loader's times."""
    points, extra = loader_points(rows)
    coef = _fit(points, extra)
    X = np.array([[1.0, r["nodes"], r["edges"]] for r in rows])
    predicted = np.array([r["bare"] for r in rows]) + X @ coef
    error = float(np.mean(np.abs(predicted / np.array([r["loader"] for r in rows]) - 1.0)))
    return ({"per_iteration_us": rounded(coef[0] * 1e6), "loader_per_node_ns": rounded(coef[1] * 1e9),
             "loader_per_edge_ns": rounded(coef[2] * 1e9)},
            {"pyg_loader": {"fit_mape": rounded(error, 3), "samples": len(rows)}})


def _sampler_terms(block: dict, row: dict) -> tuple[float, float]:
    """(fixed, scaled) seconds the node's sampler ``block`` predicts for a loader row's
    evicted batch: the per-batch and per-hop terms, and the node, edge, draw and check
    terms that the profile's ``node_scale`` and ``edge_scale`` multiply
    (:meth:`gnnsim.hardware.software.SoftwareProfile.sampler_cost`)."""
    nodes, edges, hops, draws, checks = row["evicted_counts"]
    ref = float(block.get("reference_nodes", 0) or 0)
    doublings = max(0.0, float(np.log2(row["graph_nodes"] / ref))) if ref > 0 else 0.0
    per_edge_ns = block["per_edge_ns"] + block.get("per_edge_doubling_ns", 0.0) * doublings
    fixed = block["per_batch_us"] * 1e-6 + block.get("per_hop_us", 0.0) * 1e-6 * hops
    scaled = (block["per_node_ns"] * 1e-9 * nodes + per_edge_ns * 1e-9 * edges
              + block.get("per_draw_us", 0.0) * 1e-6 * draws + block.get("per_check_ns", 0.0) * 1e-9 * checks)
    return fixed, scaled


def fit_sampler_scale(rows: list[dict], sampler: dict | None) -> tuple[dict, dict]:
    """The ``frameworks: pyg: sampler`` block: PyG's bare sampler (``bare_evicted``) over
    what the node's ``sampler`` block predicts for the same batches, as one scale on the
    node and edge terms (``node_scale = edge_scale``, at least 0.01; least squares of the
    relative error), no per-batch term (a quick calibration's few shapes traded one off
    against the other), and the fit's error; unscaled where no sampler block or no
    evicted timings (samples from before they were taken) are given."""
    unscaled = {"per_batch_us": 0.0, "node_scale": 1.0, "edge_scale": 1.0}
    rows = [r for r in rows if "bare_evicted" in r]
    if not sampler or not rows:
        return unscaled, {}
    terms = np.array([_sampler_terms(sampler, r) for r in rows])
    measured = np.array([r["bare_evicted"] for r in rows])
    fixed, scaled = terms[:, 0] / measured, terms[:, 1] / measured
    scale = max(float(np.dot(scaled, 1.0 - fixed) / max(np.dot(scaled, scaled), 1e-30)), 0.01)
    predicted = terms[:, 0] + scale * terms[:, 1]
    before = float(np.mean(np.abs(terms.sum(axis=1) / measured - 1.0)))
    return ({"per_batch_us": 0.0, "node_scale": rounded(scale), "edge_scale": rounded(scale)},
            {"pyg_sampler": {"fit_mape": rounded(float(np.mean(np.abs(predicted / measured - 1.0))), 3),
                             "unscaled_mape": rounded(before, 3), "samples": len(rows)}})


def pyg_block(models: dict, loader: dict, version: str, source: str, sampler: dict | None = None) -> dict:
    """The calibrated profile's ``frameworks: pyg:`` block: the loader's overheads, the
    pooled GraphSAGE numbers as the default layer overheads, each model's own, and the
    sampler as measured here (:func:`fit_sampler_scale`; unscaled without it)."""
    default = models.get("graphsage") or next(iter(models.values()))
    return {"version": version,
            "overheads": {**loader, **default},
            "models": models,
            # NodeLoader here runs gnnsim's pyg_minibatch (pyg-lib has no wheel for this
            # torch): its cost relative to the calibration's sampler block
            "sampler": sampler or {"per_batch_us": 0.0, "node_scale": 1.0, "edge_scale": 1.0},
            "sources": [{"text": source, "basis": "calibrated", "confidence": "medium",
                         "covers": ["overheads", "models", "sampler"]}]}


def calibrate_pyg(quick: bool, repeats: int, device: str, progress, samples: dict, residuals: dict,
                  source: str, sampler: dict | None = None, loader_rows: list[dict] | None = None) -> dict | None:
    """Measure and fit the ``frameworks: pyg:`` block (None, with a line, without PyG);
    ``sampler`` is the node's sampler block of the same calibration, ``loader_rows`` the
    loader's rounds timed already (:func:`bench_loader`; else timed here, in one round)."""
    version = available()
    progress("calibrate: PyG's layers and NodeLoader against plain torch ...", end=" ", flush=True)
    if version is None:
        progress("skipped (torch_geometric does not import; the pyg profile keeps its estimates)")
        progress.step()
        return None
    layer_rows = bench_layers(quick, repeats, device)
    loader_rows = loader_rows or bench_loader(quick, repeats)
    rounds = len({r.get("round", 0) for r in loader_rows})
    samples["pyg_layers"], samples["pyg_loader"] = layer_rows, loader_rows
    models, layer_res = fit_layers(layer_rows)
    # DistributedDataParallel's own work per pass (on the CPU, over gloo, as the CPU trainers run it)
    ddp = (bench_ddp(lambda name, hidden: _models(name, hidden, "cpu")[0], tuple(models), IN_DIM, CLASSES, quick)
           if device == "cpu" else None) or {}
    for name, block in ddp.items():
        models[name].update(block)
    loader, loader_res = fit_loader(loader_rows)
    scales, sampler_res = fit_sampler_scale(loader_rows, sampler)
    residuals.update(layer_res)
    residuals.update(loader_res)
    residuals.update(sampler_res)
    text = (f"{source}: torch_geometric {version}'s models against gnnsim's torch models on identical whole "
            f"subgraphs ({len(layer_rows)} model x size pairs, forward and backward timed in turn) and its NodeLoader "
            f"over gnnsim's sampler against the bare sampler ({len(loader_rows)} batches in {rounds} round(s), each "
            "shape's median round), the bare sampler after an "
            "eviction against the sampler block"
            + (", each model wrapped in DistributedDataParallel against bare (one-process gloo group)" if ddp else "")
            + "; micro-benchmarks only "
            "(gnnsim.calibrate.pyg)")
    sage = models.get("graphsage", {})
    progress(f"GraphSAGE +{sage.get('per_layer_forward_us', 0):g}/+{sage.get('per_layer_backward_us', 0):g} us per "
             f"layer, DDP +{sage.get('ddp_forward_us', 0):g}/+{sage.get('ddp_backward_us', 0):g} us per pass, "
             f"loader +{loader['per_iteration_us']:g} us per batch, sampler x{scales['node_scale']:g}")
    progress.step()
    return pyg_block(models, loader, version, text, scales)
