"""Where the GraphSAGE forward's prediction goes wrong: each kernel as the model prices
it against the same op timed inside a real training loop.

    python benchmarks/forward_ops.py                                   # sbm-metis, the shipped profile
    python benchmarks/forward_ops.py examples/validate-small.yaml --profile calibrated/localhost

One process, pinned to core 0, one torch thread: the scenario's graph, rank 0's
mini-batches (fan-outs hop-from-seed first, as in PyG), and a full training step per
iteration (forward, loss, backward, Adam), so every op runs with the heap and the caches
in the state training leaves them. Each op of the forward is timed with
``perf_counter`` around it (the ops are those of ``gnnsim.realrun.layers.SAGELayer``;
``lin_root`` includes its bias, which the model prices as ``bias_add``, and the real
``add`` of the two linears is priced as ``bias_add`` too). The model's side is the
cost model's price of rank 0's forward kernels, split into launch, roofline,
first touch and per-item terms, for the scenario's own batches.

Measured on the dev VM (session 5, sbm-metis, cold-calibrated profile): the whole forward
1.13-1.20 ms real against 1.5 ms predicted; layer 0's aggregation 385 us against 663,
its elementwise ops 40 us against 93 each (80 of them first touch, which training
does not pay below glibc's mmap threshold), while layer 1's tiny linears cost 34-40 us
against 6 (per-op host overhead that no kernel class holds). The numbers are for
understanding the model, not for fitting it.

Each op's minor page faults (``getrusage``) are counted too, against the pages of new
output the model charges first touch for. Session 8, on an AMD EPYC VM (2 vCPUs, a
page fault there costs about 2.1 us): sbm-metis's forward faults 37-87 of about 1160
new pages a step, all in layer 0's aggregation (the rows it gathers), none in the
elementwise ops; validate-small 7% of its pages. The cold calibration charges all of
them, which on that host priced the forward at 3.45 ms against 1.87 real.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PAGE_BYTES = 4096
OPS = ("degree", "aggregate", "mean", "lin_neigh", "lin_root", "bias_add", "relu")


def model_forward(scenario, graph, partition, cluster) -> tuple[dict[str, list[float]], int]:
    """Per kernel name: the model's (launch, roofline, first touch, per item) seconds and
    new output pages, summed over rank 0's batches, and the number of batches."""
    from gnnsim.cost.model import CostModel, flops_rate
    from gnnsim.workload.builder import build_workload

    workload = build_workload(scenario, graph, partition, cluster)
    device = CostModel(cluster).device
    terms: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    batches = 0
    for tasks in workload.tasks:
        for task in tasks[0]:
            if task.stage != "forward":
                continue
            batches += 1
            for k in task.kernels:
                rate = device.kernel(k.cls)
                t = terms[k.name]
                t[0] += rate.launch_s
                t[1] += max(k.flops / flops_rate(rate, k), rate.memory_time_s(k.bytes))
                t[2] += rate.first_touch_s(k)
                t[3] += rate.per_item_s * k.items
                t[4] += k.out_bytes / PAGE_BYTES
    return terms, batches


