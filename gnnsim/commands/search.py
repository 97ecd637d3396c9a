"""``gnnsim search``: a shell over :func:`gnnsim.search.search`."""

from __future__ import annotations

import argparse
import json
import math
import sys

from gnnsim.commands import count, positive_int, positive_seconds, save, scenario_command

EPILOG = """examples:
  gnnsim search examples/products-clusters.yaml \\
      --vary cluster.profile=a100-2x8-eth100,g5-24x-4-eth50,h100-4x8-ib-ndr \\
      --vary training.batch_size=512,1024,2048 --objective cost --max-epoch-s 30 --plot front.png
  gnnsim search S.yaml --vary partition.method=random,metis --vary training.fanouts=[10,5],[15,10] \\
      --epochs 50 --max-cost 20 --json search.json --csv search.csv
  gnnsim search S.yaml --vary ... --sample 200 --seed 1 --out sweep.jsonl      # stop it any time, then:
  gnnsim search S.yaml --vary ... --sample 200 --seed 1 --out sweep.jsonl --resume

Every combination of the --vary values (or a seeded --sample of them) is simulated in full.
Points run on a local Dask cluster with one worker process per core (--workers N to size it,
--workers 0 for this process alone, --scheduler tcp://HOST:PORT for a running cluster); a graph
and a partition that points share are built once. The answer is the best point that fits in GPU
memory and meets the limits; the Pareto front of epoch time against cost is printed and plotted.
--out appends each point to a JSON-lines file as it finishes; --resume skips points already in
it (and tries failed ones again), so the same file can be re-ranked with other limits for free."""


def cmd_search(args: argparse.Namespace) -> int:
    from gnnsim.search import NoFeasiblePointError, search

    if args.plot:  # a plot that cannot be drawn is refused before the points run, not after
        from gnnsim.search.plot import check_plot_path

        check_plot_path(args.plot)
    try:
        result = search(args.scenario, args.vary, overrides=args.overrides, objective=args.objective,
                        max_epoch_s=args.max_epoch_s, max_cost=args.max_cost, epochs=args.epochs, sample=args.sample,
                        seed=args.seed, workers=args.workers, scheduler=args.scheduler, out=args.out,
                        resume=args.resume, connect_timeout_s=args.connect_timeout_s)
    except NoFeasiblePointError as exc:
        if exc.result is not None:
            print(exc.result.text(args.top))
        raise
    except KeyboardInterrupt:
        if not args.out:
            raise
        print(f"gnnsim: interrupted; the points that finished are in {args.out}: run the same command with --resume "
              "to go on", file=sys.stderr)
        return 130
    print(result.text(args.top))
    if args.plot:
        from gnnsim.search.plot import plot_front

        plot_front(result, args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        save(args.json, json.dumps(result.to_dict(), indent=2, sort_keys=True))
    if args.csv:
        save(args.csv, result.to_csv())
    if args.out:
        print(f"points in {args.out}")
    return 0


def _dollars(text: str) -> float:
    """An argparse type: an amount of money, finite and > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected an amount of dollars > 0, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = scenario_command(sub, "search", "find the fastest or cheapest setup over a grid, in parallel on Dask",
                         EPILOG, cmd_search)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a scenario field and the values to try (repeat for a grid; values split on commas outside "
                        "brackets, each read as YAML)")
    p.add_argument("--objective", choices=["time", "cost"], default="time",
                   help="rank by epoch time or by cost (default: time)")
    p.add_argument("--max-epoch-s", type=positive_seconds, metavar="T", help="only points whose epoch takes <= T s")
    p.add_argument("--max-cost", type=_dollars, metavar="X",
                   help="only points that cost <= $X per epoch (per training run with --epochs)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="also price a training run of N epochs")
    p.add_argument("--sample", type=positive_int, metavar="N", help="run N points of the grid, drawn by --seed")
    p.add_argument("--seed", type=count, default=0, metavar="S", help="seed of --sample (default 0)")
    p.add_argument("--workers", type=count, metavar="N",
                   help="local Dask workers (default: one per core; 0: run in this process, no Dask)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this running Dask cluster instead")
    p.add_argument("--connect-timeout-s", type=positive_seconds, default=10.0, metavar="S",
                   help="how long to wait for --scheduler and its first worker (default 10)")
    p.add_argument("--out", metavar="RESULTS.jsonl", help="append each point's result to this JSON-lines file")
    p.add_argument("--resume", action="store_true", help="go on with the search in --out: skip its finished points")
    p.add_argument("--top", type=count, default=20, metavar="N", help="rows of the table to print (0: all; default 20)")
    p.add_argument("--json", metavar="OUT.json", help="also write every point, the front and the choice as JSON")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the ranked table as CSV")
    p.add_argument("--plot", metavar="OUT.png", help="also draw cost against epoch time with the front (matplotlib)")
