"""The ``gnnsim`` command line: a thin shell over the Python API.

Each command lives in a module of ``gnnsim.commands`` that defines
``register(subparsers)``; this file only assembles them. Errors caused by input
(:class:`GnnsimError`) are printed without a traceback and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gnnsim.errors import GnnsimError

# One line per command module; a new command adds its module here.
COMMAND_MODULES = [
    "gnnsim.commands.core",
    "gnnsim.commands.hw",
    "gnnsim.commands.partition",
    "gnnsim.commands.analyze",
    "gnnsim.commands.validation",
    "gnnsim.commands.published",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gnnsim",
        description="Predict the epoch time, per-stage breakdown and bottleneck of distributed GNN "
                    "training from one YAML scenario, and check the prediction against real runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="start with: gnnsim simulate examples/quickstart.yaml",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GnnsimError as exc:
        print(f"gnnsim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
