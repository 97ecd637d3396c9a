"""``gnnsim hw``: browse the hardware and software profile catalog.

``gnnsim hw list`` prints every profile grouped by kind (clusters, nodes, devices,
links, software, calibrated) with its main numbers; ``gnnsim hw show NAME`` prints one
profile's numbers, each tagged with its basis (nominal, measured, estimate ...) and the
numbered sources behind it. Both take ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """examples:
  gnnsim hw list                       # the whole catalog, grouped by kind
  gnnsim hw list --kind devices --json # machine-readable
  gnnsim hw show a100-sxm4-80gb        # numbers, their basis and sources
  gnnsim hw show calibrated/localhost  # a profile written by 'gnnsim calibrate'

Use a calibrated profile in any cluster with cluster.device_profile: calibrated/NAME."""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return " ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def _line(kind: str, s: dict[str, Any]) -> str:
    if kind in ("devices", "calibrated"):
        peaks = " ".join(f"{k} {_fmt(v)}" for k, v in s["peak_tflops"].items())
        extra = f"  measured: {', '.join(s['blocks'])}" if s.get("blocks") else ""
        return f"{s['kind']:4} {s['memory_gib']:>6g} GiB  {s['mem_bw_gbps']:>7g} GB/s  TFLOP/s: {peaks}{extra}"
    if kind == "links":
        alt = []
        if "nominal_bw_gbps" in s:
            alt.append(f"nominal {_fmt(s['nominal_bw_gbps'])}")
        if "measured_bw_gbps" in s:
            alt.append(f"measured {_fmt(s['measured_bw_gbps'])}")
        basis = f" ({s['bw_basis']})" if s.get("bw_basis") else ""
        return (f"{s['kind']:10} {s['bw_gbps']:>7g} GB/s{basis:11} {s['latency_us']:>5g} us"
                + (f"  [{', '.join(alt)}]" if alt else ""))
    if kind == "nodes":
        price = f"${s['price_per_hour']:.2f}/h" if s["price_per_hour"] > 0 else "no price"
        ram = f"{s['host_memory_gib']:g} GiB RAM" if s.get("host_memory_gib") else "RAM not stated"
        return (f"{s['trainers']}x {s['device']}, {s['intra_link']}, h2d {s['h2d_link'] or '-'}, "
                f"nic {s['nic'] or '-'}, {s['host_cpu_cores']} cores, {ram}, {price}")
    if kind == "clusters":
        price = f"${s['price_per_hour']:.2f}/h" if s["price_per_hour"] > 0 else "no price"
        net = f"{s['network']} ({_fmt(s['network_bw_gbps'])} GB/s per node)" if s["network"] else "single node"
        return f"{s['num_nodes']} x {s['node']} = {s['trainers']} x {s['device']}, {net}, {price}"
    if kind == "software":
        return (f"{s['framework']:5} per-iteration {_fmt(s['per_iteration_us'])} us, per-layer "
                f"fwd {_fmt(s['per_layer_forward_us'])} / bwd {_fmt(s['per_layer_backward_us'])} us, "
                f"sampler edge x{_fmt(s['sampler_edge_scale'])}")
    return _fmt(s)


# Rates beyond any device's: a fit that found no such bound drove them off (a memory-only
# class's FLOP rate is pinned at 1e6 TFLOP/s; a CPU GEMM's memory rate fits ~1e6-1e48 GB/s)
UNBOUND_TFLOPS = 1e5
UNBOUND_GBPS = 1e5


def _rate(value: float, unit: str, unbound: float) -> str:
    """A kernel rate for ``hw show``, or what a rate beyond any device's means.

    >>> _rate(24.28, "GB/s", UNBOUND_GBPS), _rate(1.5e48, "GB/s", UNBOUND_GBPS)
    ('24.28 GB/s', 'no GB/s bound (1.5e+48)')
    """
    return f"{value:g} {unit}" if value < unbound else f"no {unit} bound ({value:.2g})"


def cmd_list(args: argparse.Namespace) -> int:
    from gnnsim.hardware.catalog import catalog

    cat = catalog()
    if args.kind:
        cat = {args.kind: cat.get(args.kind, {})}
    broken = [f"{kind}/{name}" for kind, profiles in cat.items() for name, s in profiles.items() if "error" in s]
    if args.json:
        print(json.dumps(cat, indent=2, sort_keys=True))
        return 2 if broken else 0
    for kind, profiles in cat.items():
        print(f"{kind} ({len(profiles)})")
        width = max((len(n) for n in profiles), default=0)
        for name, summary in profiles.items():
            print(f"  {name:{width}}  {'BROKEN: ' + summary['error'] if 'error' in summary else _line(kind, summary)}")
        print()
    print("details and sources: gnnsim hw show NAME")
    return 2 if broken else 0


def cmd_show(args: argparse.Namespace) -> int:
    from gnnsim.hardware.catalog import describe

    info = describe(args.name)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    label = {"clusters": "cluster", "nodes": "node", "devices": "device", "links": "link"}.get(info["kind"], info["kind"])
    print(f"{label} {info['name']}  ({info['path']})\n")
    if info["kind"] == "calibrated":
        print("  (measured by 'gnnsim calibrate'; use it with cluster.device_profile: "
              f"calibrated/{info['name']})\n")
    width = max((len(r["key"]) for r in info["numbers"]), default=0)
    for r in info["numbers"]:
        tag = f"{'/'.join(r['basis'])} [{','.join(str(i + 1) for i in r['sources'])}]" if r["sources"] else ""
        print(f"  {r['key']:{width}}  {_fmt(r['value']):>14}  {tag}")
    derived = info["derived"]
    if derived:
        print("\nas the cost model uses it:")
        if "kernels" in derived:
            for cls, k in derived["kernels"].items():
                print(f"  {cls:12} launch {k['launch_us']:g} us, {_rate(k['tflops'], 'TFLOP/s', UNBOUND_TFLOPS)}, "
                      f"{_rate(k['gbps'], 'GB/s', UNBOUND_GBPS)}")
            if derived.get("calibrated_as_device_profile"):
                print(f"  also replaces the node's: {', '.join(derived['calibrated_as_device_profile'])} "
                      "(where measured on the same kind of link)")
        else:
            for key, value in derived.items():
                print(f"  {key:22} {_fmt(value)}")
    print("\nsources:")
    for i, s in enumerate(info["sources"], 1):
        tag = f"[{s['basis']}{', ' + s['confidence'] if s['confidence'] else ''}] " if s["basis"] else ""
        print(f"  {i}. {tag}{' '.join(p for p in (s['url'], s['text']) if p)}")
        if s["note"]:
            print(f"     {s['note']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from gnnsim.hardware.profiles import PROFILE_KINDS

    p = sub.add_parser("hw", help="list and show hardware/software profiles with their sources",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    hw = p.add_subparsers(dest="hw_command", required=True, metavar="{list,show}")
    q = hw.add_parser("list", help="every profile grouped by kind, with its main numbers")
    q.add_argument("--kind", choices=PROFILE_KINDS, help="only this kind")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(func=cmd_list)
    q = hw.add_parser("show", help="one profile's numbers, their basis and sources")
    q.add_argument("name", help="profile name, or KIND/NAME (e.g. calibrated/localhost)")
    q.add_argument("--json", action="store_true", help="print JSON instead of text")
    q.set_defaults(func=cmd_show)
