"""One rank of a real distributed training run (started by :mod:`gnnsim.realrun.launch`).

Each rank builds the same graph and partition as the simulator, keeps only its own
partition's feature rows, samples its batches with the simulator's sampler, pulls remote
input rows from their owners, trains a real GraphSAGE and all-reduces the gradients
(gloo over loopback). Each iteration starts at a barrier; every stage is timed with
``perf_counter``. Warm-up iterations are run but not reported.

The model comes from ``model.name`` (GraphSAGE from :mod:`gnnsim.realrun.model`, GCN,
GAT and GIN from :mod:`gnnsim.realrun.models`); ``training.sampler`` neighbor (with or
without replacement) and full run in the mini-batch loop. ``training.mode: full-batch``
runs :func:`_run_fullbatch`: each rank computes its whole partition, exchanging halo
embeddings before every layer but the first and their gradients in backward (stage
``halo``). What the real trainer cannot run is refused up front (:func:`unsupported`).

Usage (internal): ``python -m gnnsim.realrun.worker SPEC.json RANK``
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np


def unsupported(scenario) -> str | None:
    """Why the real trainer cannot run ``scenario`` (None when it can)."""
    t = scenario.training
    if t.mode == "single-node-multigpu":
        return "training.mode single-node-multigpu needs GPUs; gnnsim realrun trains on CPU ranks (simulate it instead)"
    if t.sampler == "cluster-gcn":
        return "training.sampler cluster-gcn is simulated only; realrun supports neighbor and full"
    if t.cache.policy != "none":
        return "training.cache is simulated only: CPU ranks have no device memory to cache rows in (use policy none)"
    if t.graph_store != "replicated":
        return "training.graph_store partitioned is simulated only: every realrun rank holds the whole graph"
    return None


def _run(spec: dict, rank: int) -> dict:
    import torch
    import torch.distributed as dist

    from gnnsim.config import scenario_from_dict
    from gnnsim.errors import RealRunError
    from gnnsim.graph.build import build_graph
    from gnnsim.pipeline import cluster_for, partition_for
    from gnnsim.realrun.affinity import pin_to_own_cores
    from gnnsim.realrun.features import fetch_features, owner_positions, partition_features
    from gnnsim.realrun.model import block_tensors
    from gnnsim.rng import rng_for
    from gnnsim.workload.builder import iterations_per_epoch, rank_seeds, sampler_fanouts
    from gnnsim.workload.sampler import sample_minibatch, seed_batches

    world = int(spec["world"])
    scenario = scenario_from_dict(spec["scenario"], "<realrun>", spec["base_dir"])
    reason = unsupported(scenario)
    if reason:
        raise RealRunError(reason)
    cluster = cluster_for(scenario)
    pin_to_own_cores(rank, int(spec["threads"]))
    torch.set_num_threads(int(spec["threads"]))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{spec['port']}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=float(spec["timeout_s"])))
    graph = build_graph(scenario)
    partition = partition_for(scenario, graph, cluster.num_trainers)
    assignment = partition.assignment
    positions = owner_positions(assignment, world)
    own_nodes = np.flatnonzero(assignment == rank)
    local = partition_features(graph.labels[own_nodes], graph.feature_dim, graph.num_classes,
                               scenario.simulation.seed, rank)
    if scenario.training.mode == "full-batch":
        return _run_fullbatch(spec, rank, scenario, graph, assignment, positions, local)
    seeds = rank_seeds(graph, partition, world)
    sim = scenario.simulation
    warmup, measured = sim.warmup_iterations, sim.iterations
    batches = seed_batches(seeds[rank], scenario.training.batch_size, warmup + measured,
                           rng_for(sim.seed, "seeds", rank))
    sampler_rng = rng_for(sim.seed, "sampler", rank)
    model, params, optimizer = _model_and_optimizer(scenario, graph)
    fanouts, replace = sampler_fanouts(scenario), scenario.training.replace
    labels = torch.from_numpy(graph.labels)
    records = []
    for it, batch in enumerate(batches):
        dist.barrier()
        t = {}
        start = time.perf_counter()
        mb = sample_minibatch(graph.indptr, graph.indices, batch, fanouts, sampler_rng, replace)
        t["sample"] = time.perf_counter()
        x, n_local, n_remote = fetch_features(mb.input_nodes, assignment, positions, local, rank, world)
        t["fetch"] = time.perf_counter()
        blocks = block_tensors(mb.blocks)
        logits = model(blocks, x)
        t["forward"] = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(logits, labels[torch.from_numpy(mb.seeds)])
        loss.backward()
        t["backward"] = time.perf_counter()
        allreduce_gradients(params, world)
        t["allreduce"] = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        t["optimizer"] = time.perf_counter()
        if it < warmup:
            continue
        stages, prev = {}, start
        for stage in ("sample", "fetch", "forward", "backward", "allreduce", "optimizer"):
            stages[stage] = t[stage] - prev
            prev = t[stage]
        records.append({"iteration": it - warmup, "stages": stages, "iteration_time_s": prev - start,
                        "loss": float(loss.detach()), "input_nodes": int(mb.input_nodes.size),
                        "sampled_edges": mb.num_sampled_edges, "rows_local": n_local, "rows_remote": n_remote})
    dist.barrier()
    return {"rank": rank, "iterations": records, "iterations_per_epoch": iterations_per_epoch(seeds, scenario.training.batch_size),
            "threads": int(spec["threads"]), "torch": torch.__version__}


def _run_fullbatch(spec: dict, rank: int, scenario, graph, assignment: np.ndarray, positions: np.ndarray,
                   local) -> dict:
    """Full-batch training of this rank's partition: per layer, halo exchange then compute.

    The halo nodes' input features are pulled once before training (not timed), as the
    simulator assumes. Before every later layer the owners send the halo rows' current
    embeddings (one all-to-all); backward sends their gradients back (the reverse
    all-to-all, inside autograd). Both are timed as ``halo`` and taken out of
    ``forward`` / ``backward``.
    """
    import torch
    import torch.distributed as dist

    from gnnsim.realrun.features import fetch_features
    from gnnsim.realrun.model import block_tensors
    from gnnsim.workload.builder import fullbatch_halo_nodes
    from gnnsim.workload.sampler import Block, all_neighbors

    world = int(spec["world"])
    own = np.flatnonzero(assignment == rank)
    halo = fullbatch_halo_nodes(graph, assignment, rank)
    x_halo, _, _ = fetch_features(halo, assignment, positions, local, rank, world)  # load-time replication
    x = torch.cat([local, x_halo])
    owner, nbr = all_neighbors(graph.indptr, graph.indices, own)
    lid = np.full(graph.num_nodes, -1, dtype=np.int64)
    lid[own] = np.arange(own.size)
    lid[halo] = own.size + np.arange(halo.size)
    block = Block(np.concatenate([own, halo]), int(own.size), lid[nbr], owner)
    num_layers = len(scenario.training.fanouts)
    blocks = block_tensors([block]) * num_layers

    # Who sends what before each layer: my halo rows grouped by owner, requested by position.
    halo_owner = assignment[halo]
    recv_order = np.argsort(halo_owner, kind="stable")
    recv_counts = np.bincount(halo_owner, minlength=world).astype(np.int64)
    counts_in = torch.empty(world, dtype=torch.int64)
    dist.all_to_all_single(counts_in, torch.from_numpy(recv_counts))
    send_counts = counts_in.tolist()
    send_idx = torch.empty(int(sum(send_counts)), dtype=torch.int64)
    dist.all_to_all_single(send_idx, torch.from_numpy(positions[halo[recv_order]]), send_counts, recv_counts.tolist())
    recv_at = torch.from_numpy(recv_order)
    timer = {"halo": 0.0}

    class HaloExchange(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h_inner):
            t0 = time.perf_counter()
            rows = torch.empty(int(recv_counts.sum()), h_inner.shape[1], dtype=h_inner.dtype)
            dist.all_to_all_single(rows, h_inner.index_select(0, send_idx).contiguous(), recv_counts.tolist(), send_counts)
            out = torch.empty_like(rows).index_copy_(0, recv_at, rows)
            ctx.num_inner = h_inner.shape[0]
            timer["halo"] += time.perf_counter() - t0
            return out

        @staticmethod
        def backward(ctx, grad):
            t0 = time.perf_counter()
            back = torch.empty(int(sum(send_counts)), grad.shape[1], dtype=grad.dtype)
            dist.all_to_all_single(back, grad.index_select(0, recv_at).contiguous(), send_counts, recv_counts.tolist())
            out = torch.zeros(ctx.num_inner, grad.shape[1], dtype=grad.dtype).index_add_(0, send_idx, back)
            timer["halo"] += time.perf_counter() - t0
            return out

    sim = scenario.simulation
    model, params, optimizer = _model_and_optimizer(scenario, graph)
    train = np.zeros(graph.num_nodes, dtype=bool)
    train[graph.train_ids] = True
    train_rows = torch.from_numpy(np.flatnonzero(train[own]))
    labels = torch.from_numpy(graph.labels[own])[train_rows]
    records = []
    for it in range(sim.warmup_iterations + sim.iterations):
        dist.barrier()
        timer["halo"] = 0.0
        start = time.perf_counter()
        h = x
        for index, (layer, (edge_src, edge_dst, num_dst, inv_deg)) in enumerate(zip(model.layers, blocks)):
            if index > 0:
                h = torch.cat([h, HaloExchange.apply(h)])
            h = layer(h, edge_src, edge_dst, num_dst, inv_deg)
            if index != num_layers - 1:
                h = model.activation(h)
        t_forward, halo_forward = time.perf_counter(), timer["halo"]
        loss = torch.nn.functional.cross_entropy(h[train_rows], labels)
        loss.backward()
        t_backward, halo_total = time.perf_counter(), timer["halo"]
        allreduce_gradients(params, world)
        t_allreduce = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        t_optimizer = time.perf_counter()
        if it < sim.warmup_iterations:
            continue
        stages = {"halo": halo_total, "forward": t_forward - start - halo_forward,
                  "backward": t_backward - t_forward - (halo_total - halo_forward),
                  "allreduce": t_allreduce - t_backward, "optimizer": t_optimizer - t_allreduce}
        records.append({"iteration": it - sim.warmup_iterations, "stages": stages,
                        "iteration_time_s": t_optimizer - start, "loss": float(loss.detach()),
                        "input_nodes": int(own.size + halo.size), "sampled_edges": int(block.num_edges),
                        "rows_local": int(own.size), "rows_remote": int(halo.size)})
    dist.barrier()
    return {"rank": rank, "iterations": records, "iterations_per_epoch": 1,
            "threads": int(spec["threads"]), "torch": torch.__version__}


def _model_and_optimizer(scenario, graph):
    """The scenario's model, seeded so every rank starts from the same weights, its
    parameters and its optimizer."""
    import torch

    from gnnsim.realrun.models import build_model  # graphsage: realrun.model.GraphSAGE

    torch.manual_seed(scenario.simulation.seed)
    model = build_model(scenario.model.name, graph.feature_dim, scenario.model.hidden_dim, graph.num_classes,
                        len(scenario.training.fanouts), scenario.model.heads)
    params = list(model.parameters())
    opt_cls = torch.optim.Adam if scenario.training.optimizer == "adam" else torch.optim.SGD
    return model, params, opt_cls(params, lr=scenario.training.learning_rate)


def allreduce_gradients(params, world: int) -> None:
    """Average the gradients over all ranks with one all-reduce of a flat buffer."""
    import torch
    import torch.distributed as dist

    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def main() -> int:
    spec_path, rank = Path(sys.argv[1]), int(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    out = Path(spec["out_dir"]) / f"rank{rank}.json"
    try:
        result = _run(spec, rank)
    except Exception as exc:  # reported to the launcher, which names the rank
        import traceback
        (Path(spec["out_dir"]) / f"rank{rank}.error").write_text(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        return 1
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out)
    # Leave without tearing gloo down: its destructor sometimes aborts ("terminate called
    # without an active exception") after every rank has finished, which would turn a
    # complete run into a failed one. The result is written; the OS reclaims the rest.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
