"""CLI command modules; each defines register(subparsers). The helpers below are the
pieces every command shares: a subcommand that reads one scenario, and saving an output."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path


def _number(text: str, kind: type, what: str, ok) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value) or (kind is float and not math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a duration in seconds, finite and > 0 (``--timeout -1`` is refused)."""
    return _number(text, float, "a number of seconds > 0", lambda v: v > 0)


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (ranks, parts, threads)."""
    return _number(text, int, "a whole number >= 1", lambda v: v >= 1)


def count(text: str) -> int:
    """An argparse type: a whole number >= 0 (iterations to skip, a seed)."""
    return _number(text, int, "a whole number >= 0", lambda v: v >= 0)


def fraction(text: str) -> float:
    """An argparse type: a share in (0, 1]."""
    return _number(text, float, "a number in (0, 1]", lambda v: 0 < v <= 1)


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
    """Write one output whole (see :func:`gnnsim.outputs.write_atomic`) and say so."""
    from gnnsim.outputs import write_atomic

    write_atomic(path, text)
    print(f"wrote {path}")
