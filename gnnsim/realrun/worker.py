"""One rank of a real distributed training run (started by :mod:`gnnsim.realrun.launch`).

Each rank builds the same graph and partition as the simulator, keeps only its own
partition's feature rows, samples its batches with the simulator's sampler, pulls remote
input rows from their owners, trains a real GraphSAGE and all-reduces the gradients
(gloo over loopback). Each iteration starts at a barrier; every stage is timed with
``perf_counter``. Warm-up iterations are run but not reported.

Usage (internal): ``python -m gnnsim.realrun.worker SPEC.json RANK``
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def _run(spec: dict, rank: int) -> dict:
    import torch
    import torch.distributed as dist

    from gnnsim.config import scenario_from_dict
    from gnnsim.graph.build import build_graph
    from gnnsim.pipeline import cluster_for, partition_for
    from gnnsim.realrun.features import fetch_features, owner_positions, partition_features
    from gnnsim.realrun.model import GraphSAGE, block_tensors
    from gnnsim.rng import rng_for
    from gnnsim.workload.builder import iterations_per_epoch, rank_seeds
    from gnnsim.workload.sampler import sample_minibatch, seed_batches

    world = int(spec["world"])
    scenario = scenario_from_dict(spec["scenario"], "<realrun>", spec["base_dir"])
    cluster = cluster_for(scenario)
    torch.set_num_threads(int(spec["threads"]))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{spec['port']}", rank=rank, world_size=world,
                            timeout=__import__("datetime").timedelta(seconds=float(spec["timeout_s"])))
    graph = build_graph(scenario)
    partition = partition_for(scenario, graph, cluster.num_trainers)
    assignment = partition.assignment
    positions = owner_positions(assignment, world)
    own_nodes = np.flatnonzero(assignment == rank)
    local = partition_features(graph.labels[own_nodes], graph.feature_dim, graph.num_classes,
                               scenario.simulation.seed, rank)
    seeds = rank_seeds(graph, partition, world)
    sim = scenario.simulation
    warmup, measured = sim.warmup_iterations, sim.iterations
    batches = seed_batches(seeds[rank], scenario.training.batch_size, warmup + measured,
                           rng_for(sim.seed, "seeds", rank))
    sampler_rng = rng_for(sim.seed, "sampler", rank)
    torch.manual_seed(sim.seed)  # identical initial weights on every rank
    model = GraphSAGE(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(scenario.training.fanouts))
    params = list(model.parameters())
    opt_cls = torch.optim.Adam if scenario.training.optimizer == "adam" else torch.optim.SGD
    optimizer = opt_cls(params, lr=scenario.training.learning_rate)
    labels = torch.from_numpy(graph.labels)
    records = []
    for it, batch in enumerate(batches):
        dist.barrier()
        t = {}
        start = time.perf_counter()
        mb = sample_minibatch(graph.indptr, graph.indices, batch, scenario.training.fanouts, sampler_rng)
        t["sample"] = time.perf_counter()
        x, n_local, n_remote = fetch_features(mb.input_nodes, assignment, positions, local, rank, world)
        t["fetch"] = time.perf_counter()
        blocks = block_tensors(mb.blocks)
        logits = model(blocks, x)
        t["forward"] = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(logits, labels[torch.from_numpy(mb.seeds)])
        loss.backward()
        t["backward"] = time.perf_counter()
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p))
            offset += n
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
