"""Run the validation suite: every scenario in validation/scenarios/ real and simulated.

    python validation/run.py            # the whole suite, every job measured twice (~14 minutes; keep the machine quiet)
    python validation/run.py --quick    # the CI subset (under 2 minutes)
    python validation/run.py --only sbm-metis sbm-random --out /tmp/v
    python validation/run.py --trainer pyg   # only the scenarios run by the PyG trainer

Writes RESULTS.md and results.json next to this file (or into --out). The machine is
calibrated first, in the same run, into a temporary copy of hwprofiles; see
gnnsim/validation/harness.py for what is measured and how. Shaped-link scenarios need
root (network namespaces and tc) and are skipped with a message elsewhere.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    from gnnsim.errors import GnnsimError
    from gnnsim.validation.harness import run_suite

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="run the scenarios marked quick: true, calibrate quickly")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios (by name)")
    parser.add_argument("--trainer", choices=("torch", "pyg"),
                        help="run only the scenarios of this real trainer (validation.trainer; torch: gnnsim's own)")
    parser.add_argument("--scenarios", default=str(HERE / "scenarios"), help="folder of scenario YAMLs")
    parser.add_argument("--out", default=str(HERE), help="folder for RESULTS.md and results.json")
    parser.add_argument("--repeat", action=argparse.BooleanOptionalAction, default=None,
                        help="run every job real a second time after the first pass, in reverse order, and report "
                             "how far apart the two measurements are (the host's noise floor); on by default "
                             "without --quick (adds about 4 minutes)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite RESULTS.md from the results.json in --out (no runs)")
    args = parser.parse_args(argv)
    if args.render:
        import json

        from gnnsim.outputs import write_atomic
        from gnnsim.validation.figures import own_rows, repeat_figures, trainer_blocks
        from gnnsim.validation.markdown import cuda_results, limits_text, results_markdown

        results = json.loads((Path(args.out) / "results.json").read_text())
        if "repeat" in results:  # derived from the rows: computed again with this code
            results["repeat"] = repeat_figures(own_rows(results["scenarios"]))
        if "trainers" in results:  # likewise
            results["trainers"] = trainer_blocks(results["scenarios"])
            write_atomic(Path(args.out) / "results.json", json.dumps(results, indent=2, sort_keys=True) + "\n")
        text = results_markdown(results, cuda_results(args.scenarios), limits_text(args.scenarios))
        write_atomic(Path(args.out) / "RESULTS.md", text)
        print(f"wrote {Path(args.out) / 'RESULTS.md'}")
        return 0
    # a plain SIGTERM would skip the teardown of network namespaces; make it an exception
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        results = run_suite(args.scenarios, args.out, quick=args.quick, only=args.only, trainer=args.trainer,
                            repeat=not args.quick if args.repeat is None else args.repeat)
    except GnnsimError as exc:
        print(f"validation: error: {exc}", file=sys.stderr)
        return 2
    acc = results["accuracy"]
    if acc["iteration_mape"] is not None:
        print(f"iteration time MAPE {acc['iteration_mape']:.1%} over {acc['scenarios_ok']} scenarios; "
              f"{sum(g.get('order_kept', False) for g in results['rankings'])} of "
              f"{sum(bool(g.get('compared')) for g in results['rankings'])} ranking groups in measured order")
    unexpected = [r["name"] for r in results["scenarios"] if not r["as_expected"]]
    if unexpected:
        print(f"not as expected: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
