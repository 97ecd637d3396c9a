"""CUDA validation runs: one GPU, features copied from the host over PCIe or kept on the GPU.

    python validation/run_cuda.py --measure --out DIR   # on a machine with a CUDA GPU
    python validation/run_cuda.py                       # anywhere: simulate, compare, write the tables

``--measure`` calibrates the GPU from micro-benchmarks only (``gnnsim calibrate --device
cuda``) into ``DIR/SLUG.yaml`` (SLUG from the GPU's name, e.g. h100-80gb-hbm3), then trains
every scenario in ``validation/cuda/scenarios`` for real on that GPU with the calibrated
profile as its device, and writes each measured run to ``DIR/NAME.json`` (and the
calibration's raw measurements to ``DIR/calibration-samples.json``). Commit the profile
as ``hwprofiles/calibrated/SLUG.yaml`` and the rest under ``validation/cuda/measured/``.

Without ``--measure``, every committed measured run is compared with a simulation of its
own scenario (which names the calibrated profile it ran with), and
``validation/cuda/results.json`` is written; ``validation/RESULTS.md`` shows it in its
CUDA section the next time the suite or ``validation/run.py --render`` writes it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CUDA = HERE / "cuda"


def gpu_slug(name: str) -> str:
    """A profile name from a GPU's name: 'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3'."""
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-").split("-")
    return "-".join(w for w in words if w not in ("nvidia", "tesla", "geforce")) or "gpu"


def measure(scenarios: Path, out: Path, quick: bool) -> int:
    import torch

    from gnnsim.config import Scenario
    from gnnsim.errors import GnnsimError
    from gnnsim.outputs import write_atomic
    from gnnsim.pipeline import simulate
    from gnnsim.realrun.launch import run_real
    from gnnsim.validation.compare import compare
    from gnnsim.validation.harness import calibrated_profiles
    from gnnsim.validation.suite import load_suite

    if not torch.cuda.is_available():
        print("run_cuda: --measure needs a CUDA GPU; torch sees none", file=sys.stderr)
        return 2
    slug = gpu_slug(torch.cuda.get_device_name(0))
    out.mkdir(parents=True, exist_ok=True)
    suite = load_suite(scenarios)
    started = time.perf_counter()
    failed = 0
    with calibrated_profiles(quick, keep=out / f"{slug}.yaml", device="cuda", name=slug,
                             samples_out=out / "calibration-samples.json"):
        print(f"calibrated {torch.cuda.get_device_name(0)} as calibrated/{slug} in {time.perf_counter() - started:.0f} s",
              flush=True)
        for vs in suite:
            data = vs.scenario.model_dump(mode="json")
            data["cluster"]["device_profile"] = f"calibrated/{slug}"
            scenario = Scenario.model_validate(data)
            try:
                measured = run_real(scenario, ranks=vs.ranks, timeout_s=vs.timeout_s, progress=print)
            except GnnsimError as exc:
                print(f"{vs.name}: failed: {exc}", flush=True)
                failed += 1
                continue
            write_atomic(out / f"{vs.name}.json", measured.to_json())
            print(f"{vs.name}:\n{compare(simulate(scenario, sensitivity=False), measured).table()}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", action="store_true", help="calibrate this machine's GPU and run every scenario real")
    parser.add_argument("--quick", action="store_true", help="with --measure: the quick calibration")
    parser.add_argument("--scenarios", default=str(CUDA / "scenarios"), help="folder of scenario YAMLs")
    parser.add_argument("--out", default=str(CUDA / "measured"), help="with --measure: where the profile and runs go")
    args = parser.parse_args(argv)
    if args.measure:
        return measure(Path(args.scenarios), Path(args.out), args.quick)
    from gnnsim.outputs import write_atomic
    from gnnsim.validation.harness import _plain, compare_measured_runs

    results = compare_measured_runs(Path(args.scenarios), Path(args.out))
    path = CUDA / "results.json"
    write_atomic(path, json.dumps(results, indent=2, sort_keys=True, default=_plain) + "\n")
    acc = results["accuracy"]
    print(f"wrote {path}: iteration MAPE {acc['iteration_mape']:.1%} over {acc['scenarios_ok']} CUDA runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
