"""Measure every loader placement on one GPU and compare each with its prediction (issue 21).

    python validation/cuda/measure_placements.py --dry-run         # anywhere: build, check, print the plan
    python validation/cuda/measure_placements.py --out "$OUT"      # on a lent GPU (about 5-8 minutes)

One products-like scenario (preset ogbn-products at scale 0.1: about 245k nodes, 100
features; GraphSAGE 256 hidden, fan-outs [10, 5], batch 1024, one GPU) is run with
``training.sampling.device`` cpu / uva / gpu x ``training.features.placement`` host /
uva / gpu: nine real runs of gnnsim's own trainer (:mod:`gnnsim.realrun.placed_loop`,
stages timed by CUDA events), each compared with ``gnnsim simulate`` of the same
scenario. ``training.loader.workers: 0`` because the real trainer samples and gathers in
its own process. The device profile is the committed ``calibrated/h100-80gb-hbm3``
unless ``--device-profile`` names another.

Writes under ``--out``: ``NAME.json`` (each measured run, as ``gnnsim realrun --out``),
``placements.json`` (measured and predicted iteration and stage times per placement, the
GPU's name) and ``placements.txt`` (the table). A placement the trainer refuses (for
example ``uva`` where torch cannot view pinned memory from the GPU) is recorded with
its reason and the others still run. Commit the outputs under
``validation/cuda/measured/placements/`` with the device named.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SAMPLING = ("cpu", "uva", "gpu")
FEATURES = ("host", "uva", "gpu")
BASE = {
    "graph": {"source": "preset:ogbn-products", "scale": 0.1, "feature_dim": 100},
    "partition": {"method": "random"},
    "model": {"name": "graphsage", "hidden_dim": 256},
    "training": {"batch_size": 1024, "fanouts": [10, 5], "loader": {"workers": 0}},
    "cluster": {"profile": "dgx-h100-1", "trainers_per_node": 1, "device_profile": "calibrated/h100-80gb-hbm3"},
    "simulation": {"iterations": 30, "warmup_iterations": 5, "seed": 1},
}


def scenarios(device_profile: str, scale: float, iterations: int) -> list:
    """The nine placements of the products-like scenario, as validated scenarios."""
    from gnnsim.config import scenario_from_dict

    out = []
    for sampling in SAMPLING:
        for features in FEATURES:
            data = json.loads(json.dumps(BASE))
            data["name"] = f"placement-{sampling}-{features}"
            data["graph"]["scale"] = scale
            data["cluster"]["device_profile"] = device_profile
            data["simulation"]["iterations"] = iterations
            data["training"]["sampling"] = {"device": sampling}
            data["training"]["features"] = {"placement": features}
            out.append(scenario_from_dict(data, "<measure_placements>"))
    return out


def check(scenario, graph) -> str | None:
    """Why the scenario cannot be simulated or run real (None when it can)."""
    from gnnsim.errors import GnnsimError
    from gnnsim.pipeline import cluster_for
    from gnnsim.realrun.worker import unsupported
    from gnnsim.workload.loader import check_placement

    try:
        check_placement(scenario, graph, cluster_for(scenario))
    except GnnsimError as exc:
        return f"simulator refuses: {exc}"
    reason = unsupported(scenario)
    return f"real trainer refuses: {reason}" if reason else None


def measure(all_scenarios, out: Path, timeout_s: float) -> int:
    import torch

    from gnnsim.errors import GnnsimError
    from gnnsim.outputs import write_atomic
    from gnnsim.pipeline import simulate
    from gnnsim.realrun.launch import run_real
    from gnnsim.validation.compare import compare

    if not torch.cuda.is_available():
        print("measure_placements: needs a CUDA GPU; torch sees none (use --dry-run here)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0)
    rows, lines = [], [f"device: {device}, torch {torch.__version__}"]
    for scenario in all_scenarios:
        started = time.perf_counter()
        row = {"name": scenario.name, "sampling": scenario.training.sampling.device,
               "features": scenario.training.features.placement}
        try:
            measured = run_real(scenario, ranks=1, timeout_s=timeout_s, progress=lambda *_: None)
        except GnnsimError as exc:
            row["refused"] = str(exc)
            lines.append(f"{scenario.name}: refused or failed: {exc}")
            rows.append(row)
            print(lines[-1], flush=True)
            continue
        write_atomic(out / f"{scenario.name}.json", measured.to_json())
        comparison = compare(simulate(scenario, sensitivity=False), measured)
        row["comparison"] = json.loads(comparison.to_json())
        row["wall_s"] = time.perf_counter() - started
        lines.append(f"{scenario.name} ({row['wall_s']:.0f} s):\n{comparison.table()}")
        rows.append(row)
        print(lines[-1], flush=True)
    write_atomic(out / "placements.json", json.dumps({"device": device, "torch": torch.__version__,
                                                      "runs": rows}, indent=2, default=str) + "\n")
    write_atomic(out / "placements.txt", "\n".join(lines) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="build and check the scenarios, print the plan")
    parser.add_argument("--out", default=None, help="folder for the measured runs and the comparison")
    parser.add_argument("--device-profile", default=BASE["cluster"]["device_profile"])
    parser.add_argument("--scale", type=float, default=BASE["graph"]["scale"], help="products preset scale")
    parser.add_argument("--iterations", type=int, default=BASE["simulation"]["iterations"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per real run")
    args = parser.parse_args(argv)
    from gnnsim.graph.build import build_graph

    all_scenarios = scenarios(args.device_profile, args.scale, args.iterations)
    graph = build_graph(all_scenarios[0])  # the same graph for all nine
    print(f"graph: {graph.num_nodes} nodes, {graph.num_edges} edges, {graph.feature_dim} features; "
          f"device profile {args.device_profile}; {args.iterations} measured iterations each")
    problems = 0
    for scenario in all_scenarios:
        reason = check(scenario, graph)
        problems += reason is not None
        print(f"  {scenario.name}: sampling {scenario.training.sampling.device}, features "
              f"{scenario.training.features.placement}: {reason or 'ok'}")
    if args.dry_run:
        return 1 if problems else 0
    if not args.out:
        parser.error("--out is needed unless --dry-run")
    return measure(all_scenarios, Path(args.out), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
