"""Human-readable text tables of simulation results."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the tables read a result; the pipeline that makes one sits above report
    from gnnsim.pipeline import SimResult


def _fmt_s(t: float) -> str:
    if t >= 1.0:
        return f"{t:8.3f} s "
    if t >= 1e-3:
        return f"{t * 1e3:8.3f} ms"
    return f"{t * 1e6:8.1f} us"


def bottleneck_sentence(result: SimResult) -> str:
    """'fetch on network (node1/nic.down), 61% of the critical path; 2x network -> epoch -34%'."""
    b = result.analysis.bottleneck
    if not b.get("stage"):
        return "bottleneck: none (nothing was simulated)"
    text = f"{b['stage']} on {b['resource']}"
    if b.get("instance"):
        text += f" ({b['instance']})"
    text += f", {b['share']:.0%} of the critical path"
    sens = result.sensitivity or {}
    if sens:
        best = min(sens.items(), key=lambda kv: kv[1]["change"])
        if best[1]["change"] < -0.005:
            text += f"; {best[1]['factor']:g}x {best[0]} -> epoch {best[1]['change']:+.0%}"
    return text


def result_table(result: SimResult) -> str:
    a = result.analysis
    c = result.cluster
    lines = [
        f"scenario  {result.scenario.name}: {result.scenario.model.name}, batch {result.scenario.training.batch_size}, "
        f"fan-outs {result.scenario.training.fanouts} (hop-from-seed first), partition {result.scenario.partition.method}",
        f"cluster   {c.name}: {c.num_nodes} node(s) x {c.node.trainers} {c.node.trainer_device.name} trainers",
        f"partition edge cut {result.partition_metrics.edge_cut_fraction:.1%}, train balance {result.partition_metrics.train_balance:.3f}",
        "",
        f"{'stage':<10} {'time/iter':>11} {'share':>7} {'exposed':>11}",
    ]
    for stage, row in a.breakdown.items():
        bar = "#" * int(round(row["share"] * 30))
        exposed = row.get("exposed_s", row["time_s"])
        lines.append(f"{stage:<10} {_fmt_s(row['time_s']):>11} {row['share']:>7.1%} {_fmt_s(exposed):>11}  {bar}")
    lo, hi = a.epoch_time_ci95_s
    lines += [
        "",
        f"iteration {_fmt_s(a.iteration_time_s).strip()} mean (std {_fmt_s(a.iteration_time_std_s).strip()}, "
        f"{a.simulated_iterations} simulated)",
        f"epoch     {_fmt_s(a.epoch_time_s).strip()} = {a.iterations_per_epoch} iterations"
        + (f" (extrapolated from {a.simulated_iterations} simulated iterations, 95% interval "
           f"{_fmt_s(lo).strip()} .. {_fmt_s(hi).strip()})" if a.extrapolated else ""),
    ]
    fixed = a.epoch_fixed
    if fixed:  # a placed loader's per-epoch fixed costs, on their own line
        lines.append(f"fixed     {_fmt_s(fixed['total_s']).strip()} per epoch: loader start-up "
                     f"{_fmt_s(fixed['loader_startup_s']).strip()} (added), first batch "
                     f"{_fmt_s(fixed['first_batch_s']).strip()} (in iteration 1)")
    if c.price_per_hour > 0:
        lines.append(f"cost      ${c.price_per_hour * a.epoch_time_s / 3600:.4f} per epoch at ${c.price_per_hour:.2f}/h")
    lines.append(f"bottleneck {bottleneck_sentence(result)}")
    lines += memory_lines(result) + host_memory_lines(result) + batch_lines(result)
    rows = a.critical_path.get("by_stage_resource", []) if a.critical_path else []
    if rows:
        parts = [f"{r['stage']}/{r['resource']} {r['share']:.0%}" for r in rows[:4]]
        lines.append(f"critical path: {', '.join(parts)}")
    if a.utilization:
        busiest = sorted(a.utilization.items(), key=lambda kv: -float(kv[1]["max"]))[:4]
        lines.append("utilization (max): " + ", ".join(f"{cls} {float(row['max']):.0%}" for cls, row in busiest))
    if result.sensitivity:
        lines.append("if 2x faster: " + ", ".join(
            f"{cls} {row['change']:+.1%}" for cls, row in sorted(result.sensitivity.items(), key=lambda kv: kv[1]["change"])))
    return "\n".join(lines)


def memory_lines(result: SimResult) -> list[str]:
    """Device memory: the peak footprint, and a clear warning when it does not fit."""
    mem = getattr(result.workload, "memory", None)
    if not mem or not mem.get("peak_bytes"):
        return []
    peak, cap = max(mem["peak_bytes"]), mem["capacity_bytes"]
    gib = 2.0 ** 30
    line = f"memory    peak {peak / gib:.2f} GiB of {cap / gib:.2f} GiB per {mem.get('device_kind', 'device')} (trainer {mem['worst_rank']})"
    if mem["fits"]:
        return [line]
    worst = max(mem["by_category"].items(), key=lambda kv: kv[1])
    return [line, f"WARNING   out of memory: trainer {mem['worst_rank']} needs {peak / gib:.2f} GiB but the device has "
                  f"{cap / gib:.2f} GiB (largest: {worst[0]} {worst[1] / gib:.2f} GiB); this job would fail: lower "
                  "batch_size, fan-outs or the cache budget, or use more trainers"]


def host_memory_lines(result: SimResult) -> list[str]:
    """Host memory per machine (features and structure), and a warning when the node's RAM is smaller."""
    mem = getattr(result.workload, "host_memory", None)
    if not mem or not mem.get("peak_bytes") or max(mem["peak_bytes"]) <= 0:
        return []
    peak, cap = max(mem["peak_bytes"]), mem["capacity_bytes"]
    gib = 2.0 ** 30
    of = f"of {cap / gib:,.0f} GiB RAM" if cap else "(the node profile gives no host_memory_gib)"
    parts = ", ".join(f"{k.removeprefix('host_')} {v / gib:,.2f}" for k, v in mem["by_category"].items() if v)
    line = f"host mem  {peak / gib:,.2f} GiB {of} per machine (machine {mem['worst_node']}: {parts} GiB)"
    if mem["fits"] is not False:
        return [line]
    fix = (HOST_FIXES["host_graph"] if mem["by_category"].get("host_graph", 0) > mem["by_category"].get("host_features", 0)
           else HOST_FIXES["host_features"])
    return [line, f"WARNING   host memory: machine {mem['worst_node']} must hold {peak / gib:,.1f} GiB but has "
                  f"{cap / gib:,.0f} GiB; this job would not load: {fix}"]


HOST_FIXES = {  # what shrinks the larger of a machine's two host footprints
    "host_features": "use more machines (each holds its trainers' rows) or a smaller graph.feature_dtype",
    "host_graph": "set training.graph_store: partitioned (each machine keeps its rows' edges) or use more machines",
}


def batch_lines(result: SimResult) -> list[str]:
    """A note when the batch size exceeds a trainer's training nodes: its batches are smaller than asked."""
    per_rank = getattr(result.workload, "train_per_rank", None) or []
    batch = result.scenario.training.batch_size
    if not per_rank or min(per_rank) >= batch:
        return []
    fewest = min(range(len(per_rank)), key=per_rank.__getitem__)
    return [f"NOTE      training.batch_size {batch:,} is more than trainer {fewest}'s {per_rank[fewest]:,} training "
            "nodes: its epoch is one batch of all of them"]