def minor_faults() -> int:
    """Minor page faults of this process so far (a page touched for the first time)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def real_forward(scenario, graph, iterations: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per op name (``L0.aggregate``, ...): mean seconds inside a training loop, and the
    page faults it takes per iteration (a fault is a 4 KiB page touched afresh)."""
    import torch

    from gnnsim.realrun.blocks import block_indices
    from gnnsim.realrun.worker import _model_and_optimizer
    from gnnsim.workload.builder import sampler_fanouts
    from gnnsim.workload.sampler import sample_minibatch

    model, _, optimizer = _model_and_optimizer(scenario, graph, torch.device("cpu"))
    features = torch.randn(graph.num_nodes, scenario.graph.feature_dim)
    labels = torch.from_numpy(graph.labels)
    rng = np.random.default_rng(0)
    fanouts = sampler_fanouts(scenario)
    sums: dict[str, float] = collections.defaultdict(float)
    fault_sums: dict[str, float] = collections.defaultdict(float)
    warmup = 5
    for it in range(iterations + warmup):
        seeds = rng.choice(graph.train_ids, min(scenario.training.batch_size, graph.train_ids.size), replace=False)
        mb = sample_minibatch(graph.indptr, graph.indices, seeds, fanouts, rng, scenario.training.replace)
        h = features.index_select(0, torch.from_numpy(mb.input_nodes))
        took: dict[str, float] = collections.defaultdict(float)
        faulted: dict[str, float] = collections.defaultdict(float)

        def timed(name, fn):
            faults, start = minor_faults(), time.perf_counter()
            out = fn()
            took[name] += time.perf_counter() - start
            faulted[name] += minor_faults() - faults
            return out

        for i, (layer, (src, dst, num_dst)) in enumerate(zip(model.layers, block_indices(mb.blocks))):
            inv_deg = timed(f"L{i}.degree", lambda: (1.0 / torch.bincount(dst, minlength=num_dst).clamp_(min=1)
                                                     .to(torch.float32)).unsqueeze(1))
            agg = timed(f"L{i}.aggregate",
                        lambda: torch.zeros(num_dst, h.shape[1]).index_add_(0, dst, h.index_select(0, src)))
            agg = timed(f"L{i}.mean", lambda: agg * inv_deg)
            neigh = timed(f"L{i}.lin_neigh", lambda: layer.lin_neigh(agg))
            root = timed(f"L{i}.lin_root", lambda: layer.lin_root(h[:num_dst]))
            h = timed(f"L{i}.bias_add", lambda: neigh + root)
            if i != len(model.layers) - 1:
                h = timed(f"L{i}.relu", lambda: torch.relu(h))
        loss = torch.nn.functional.cross_entropy(h, labels[torch.from_numpy(mb.seeds)])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        if it >= warmup:
            for name, seconds in took.items():
                sums[name] += seconds
                fault_sums[name] += faulted[name]
    return ({name: s / iterations for name, s in sums.items()},
            {name: f / iterations for name, f in fault_sums.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "validation/scenarios/01-sbm-metis.yaml"))
    parser.add_argument("--profile", default="calibrated/localhost", help="device profile of the model's side")
    parser.add_argument("--iterations", type=int, default=100, help="timed training iterations (after 5 warm-up)")
    args = parser.parse_args()

    import torch

    from gnnsim.config import load_scenario
    from gnnsim.pipeline import build_graph, cluster_for, partition_for

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)
    scenario = load_scenario(args.scenario, [f"cluster.device_profile={args.profile}"])
    if scenario.model.name != "graphsage" or len(scenario.training.fanouts) < 1:
        raise SystemExit(f"{args.scenario}: this benchmark times GraphSAGE mini-batch forwards only "
                         f"(model.name is {scenario.model.name!r})")
    graph = build_graph(scenario)
    cluster = cluster_for(scenario)
    terms, batches = model_forward(scenario, graph, partition_for(scenario, graph, cluster.num_trainers), cluster)
    real, faults = real_forward(scenario, graph, args.iterations)
    print(f"{Path(args.scenario).name}: GraphSAGE forward, model ({args.profile}, {batches} batches of rank 0) "
          f"against a training loop ({args.iterations} iterations), us per batch; page faults in training "
          "against the pages of new output the model charges first touch for")
    print(f"{'kernel':16s} {'real':>8s} {'model':>8s} {'launch':>8s} {'roofline':>9s} {'1st touch':>9s} "
          f"{'per item':>9s} {'faults':>8s} {'new pages':>9s}")
    total_real = total_model = total_faults = total_pages = 0.0
    for name in sorted(set(terms) | set(real), key=lambda n: (n.split(".")[0], OPS.index(n.split(".")[1])
                                                              if n.split(".")[1] in OPS else 99)):
        parts = [x / max(batches, 1) for x in terms.get(name, [0.0] * 5)]
        model_s, real_s = sum(parts[:4]), real.get(name, 0.0)
        total_real, total_model = total_real + real_s, total_model + model_s
        total_faults, total_pages = total_faults + faults.get(name, 0.0), total_pages + parts[4]
        print(f"{name:16s} {real_s * 1e6:8.1f} {model_s * 1e6:8.1f} " + " ".join(f"{p * 1e6:8.1f}" for p in parts[:4])
              + f" {faults.get(name, 0.0):8.1f} {parts[4]:9.1f}")
    print(f"{'forward':16s} {total_real * 1e6:8.1f} {total_model * 1e6:8.1f}   (model kernels only; the framework "
          f"cost per kernel comes on top); {total_faults:.0f} of {total_pages:.0f} new pages faulted in training")


if __name__ == "__main__":
    main()
