"""The core commands: simulate, realrun, calibrate, validate."""

from __future__ import annotations

import argparse

from gnnsim.commands import positive_int, positive_seconds, save, scenario_command

EPILOG_SIMULATE = """examples:
  gnnsim simulate examples/quickstart.yaml
  gnnsim simulate examples/quickstart.yaml --set training.batch_size=512 --set partition.method=random
  gnnsim simulate S.yaml --json out.json      # machine-readable result
  gnnsim simulate S.yaml --csv out.csv --trace trace.json --plot breakdown.png

Fan-outs are hop-from-seed first (PyG's num_neighbors order); DGL lists them reversed."""


def cmd_simulate(args: argparse.Namespace) -> int:
    from gnnsim.config import load_scenario
    from gnnsim.pipeline import simulate
    from gnnsim.report.files import write_result_outputs
    from gnnsim.report.table import result_table

    result = simulate(load_scenario(args.scenario, args.overrides), record_links=bool(args.trace))
    print(result_table(result))
    for path in write_result_outputs(result, json_path=args.json, csv_path=args.csv,
                                     trace_path=args.trace, plot_path=args.plot):
        print(f"wrote {path}")
    return 0


def cmd_realrun(args: argparse.Namespace) -> int:
    from gnnsim.config import load_scenario
    from gnnsim.realrun.launch import run_real

    scenario = load_scenario(args.scenario, args.overrides)
    measured = run_real(scenario, ranks=args.ranks, timeout_s=args.timeout, trainer=args.trainer)
    print(measured.summary())
    if args.out:
        save(args.out, measured.to_json())
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.refit:
        from gnnsim.calibrate.refit import refit

        refit(args.refit, args.out)
        return 0
    from gnnsim.calibrate.run import calibrate

    calibrate(device=args.device, out=args.out, quick=args.quick, threads=args.threads, twin_load=args.twin_load,
              samples_out=args.samples, strict=args.strict)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from gnnsim.config import load_scenario
    from gnnsim.validation.compare import validate, validate_measured

    scenario = load_scenario(args.scenario, args.overrides)
    if args.measured:  # a run measured elsewhere: compare only, launch nothing
        report = validate_measured(scenario, args.measured)
    else:
        report = validate(scenario, ranks=args.ranks, timeout_s=args.timeout, trainer=args.trainer)
    print(report.table())
    if args.json:
        save(args.json, report.to_json())
    return 0


def _add_real_run_args(p: argparse.ArgumentParser) -> None:
    """The real run's options, shared by realrun and validate."""
    p.add_argument("--ranks", type=positive_int, default=2, help="processes to spawn (default 2)")
    p.add_argument("--timeout", type=positive_seconds, default=600.0,
                   help="kill the whole group after this many seconds")
    p.add_argument("--trainer", choices=["torch", "pyg"], default="torch",
                   help="torch: gnnsim's own trainer (default); pyg: a standard PyG DDP trainer (PyG's models and "
                        "NodeLoader; needs training.framework: pyg and mode single-node-multigpu)")


def register(sub: argparse._SubParsersAction) -> None:
    p = scenario_command(sub, "simulate", "predict epoch time and breakdown of a scenario", EPILOG_SIMULATE,
                         cmd_simulate)
    p.add_argument("--json", metavar="OUT.json", help="also write the full result as JSON")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the per-stage breakdown as CSV")
    p.add_argument("--trace", metavar="OUT.json", help="also write a Chrome/Perfetto trace (one process per node, "
                                                       "one track per resource)")
    p.add_argument("--plot", metavar="OUT.png", help="also draw the stacked stage breakdown (needs matplotlib)")

    p = scenario_command(sub, "realrun", "train the scenario for real with torch.distributed (gloo) and time each stage",
                         "example: gnnsim realrun examples/validate-small.yaml --ranks 2 --out measured.json", cmd_realrun)
    _add_real_run_args(p)
    p.add_argument("--out", metavar="MEASURED.json", help="write the measured run as JSON")

    p = sub.add_parser("calibrate", help="fit the cost model to this machine from micro-benchmarks",
                       epilog="examples:\n  gnnsim calibrate --device cpu --out hwprofiles/calibrated/localhost.yaml\n"
                              "  gnnsim calibrate --device cuda --out hwprofiles/calibrated/h100.yaml --samples h100.json"
                              "   # on the GPU's machine\n"
                              "  gnnsim calibrate --refit h100.json --out hwprofiles/calibrated/h100.yaml"
                              "   # anywhere: fit again, measure nothing\n"
                              "Use the result in a scenario with cluster.device_profile: calibrated/NAME.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", required=True, metavar="PROFILE.yaml", help="calibrated profile to write")
    p.add_argument("--quick", action="store_true", help="fewer shapes and repeats (under a minute)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per trainer to calibrate for (default 1)")
    p.add_argument("--samples", metavar="SAMPLES.json",
                   help="also write every benchmarked shape and its measured time (to inspect or refit)")
    p.add_argument("--refit", metavar="SAMPLES.json",
                   help="measure nothing: fit the profile at --out again from the measurements a calibration wrote "
                        "with --samples (kernels, framework, sampler, copies, host gather); its other blocks stay")
    p.add_argument("--twin-load", action="store_true",
                   help="time kernels beside busy twin trainers (always-busy rates) instead of alone and "
                        "measuring the node's effective cores for the simulator's CPU sharing")
    p.add_argument("--strict", action="store_true",
                   help="refuse a busy host (load, other processes' CPU time, stolen time or the spread of repeated "
                        "timings past their thresholds): exit 2 and write nothing, instead of warning and writing "
                        "a profile marked quality.busy_host: true")
    p.set_defaults(func=cmd_calibrate)

    p = scenario_command(sub, "validate", "run the scenario for real and simulated, print the errors",
                         "examples:\n  gnnsim validate examples/validate-small.yaml --ranks 2 --json out.json\n"
                         "  gnnsim validate S.yaml --measured RUN.json   # a run from realrun, import-trace or your own "
                         "tooling; launches nothing", cmd_validate)
    _add_real_run_args(p)
    p.add_argument("--measured", metavar="RUN.json",
                   help="compare with this measured run (gnnsim realrun --out, gnnsim import-trace --out, or the same "
                        "JSON from your own tooling) instead of launching gnnsim's trainer")
    p.add_argument("--json", metavar="OUT.json", help="also write the comparison as JSON")
