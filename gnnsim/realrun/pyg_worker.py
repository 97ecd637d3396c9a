"""One rank of a standard PyG data-parallel trainer (``gnnsim realrun --trainer pyg``).

Written the way PyG's single-machine multi-process examples write it, so that gnnsim
can be checked against what a PyG user runs rather than against its own trainer:

- every rank holds the whole feature matrix in its memory and gathers its own batch's
  rows (no feature exchange); the train nodes are dealt to the ranks as
  ``training.mode: single-node-multigpu`` deals them (:func:`gnnsim.workload.builder.split_seeds`);
- a PyG ``NodeLoader`` over a ``Data`` object yields each batch; its sampler
  (:class:`GnnsimSampler`) implements PyG's ``BaseSampler`` on gnnsim's vectorized
  sampler, because ``NeighborLoader`` needs pyg-lib or torch-sparse, which have no wheels
  for this torch. It samples as pyg-lib does (each hop expands only the nodes the last
  one added: :func:`gnnsim.workload.frameworks.pyg_minibatch`) and returns PyG's
  ``SamplerOutput``: all sampled nodes (seeds first, then each hop's new nodes), every
  hop's edges (hop 1 first) as ``row`` (neighbour) -> ``col`` (the node sampled from),
  and the nodes and edges per hop that ``trim_to_layer`` reads. The batches are the
  simulator's own for ``framework: pyg`` (same seeds, same random streams);
- the model is PyG's ``GraphSAGE``/``GCN``/``GAT``/``GIN`` (``torch_geometric.nn.models``:
  ``SAGEConv``, ``GCNConv``, ``GATConv``, ``GINConv``) called as
  ``model(x, edge_index)[:batch_size]``, with ``num_sampled_nodes_per_hop`` and
  ``num_sampled_edges_per_hop`` where ``training.pyg_trim_to_layer`` is set;
- ``DistributedDataParallel`` over gloo, with no barrier between iterations.

Stages have gnnsim's names: ``sample`` (``next(loader)``: sampling and PyG's collation
into a ``Data``), ``fetch`` (``x[batch.n_id]``), ``forward``, ``backward``, ``allreduce``
and ``optimizer``. DDP all-reduces inside ``loss.backward()``: a communication hook (the
default hook's work, timed) records each bucket's launch and completion, and their
union up to backward's return is ``allreduce``, taken out of ``backward`` (the rule
``import-trace`` applies to a DDP trace). CPU ranks only.

Usage (internal): ``python -m gnnsim.realrun.pyg_worker SPEC.json RANK``
"""

from __future__ import annotations

import sys
import time

import numpy as np

def pyg_model_class(name: str) -> str:
    """The ``torch_geometric.nn.models`` class the registry names for model ``name`` ("" if none)."""
    from gnnsim.workload.models import MODELS

    entry = MODELS.get(name)
    return entry.pyg_model if entry is not None else ""


def unsupported(scenario) -> str | None:
    """Why the PyG trainer cannot run ``scenario`` (None when it can)."""
    from gnnsim.pipeline import cluster_for

    t = scenario.training
    if t.framework != "pyg":
        return (f"the PyG trainer runs PyG's layers: set training.framework: pyg (it is {t.framework!r}) so that the "
                "simulation models what they compute")
    if t.mode != "single-node-multigpu":
        return ("the PyG trainer keeps every feature row on every rank, as PyG's single-machine examples do: set "
                f"training.mode: single-node-multigpu (it is {t.mode!r})")
    if t.pyg_loader != "neighbor_loader":
        return ("the PyG trainer runs PyG's NodeLoader: set training.pyg_loader: neighbor_loader (the legacy "
                "NeighborSampler is modelled, not run)")
    if t.sampler not in ("neighbor", "full"):
        return f"the PyG trainer samples neighbours (neighbor or full), not {t.sampler!r}"
    if not pyg_model_class(scenario.model.name):
        return f"model.name {scenario.model.name!r} has no PyG model in the registry (gnnsim/workload/models.py)"
    if cluster_for(scenario).node.trainer_device.kind != "cpu":
        return "the PyG trainer runs on CPU ranks (gloo) only; give cluster.device_profile a CPU profile"
    if t.cache.policy != "none":
        return "the PyG trainer has no feature cache: set training.cache.policy: none"
    return None


