"""``gnnsim import-trace`` and ``gnnsim validate-suite``: measured runs from profiler traces, and the suite."""

from __future__ import annotations

import argparse
import sys

from gnnsim.commands import count, save

EPILOG_IMPORT = """examples:
  gnnsim import-trace rank0.json rank1.json --out measured.json
  gnnsim import-trace trace_rank*.json.gz --skip-first 2 --stage-map DDP.backward=backward --out m.json

Each file is one rank's torch.profiler Chrome trace (prof.export_chrome_trace(PATH)).
Stages come from record_function labels named after gnnsim's stages (sample, fetch, h2d,
forward, backward, halo, allreduce, optimizer); ProfilerStep#N markers (prof.step() under a
schedule) delimit iterations. NCCL kernels (ncclKernel_*, ncclDevKernel_*), other kernels and
memcpys are counted per iteration and stage. A DDP all-reduce nested in backward (gloo's
gloo:all_reduce, or a block labelled allreduce) is its own allreduce stage, taken out of backward."""

EPILOG_SUITE = """examples:
  gnnsim validate-suite --quick                       # the CI subset, under 2 minutes
  gnnsim validate-suite --only sbm-metis sbm-random --out /tmp/v

Same as python validation/run.py: calibrates this machine in the run, runs every scenario in
validation/scenarios/ real and simulated, writes RESULTS.md and results.json."""


def _stage_map(items: list[str]) -> dict[str, str]:
    from gnnsim.errors import GnnsimError
    from gnnsim.validation.trace import STAGES

    out = {}
    for item in items:
        label, sep, stage = item.rpartition("=")
        if not sep or not label or stage not in STAGES:
            raise GnnsimError(f"--stage-map {item!r}: expected LABEL=STAGE with STAGE one of {', '.join(STAGES)}")
        out[label] = stage
    return out


def cmd_import_trace(args: argparse.Namespace) -> int:
    from gnnsim.validation.trace import import_traces

    scenario = None
    if args.scenario:
        from gnnsim.config import load_scenario

        scenario = load_scenario(args.scenario).to_dict()
    run = import_traces(args.traces, stage_map=_stage_map(args.stage_map), skip_first=args.skip_first, scenario=scenario)
    n_iter = len(run.ranks[0]["iterations"])
    print(f"imported {len(run.ranks)} rank(s) x {n_iter} iteration(s) "
          f"(iterations from {', '.join(run.meta['iteration_markers'])})")
    m = run.meta
    print(f"the traces say: host {m['host'] or '?'}, {m['device']} ({m['machine'] or 'no device named'}), backend "
          f"{m['backend'] or '?'}, torch {m['torch'] or '? (not in the trace)'}")
    print(f"{'stage':<10} {'time/iter':>12} {'share':>7}")
    for stage, row in run.breakdown().items():
        derived = " (from NCCL kernels / HtoD copies)" if stage in run.meta["derived_stages"] else ""
        print(f"{stage:<10} {row['time_s'] * 1e3:9.3f} ms {row['share']:>7.1%}{derived}")
    print(f"iteration  {run.iteration_time_s * 1e3:9.3f} ms (until the last rank finished it, mean over iterations)")
    if args.out:
        save(args.out, run.to_json() + "\n")
    return 0


def cmd_validate_suite(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gnnsim.validation.harness import run_suite

    results = run_suite(args.scenarios, args.out or Path(args.scenarios).parent, quick=args.quick, only=args.only,
                        repeat=not args.quick if args.repeat is None else args.repeat)
    unexpected = [r["name"] for r in results["scenarios"] if not r["as_expected"]]
    if unexpected:
        print(f"not as expected: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if unexpected else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-trace", help="read PyTorch profiler traces (one per rank) into a measured-run JSON",
                       epilog=EPILOG_IMPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("traces", nargs="+", help="one Chrome trace JSON (or .json.gz) per rank, in rank order")
    p.add_argument("--out", metavar="MEASURED.json", help="write the measured run here")
    p.add_argument("--stage-map", action="append", default=[], metavar="LABEL=STAGE",
                   help="count record_function LABEL as STAGE (repeatable)")
    p.add_argument("--skip-first", type=count, default=0, metavar="N", help="drop N warm-up iterations per rank")
    p.add_argument("--scenario", metavar="SCENARIO.yaml", help="the scenario the traces ran (stored with the run)")
    p.set_defaults(func=cmd_import_trace)

    p = sub.add_parser("validate-suite", help="run the validation suite (real vs simulated) and write RESULTS.md",
                       epilog=EPILOG_SUITE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only the scenarios marked quick: true, quick calibration")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    p.add_argument("--repeat", action=argparse.BooleanOptionalAction, default=None,
                   help="run every job real a second time after the first pass, in reverse order, and report how "
                        "far apart the two measurements are (the host's noise floor); on by default without --quick")
    p.add_argument("--scenarios", default="validation/scenarios", help="folder of validation scenarios")
    p.add_argument("--out", help="folder for RESULTS.md and results.json (default: the scenarios' parent)")
    p.set_defaults(func=cmd_validate_suite)
