"""Predict the published GPU runs from the catalog and write the report.

    python validation/published.py                      # ../shared/published-dev/runs.jsonl -> PUBLISHED.md
    python validation/published.py RUNS.jsonl --out DIR # another records file, another folder
    python validation/published.py --render             # redraw PUBLISHED.md and the plot from published.json

Writes PUBLISHED.md, published.json and published.png next to this file (or into
--out). Same as ``gnnsim published RUNS.jsonl --json ... --md ... --plot ...``; see
gnnsim/validation/published.py for how records are scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_RECORDS = HERE.parent.parent / "shared" / "published-dev" / "runs.jsonl"


def main(argv: list[str] | None = None) -> int:
    from gnnsim.commands.published import run_published, summary_text, write_outputs
    from gnnsim.errors import GnnsimError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="?", default=str(DEFAULT_RECORDS), help="records file (JSON lines)")
    parser.add_argument("--out", default=str(HERE), help="folder for PUBLISHED.md, published.json, published.png")
    parser.add_argument("--quick", action="store_true", help="a few records on small graphs (a smoke test)")
    parser.add_argument("--render", action="store_true", help="only redraw the report from --out/published.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if not out.is_dir():
            raise GnnsimError(f"--out {out}: no such folder; create it first")
        if args.render:
            data = json.loads((out / "published.json").read_text())
        else:
            data = run_published(args.records, quick=args.quick,
                                 command="python validation/published.py" + (" --quick" if args.quick else ""))
        print(summary_text(data))
        written = write_outputs(data, json_path=None if args.render else str(out / "published.json"),
                                md_path=str(out / "PUBLISHED.md"), plot_path=str(out / "published.png"))
    except GnnsimError as exc:
        print(f"published: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
