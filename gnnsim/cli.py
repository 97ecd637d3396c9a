"""The ``gnnsim`` command line: a thin shell over the Python API.

Each command lives in a module of ``gnnsim.commands`` that defines
``register(subparsers)``; this file only assembles them. Errors caused by input
(:class:`GnnsimError`) are printed in one line without a traceback and exit with code 2;
so do output paths that cannot be written (checked before any work starts) and a job
too large for memory. Ctrl-C ends with one line and exit code 130; a closed pipe
(``gnnsim simulate ... | head -1``) ends quietly.

Long steps report their progress on stderr when it is a terminal (:mod:`gnnsim.progress`);
``--quiet``, before the command or after it, turns that off, as ``GNNSIM_QUIET=1`` does.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from gnnsim import progress
from gnnsim.errors import GnnsimError, PartitionError, ScenarioError

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

QUIET_HELP = "no progress lines on stderr (also GNNSIM_QUIET=1; they are drawn only on a terminal anyway)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gnnsim",
        description="Predict the epoch time, per-stage breakdown and bottleneck of distributed GNN "
                    "training from one YAML scenario, and check the prediction against real runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="start with: gnnsim simulate examples/quickstart.yaml",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command in _leaf_parsers(sub):  # also after the command: gnnsim simulate S.yaml --quiet
        flags = [f for f in ("-q", "--quiet") if f not in command._option_string_actions]  # (a command's own wins)
        if flags:
            command.add_argument(*flags, dest="quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
    return parser


def _leaf_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """The parsers that run a command (``hw list``, not ``hw``), each once (aliases share one)."""
    leaves: list[argparse.ArgumentParser] = []
    for p in dict.fromkeys(sub.choices.values()):
        nested = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        leaves += _leaf_parsers(nested) if nested is not None else [p]
    return leaves


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
    :func:`gnnsim.outputs.check_output_path`), so that nothing runs for minutes
    only to fail at the end."""
    from gnnsim.outputs import check_output_path

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


def _error(text: str) -> None:
    """One line on stderr, after clearing a progress line the failed step left open."""
    progress.abandon()
    print(text, file=sys.stderr)


SCENARIO_KEY = re.compile(r"(graph|partition|model|training|cluster|simulation)\.\w")


def _in_scenario(text: str, scenario: str) -> str:
    """An error about a scenario key found after the file loaded names the file too (an
    error about a command-line option stays as it is)."""
    return f"{scenario}: {text}" if scenario and SCENARIO_KEY.match(text) else text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    was_quiet = progress.set_quiet(args.quiet)
    try:
        check_outputs(parser, args)
        code = args.func(args)
        sys.stdout.flush()
        return code
    except (ScenarioError, PartitionError) as exc:
        _error(f"gnnsim: error: {_in_scenario(str(exc), str(getattr(args, 'scenario', '') or ''))}")
        return 2
    except GnnsimError as exc:
        _error(f"gnnsim: error: {exc}")
        return 2
    except MemoryError:
        _error("gnnsim: error: out of memory: the job is larger than this machine's memory; make it smaller "
               "(graph.num_nodes, graph.avg_degree, training.batch_size, training.fanouts, graph.scale)")
        return 2
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", 2)  # realrun's Terminated carries SIGTERM or SIGHUP
        _error(f"gnnsim: {'interrupted' if signum == 2 else 'terminated'}; nothing was written")
        return 128 + signum
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141  # 128 + SIGPIPE, what a shell reports for a process its pipe's reader left
    finally:
        progress.set_quiet(was_quiet)  # (main may run again in the same process: tests)


if __name__ == "__main__":
    sys.exit(main())
