"""Human-readable text tables of simulation results."""

from __future__ import annotations

from gnnsim.pipeline import SimResult


def _fmt_s(t: float) -> str:
    if t >= 1.0:
        return f"{t:8.3f} s "
    if t >= 1e-3:
        return f"{t * 1e3:8.3f} ms"
    return f"{t * 1e6:8.1f} us"


def result_table(result: SimResult) -> str:
    a = result.analysis
    c = result.cluster
    lines = [
        f"scenario  {result.scenario.name}: {result.scenario.model.name}, batch {result.scenario.training.batch_size}, "
        f"fan-outs {result.scenario.training.fanouts} (hop-from-seed first), partition {result.scenario.partition.method}",
        f"cluster   {c.name}: {c.num_nodes} node(s) x {c.node.trainers} {c.node.trainer_device.name} trainers",
        f"partition edge cut {result.partition_metrics.edge_cut_fraction:.1%}, train balance {result.partition_metrics.train_balance:.3f}",
        "",
        f"{'stage':<10} {'time/iter':>11} {'share':>7}",
    ]
    for stage, row in a.breakdown.items():
        bar = "#" * int(round(row["share"] * 30))
        lines.append(f"{stage:<10} {_fmt_s(row['time_s']):>11} {row['share']:>7.1%}  {bar}")
    lines += [
        "",
        f"iteration {_fmt_s(a.iteration_time_s).strip()} mean (std {_fmt_s(a.iteration_time_std_s).strip()}, "
        f"{a.simulated_iterations} simulated)",
        f"epoch     {_fmt_s(a.epoch_time_s).strip()} = {a.iterations_per_epoch} iterations"
        + (f" (extrapolated from {a.simulated_iterations} simulated iterations)" if a.extrapolated else ""),
    ]
    if c.price_per_hour > 0:
        lines.append(f"cost      ${c.price_per_hour * a.epoch_time_s / 3600:.4f} per epoch at ${c.price_per_hour:.2f}/h")
    b = a.bottleneck
    lines.append(f"bottleneck {b['stage']} on {b['resource']} ({b['share']:.0%} of trainer time)")
    return "\n".join(lines)