def worker_module(trainer: str, scenario) -> str:
    """The module a rank of ``trainer`` runs, after checking that it can run ``scenario``."""
    from gnnsim.errors import RealRunError

    if trainer == "torch":
        return "gnnsim.realrun.worker"
    if trainer != "pyg":
        raise RealRunError(f"--trainer {trainer!r}: expected torch (gnnsim's own) or pyg")
    reason = unsupported(scenario)
    if reason:
        raise RealRunError(reason)
    try:
        import torch_geometric  # noqa: F401
    except ImportError:
        raise RealRunError("--trainer pyg needs torch-geometric: pip install --no-deps torch-geometric, then "
                           "its pure-Python dependencies (pip install aiohttp fsspec jinja2 psutil pyparsing requests "
                           "tqdm xxhash); pip install 'gnnsim[torch]' installs it") from None
    return "gnnsim.realrun.pyg_worker"


class GnnsimSampler:
    """PyG's ``BaseSampler`` on gnnsim's sampler (made a subclass in :func:`sampler_class`,
    so that importing this module does not need PyG)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, fanouts, replace: bool, rng: np.random.Generator):
        self.indptr, self.indices, self.fanouts, self.replace, self.rng = indptr, indices, fanouts, replace, rng

    def sample_from_nodes(self, index, **kwargs):
        import torch
        from torch_geometric.sampler import SamplerOutput

        from gnnsim.workload.frameworks import pyg_minibatch

        mb = pyg_minibatch(self.indptr, self.indices, index.node.numpy(), self.fanouts, self.rng, self.replace)
        hops = mb.blocks[::-1]  # hop 1 first; a hop's block-local ids are the batch's own (sources extend the last)
        row = torch.from_numpy(np.concatenate([b.edge_src for b in hops]))
        col = torch.from_numpy(np.concatenate([b.edge_dst for b in hops]))
        per_hop = mb.nodes_per_hop  # [seeds, within 1 hop, within 2 hops, ...]
        out = SamplerOutput(node=torch.from_numpy(mb.input_nodes), row=row, col=col, edge=None,
                            num_sampled_nodes=[per_hop[0]] + [b - a for a, b in zip(per_hop, per_hop[1:])],
                            num_sampled_edges=[b.num_edges for b in hops])
        out.metadata = (index.input_id, index.time)
        return out


    def sample_from_edges(self, index, neg_sampling=None):
        raise NotImplementedError("gnnsim's sampler samples from seed nodes only (NodeLoader), not from edges")


def sampler_class():
    from torch_geometric.sampler import BaseSampler

    return type("GnnsimNeighborSampler", (GnnsimSampler, BaseSampler), {})


def build_pyg_model(scenario, in_dim: int, num_classes: int):
    import torch_geometric.nn.models as pyg_models

    cls = getattr(pyg_models, pyg_model_class(scenario.model.name))
    extra = {"heads": scenario.model.heads} if scenario.model.name == "gat" else {}
    return cls(in_dim, scenario.model.hidden_dim, len(scenario.training.fanouts), out_channels=num_classes, **extra)


def timed_allreduce_hook(spans: list):
    """DDP's default all-reduce hook (average the bucket: divide, then sum over ranks),
    recording each bucket's (launch, completion) ``perf_counter`` times in ``spans``."""
    import torch.distributed as dist

    def hook(state, bucket):
        world = dist.get_world_size()
        launched = time.perf_counter()
        fut = dist.all_reduce(bucket.buffer().div_(world), async_op=True).get_future()

        def done(f):
            spans.append((launched, time.perf_counter()))
            return f.value()[0]
        return fut.then(done)
    return hook


def allreduce_inside(spans: list, backward_end: float) -> float:
    """Seconds covered by the buckets' all-reduces, each ending no later than backward.

    >>> allreduce_inside([(1.0, 3.0), (2.0, 4.0), (6.0, 9.0)], 8.0)
    5.0
    """
    from gnnsim.measured import merged

    union = merged([(a, min(b, backward_end)) for a, b in spans if a < backward_end])
    return float((union[:, 1] - union[:, 0]).sum()) if union.size else 0.0


