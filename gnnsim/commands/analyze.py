"""Analysis commands: compare (a grid of configurations) and whatif (faster hardware)."""

from __future__ import annotations

import argparse
import json

from gnnsim.commands import save, scenario_command

EPILOG_COMPARE = """examples:
  gnnsim compare examples/quickstart.yaml --vary partition.method=random,metis
  gnnsim compare S.yaml --vary partition.method=random,metis --vary cluster.num_nodes=2,4,8 --json grid.json
  gnnsim compare S.yaml --vary training.fanouts=[10,5],[15,10] --plot grid.png

Values are split on commas outside brackets; each is read as YAML, like --set.
Fan-outs are hop-from-seed first (PyG order); DGL lists them reversed."""

EPILOG_WHATIF = """examples:
  gnnsim whatif examples/quickstart.yaml --scale network.bw=2
  gnnsim whatif S.yaml --scale network.bw=2 --scale gpu.peak=1.5 --json whatif.json

knobs (factor 2 = twice as fast): gpu.peak gpu.mem_bw gpu.compute gpu.launch pcie.bw nvlink.bw
network.bw network.latency cpu.sampling cpu.gather cpu.cores. The what-if replays the same sampled
batches, so the difference is the hardware's alone."""


def _fmt_s(t: float) -> str:
    return f"{t:.3f} s" if t >= 1 else f"{t * 1e3:.3f} ms"


def cmd_compare(args: argparse.Namespace) -> int:
    from gnnsim.variants import compare_grid

    rows = compare_grid(args.scenario, args.vary, args.overrides)
    keys = list(rows[0].settings) if rows else []
    widths = [max(len(k), *(len(r.settings[k]) for r in rows)) for k in keys]
    head = "  ".join(k.ljust(w) for k, w in zip(keys, widths))
    print(f"{head}  {'epoch':>12}  {'iteration':>11}  {'$/epoch':>8}  bottleneck")
    for r in rows:
        a = r.result.analysis
        b = a.bottleneck
        price = r.result.cluster.price_per_hour * a.epoch_time_s / 3600.0
        cells = "  ".join(r.settings[k].ljust(w) for k, w in zip(keys, widths))
        mark = "*" if a.extrapolated else " "
        print(f"{cells}  {_fmt_s(a.epoch_time_s):>11}{mark}  {_fmt_s(a.iteration_time_s):>11}  {price:8.4f}  "
              f"{b['stage']} on {b['resource']} ({b['share']:.0%} of critical path)")
    if any(r.result.analysis.extrapolated for r in rows):
        print("* extrapolated from the simulated iterations (see --json for the 95% interval)")
    if args.plot:
        from gnnsim.report.plots import plot_breakdown

        labels = [", ".join(f"{k.split('.')[-1]}={v}" for k, v in r.settings.items()) for r in rows]
        plot_breakdown(labels, [r.result.analysis.breakdown for r in rows],
                       [r.result.analysis.iteration_time_s for r in rows], args.plot, title=f"compare: {args.scenario}")
        print(f"wrote {args.plot}")
    if args.json:
        save(args.json, json.dumps({"scenario": args.scenario, "rows": [r.to_dict() for r in rows]}, indent=2,
                                   sort_keys=True))
    if args.csv:
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(keys + ["epoch_time_s", "iteration_time_s", "extrapolated", "cost_per_epoch_usd",
                           "bottleneck_stage", "bottleneck_resource", "bottleneck_share"])
        for r in rows:
            d = r.to_dict()
            w.writerow([r.settings[k] for k in keys] + [f"{d['epoch_time_s']:.9g}", f"{d['iteration_time_s']:.9g}",
                       d["extrapolated"], f"{d['cost_per_epoch_usd']:.6g}", d["bottleneck"]["stage"],
                       d["bottleneck"]["resource"], f"{d['bottleneck']['share']:.4f}"])
        save(args.csv, buf.getvalue())
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    from gnnsim.analysis.whatif import parse_scale
    from gnnsim.variants import whatif
    from gnnsim.config import load_scenario
    from gnnsim.pipeline import simulate

    if not args.scale:
        from gnnsim.errors import ScenarioError
        raise ScenarioError("whatif: give at least one --scale KNOB=FACTOR (for example --scale network.bw=2)")
    factors = dict(parse_scale(s) for s in args.scale)
    base = simulate(load_scenario(args.scenario, args.overrides), sensitivity=False)
    alt = whatif(base, factors)
    a, b = base.analysis, alt.analysis
    label = ", ".join(f"{k} x{v:g}" for k, v in factors.items())
    print(f"what-if: {label} (same sampled batches)\n")
    print(f"{'stage':<10} {'baseline':>12} {'what-if':>12} {'change':>8}")
    for stage in list(dict.fromkeys(list(a.breakdown) + list(b.breakdown))):
        t0 = a.breakdown.get(stage, {}).get("time_s", 0.0)
        t1 = b.breakdown.get(stage, {}).get("time_s", 0.0)
        change = f"{(t1 - t0) / t0:+.1%}" if t0 > 0 else "n/a"
        print(f"{stage:<10} {_fmt_s(t0):>12} {_fmt_s(t1):>12} {change:>8}")
    print()
    for name, x0, x1 in (("iteration", a.iteration_time_s, b.iteration_time_s), ("epoch", a.epoch_time_s, b.epoch_time_s)):
        print(f"{name:<10} {_fmt_s(x0):>12} {_fmt_s(x1):>12} {(x1 - x0) / x0:+8.1%}")
    price0, price1 = base.cluster.price_per_hour, alt.cluster.price_per_hour
    if price0 > 0:
        print(f"{'$/epoch':<10} {price0 * a.epoch_time_s / 3600:12.4f} {price1 * b.epoch_time_s / 3600:12.4f}  "
              "(same hourly price assumed)")
    for name, an in (("baseline", a), ("what-if", b)):
        bt = an.bottleneck
        print(f"bottleneck {name}: {bt['stage']} on {bt['resource']} ({bt['share']:.0%} of the critical path)")
    if a.extrapolated:
        print(f"(epochs extrapolated from {a.simulated_iterations} simulated iterations)")
    if args.json:
        out = {"scale": factors, "baseline": base.to_dict(), "whatif": alt.to_dict(),
               "epoch_change": (b.epoch_time_s - a.epoch_time_s) / a.epoch_time_s}
        save(args.json, json.dumps(out, indent=2, sort_keys=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = scenario_command(sub, "compare", "simulate a grid of configurations and rank them by epoch time",
                         EPILOG_COMPARE, cmd_compare)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a scenario field and the values to try (repeat for a grid)")
    p.add_argument("--json", metavar="OUT.json", help="also write every row as JSON")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the table as CSV")
    p.add_argument("--plot", metavar="OUT.png", help="also draw one stacked breakdown bar per row (needs matplotlib)")

    p = scenario_command(sub, "whatif", "re-simulate the same batches with faster hardware, side by side",
                         EPILOG_WHATIF, cmd_whatif)
    p.add_argument("--scale", action="append", default=[], metavar="KNOB=FACTOR",
                   help="make a resource FACTOR times faster, e.g. network.bw=2 (repeatable)")
    p.add_argument("--json", metavar="OUT.json", help="also write both results as JSON")
