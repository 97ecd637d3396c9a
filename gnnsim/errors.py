"""Errors a person can act on.

Every error gnnsim raises on bad input is a :class:`GnnsimError`. Its message names the
file, the key or line, what was expected and how to fix it. The CLI prints the message
without a traceback and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name`` or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean X?' suffix, or '' when nothing is close."""
    match = closest(name, candidates)
    return f" Did you mean '{match}'?" if match else ""
