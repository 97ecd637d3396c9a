"""``gnnsim published``: predict measured runs (published or your own) and score the predictions."""

from __future__ import annotations

import argparse
import subprocess
from datetime import datetime, timezone
from pathlib import Path

EPILOG = """examples:
  gnnsim published ../shared/published-dev/runs.jsonl --json published.json --md PUBLISHED.md --plot published.png
  gnnsim published my-runs.jsonl                      # your own measured runs, same format
  gnnsim published runs.jsonl --only dev-001 dev-003  # a few records
  gnnsim published runs.jsonl --quick                 # a few records on small graphs (a smoke test, not a score)

A records file holds one JSON object a line: hardware, dataset, model, pipeline, result,
group (see gnnsim/validation/records.py and shared/published-dev/README.md). Fan-outs are
seed-first (PyG order; DGL lists them input layer first). Each record becomes a scenario
on catalog profiles (never a calibration of this machine), or the report names the
capability gnnsim lacks to express it. python validation/published.py writes
validation/PUBLISHED.md, published.json and published.png."""

QUICK_RECORDS = 3


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def quick_ids(records) -> set[str]:
    """A few expressible records on different datasets (the CI smoke test)."""
    from gnnsim.validation.record_scenario import record_scenario

    picked: dict[str, str] = {}
    for rec in records:
        m = record_scenario(rec, quick=True)
        if m.scenario is not None and m.scenario["graph"]["source"] not in picked:
            picked[m.scenario["graph"]["source"]] = rec.id
    return set(list(picked.values())[:QUICK_RECORDS])


def run_published(records_path: str, *, quick: bool = False, only: list[str] | None = None,
                  command: str = "gnnsim published") -> dict:
    """Predict every expressible record of ``records_path``; the report's JSON."""
    from gnnsim.errors import RecordError
    from gnnsim.validation.published import predict_records, rows_json, summarize
    from gnnsim.validation.records import load_records

    records = load_records(records_path)
    ids = set(only) if only else (quick_ids(records) if quick else None)
    if only:
        unknown = sorted(set(only) - {r.id for r in records})
        if unknown:
            raise RecordError(f"--only: no record {', '.join(unknown)} in {records_path}")
    rows = predict_records(records, source=records_path, quick=quick, only=ids)
    meta = {"command": command, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": _commit(), "records_file": str(records_path), "quick": quick}
    return rows_json(rows, summarize(rows), meta)


def summary_text(data: dict) -> str:
    from gnnsim.report.published import share as pct

    s = data["summary"]
    cov = s["coverage"]
    lines = [f"{'id':<10} {'measured':>10} {'predicted':>10} {'error':>7}  bottleneck"]
    for r in data["records"]:
        if r["predicted"] is not None:
            tag = "" if r["named_hardware"] else " (stand-in)"
            lines.append(f"{r['id']:<10} {r['measured']:>10.4g} {r['predicted']:>10.4g} {100 * r['error']:>+6.0f}%  "
                         f"{r['bottleneck']}{tag}")
    lines += [
        f"coverage  {cov['expressible']} expressible, {cov['partial']} approximated, "
        f"{cov['not expressible']} not expressible of {s['records']}",
        f"error     median |error| {pct(s['median_abs_error'])} over {s['named_hardware_predicted']} records with "
        f"named hardware (signed {pct(s['median_signed_error'])}); within 20%: {pct(s['within_20'])}, "
        f"within 50%: {pct(s['within_50'])}",
        f"groups    {s['groups_in_order']} of {s['groups_scored']} in measured order; ratio error median "
        f"{pct(s['ratio_median_abs_error'])}",
    ]
    if s["missing_capabilities"]:
        top = ", ".join(f"{k} ({v})" for k, v in list(s["missing_capabilities"].items())[:4])
        lines.append(f"missing   {top}")
    return "\n".join(lines)


def write_outputs(data: dict, *, json_path: str | None, md_path: str | None, plot_path: str | None) -> list[str]:
    """Write the requested files, the plot first (the one that can fail on a missing matplotlib)."""
    import json

    from gnnsim.outputs import write_atomic
    from gnnsim.report.published import markdown, plot

    written = []
    if plot_path:
        plot(data, plot_path)
        written.append(plot_path)
    if json_path:
        write_atomic(json_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        written.append(json_path)
    if md_path:
        write_atomic(md_path, markdown(data))
        written.append(md_path)
    return written


def cmd_published(args: argparse.Namespace) -> int:
    # (the output paths were checked before any work by gnnsim.cli: OUTPUT_OPTIONS)
    data = run_published(args.records, quick=args.quick, only=args.only,
                         command="gnnsim published " + Path(args.records).name + (" --quick" if args.quick else ""))
    print(summary_text(data))
    for path in write_outputs(data, json_path=args.json, md_path=args.md, plot_path=args.plot):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("published", help="predict measured runs (published or your own) from the catalog and "
                                         "score the predictions", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", help="records file: one JSON object a line (shared/published-dev/runs.jsonl format)")
    p.add_argument("--quick", action="store_true",
                   help=f"only {QUICK_RECORDS} records, on graphs of about a million edges and 3 iterations (a smoke test)")
    p.add_argument("--only", nargs="+", metavar="ID", help="predict only these record ids")
    p.add_argument("--json", metavar="OUT.json", help="write every record's prediction, scenario and the scores")
    p.add_argument("--md", metavar="OUT.md", help="write the Markdown report")
    p.add_argument("--plot", metavar="OUT.png", help="write predicted against measured (log-log, 20%% band)")
    p.set_defaults(func=cmd_published)