def _run(spec: dict, rank: int) -> dict:
    import torch
    import torch.distributed as dist
    import torch_geometric
    from torch_geometric.data import Data
    from torch_geometric.loader import NodeLoader

    from gnnsim.graph.build import build_graph
    from gnnsim.realrun.features import partition_features
    from gnnsim.realrun.stages import stage_deltas, start_rank
    from gnnsim.rng import rng_for
    from gnnsim.workload.builder import iterations_per_epoch, sampler_fanouts, split_seeds
    from gnnsim.workload.sampler import seed_batches

    world = int(spec["world"])
    scenario = start_rank(spec, rank, unsupported)
    graph = build_graph(scenario)
    t, sim = scenario.training, scenario.simulation
    # every rank holds every row (the same rows on every rank)
    x_all = partition_features(graph.labels, graph.feature_dim, graph.num_classes, sim.seed, 0)
    data = Data(edge_index=torch.empty(2, 0, dtype=torch.long), y=torch.from_numpy(graph.labels),
                num_nodes=graph.num_nodes)
    seeds = split_seeds(graph, world, sim.seed)
    batches = seed_batches(seeds[rank], t.batch_size, sim.warmup_iterations + sim.iterations,
                           rng_for(sim.seed, "seeds", rank))
    sampler = sampler_class()(graph.indptr, graph.indices, sampler_fanouts(scenario), t.replace,
                              rng_for(sim.seed, "sampler", rank))
    # the simulator's batches in its order; NodeLoader cuts them at batch_size
    loader = NodeLoader(data, node_sampler=sampler, input_nodes=torch.from_numpy(np.concatenate(batches)),
                        batch_size=t.batch_size, shuffle=False, num_workers=0)
    torch.manual_seed(sim.seed)
    model = torch.nn.parallel.DistributedDataParallel(build_pyg_model(scenario, graph.feature_dim, graph.num_classes))
    spans: list = []
    model.register_comm_hook(None, timed_allreduce_hook(spans))
    opt_cls = torch.optim.Adam if t.optimizer == "adam" else torch.optim.SGD
    optimizer = opt_cls(model.parameters(), lr=t.learning_rate)
    names = ("sample", "fetch", "forward", "backward", "allreduce", "optimizer")
    records = []
    batch_iter = iter(loader)
    for it in range(len(batches)):
        clock, stamp = time.perf_counter, {}
        start = clock()
        batch = next(batch_iter)
        stamp["sample"] = clock()
        x = x_all.index_select(0, batch.n_id)
        stamp["fetch"] = clock()
        bs = int(batch.batch_size)
        if t.pyg_trim_to_layer:
            out = model(x, batch.edge_index, num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                        num_sampled_edges_per_hop=batch.num_sampled_edges)[:bs]
        else:
            out = model(x, batch.edge_index)[:bs]
        stamp["forward"] = clock()
        spans.clear()
        loss = torch.nn.functional.cross_entropy(out, batch.y[:bs])
        loss.backward()  # DDP's buckets are all-reduced in here
        stamp["backward"] = stamp["allreduce"] = clock()
        optimizer.step()
        optimizer.zero_grad()
        stamp["optimizer"] = clock()
        if it < sim.warmup_iterations:
            continue
        stages = stage_deltas(start, stamp, names)
        waited = allreduce_inside(spans, stamp["backward"]) if world > 1 else 0.0
        stages["backward"] -= waited
        stages["allreduce"] = waited
        if world == 1:
            del stages["allreduce"]
        records.append({"iteration": it - sim.warmup_iterations, "stages": stages,
                        "iteration_time_s": stamp["optimizer"] - start, "loss": float(loss.detach()),
                        "input_nodes": int(batch.n_id.numel()), "sampled_edges": int(batch.edge_index.shape[1])})
    dist.barrier()  # (after timing: the run ends together)
    return {"rank": rank, "iterations": records, "trainer": "pyg", "torch_geometric": torch_geometric.__version__,
            "iterations_per_epoch": iterations_per_epoch(seeds, t.batch_size), "threads": int(spec["threads"]),
            "torch": torch.__version__}


def main() -> int:
    from gnnsim.realrun.worker import main as worker_main

    return worker_main(_run)


if __name__ == "__main__":
    sys.exit(main())
