"""Errors a person can act on.

Every error gnnsim raises on bad input is a :class:`GnnsimError`. Its message names the
file, the key or line, what was expected and how to fix it. The CLI prints the message
without a traceback and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class GnnsimError(Exception):
    """Base class of every error caused by input a user can fix."""


class ScenarioError(GnnsimError):
    """A scenario file (YAML/JSON) or a ``--set`` override is invalid."""


class ProfileError(GnnsimError):
    """A hardware or software profile is missing or invalid."""


class GraphFormatError(GnnsimError):
    """A graph file cannot be read (wrong format, corrupt line, bad ids)."""


class PartitionError(GnnsimError):
    """A partitioning request or a partition file does not fit the graph."""


class RealRunError(GnnsimError):
    """A real distributed run failed (a rank crashed, hung or timed out)."""


class OutputError(GnnsimError):
    """An output file cannot be written (a missing or read-only folder, a folder given as a file)."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name`` or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean X?' suffix, or '' when nothing is close."""
    match = closest(name, candidates)
    return f" Did you mean '{match}'?" if match else ""


def read_text_file(path: Path, what: str, error: type[GnnsimError]) -> str:
    """The text of the UTF-8 file ``path`` (a ``what``: scenario, profile ...); a folder,
    a missing or unreadable file, or bytes that are not UTF-8 text raise ``error`` naming it."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder; give the path of a {what} file (.yaml or .json)")
    if not path.exists():
        raise error(f"{path}: no such {what} file; give the path of a .yaml or .json file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a text file (byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8); "
                    f"a {what} is a YAML or JSON text file") from None
    if "\x00" in text:
        raise error(f"{path}: not a text file (it holds NUL bytes); a {what} is a YAML or JSON text file")
    return text


def yaml_problem(exc: Exception) -> str:
    """A YAML parser error in one line: where (line, column) and what.

    >>> import yaml
    >>> try:
    ...     yaml.safe_load("a: [1,")
    ... except yaml.YAMLError as exc:
    ...     yaml_problem(exc)
    "line 1, column 7: expected the node content, but found '<stream end>'"
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else str(problem)


def read_yaml_mapping(path: Path, error: type[GnnsimError]) -> dict:
    """The mapping a YAML file holds (an empty file is an empty mapping); a file that is
    not valid YAML, or holds something else, raises ``error`` naming the file."""
    import yaml

    try:
        data = yaml.safe_load(read_text_file(path, "YAML", error)) or {}
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be read") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return data


class RecordError(GnnsimError):
    """A measured-run record file (published or the user's own runs, JSON lines) is invalid."""
