"""The ``gnnsim`` command line: a thin shell over the Python API.

Each command lives in a module of ``gnnsim.commands`` that defines
``register(subparsers)``; this file only assembles them. Errors caused by input
(:class:`GnnsimError`) are printed in one line without a traceback and exit with code 2;
so do output paths that cannot be written (checked before any work starts) and a job
too large for memory. Ctrl-C ends with one line and exit code 130; a closed pipe
(``gnnsim simulate ... | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    "gnnsim.commands.search",
    "gnnsim.commands.cache",
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


# Options that name an output file, where their metavar is a file name (OUT.json, PARTS.npy);
# validate-suite's folder --out has none and is left alone.
OUTPUT_OPTIONS = ("json", "csv", "plot", "trace", "out", "samples", "md")


def _chosen_parsers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[argparse.ArgumentParser]:
    """The parser and the subcommand parsers that ``args`` went through (``hw list`` has two)."""
    chain = [parser]
    while True:
        sub = next((a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, sub.dest, None) if sub is not None else None
        if name is None or name not in sub.choices:
            return chain
        chain.append(sub.choices[name])


def check_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every output file the command was given can be written (see
    :func:`gnnsim.report.files.check_output_path`), so that nothing runs for minutes
    only to fail at the end."""
    from gnnsim.report.files import check_output_path

    for p in _chosen_parsers(parser, args):
        for action in p._actions:
            value = getattr(args, action.dest, None)
            if (action.dest in OUTPUT_OPTIONS and isinstance(value, str) and isinstance(action.metavar, str)
                    and "." in action.metavar):
                check_output_path(value, action.option_strings[-1] if action.option_strings else action.dest)


def _stdout_to_devnull() -> None:
    """After a closed pipe: send what is left of stdout nowhere, so that the interpreter's
    last flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by a capture without a file descriptor
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_outputs(parser, args)
        code = args.func(args)
        sys.stdout.flush()
        return code
    except GnnsimError as exc:
        print(f"gnnsim: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("gnnsim: error: out of memory: the job is larger than this machine's memory; make it smaller "
              "(graph.num_nodes, graph.avg_degree, training.batch_size, training.fanouts, graph.scale)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", 2)  # realrun's Terminated carries SIGTERM or SIGHUP
        print(f"gnnsim: {'interrupted' if signum == 2 else 'terminated'}; nothing was written", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141  # 128 + SIGPIPE, what a shell reports for a process its pipe's reader left


if __name__ == "__main__":
    sys.exit(main())
