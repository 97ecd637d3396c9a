"""CLI command modules; each defines register(subparsers). The helpers below are the
pieces every command shares: a subcommand that reads one scenario, and saving an output."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def scenario_command(sub: argparse._SubParsersAction, name: str, help: str, epilog: str,
                     func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand whose first argument is a scenario file, with ``--set`` overrides."""
    p = sub.add_parser(name, help=help, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="scenario YAML/JSON file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario field, e.g. --set training.fanouts=[15,10] (repeatable)")
    p.set_defaults(func=func)
    return p


def save(path: str | Path, text: str) -> None:
    """Write one output whole (see :func:`gnnsim.report.files.write_atomic`) and say so."""
    from gnnsim.report.files import write_atomic

    write_atomic(path, text)
    print(f"wrote {path}")
