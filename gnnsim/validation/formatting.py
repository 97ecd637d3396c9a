"""Cells of RESULTS.md: milliseconds, signed percentages, verdicts, per-stage MAPEs."""

from __future__ import annotations

from typing import Any

from gnnsim.workload.builder import STAGES

TRAINER_NAMES = {"pyg": "PyG"}  # the real trainers' names as RESULTS.md writes them


def stage_mapes(acc: dict[str, Any]) -> str:
    """``stage MAPE (signed)`` for each stage, in pipeline order (results.json, read back
    for ``--render``, may hold them in any order)."""
    mape, signed = acc["stage_mape"], acc.get("stage_mean_signed_error", {})
    order = [s for s in STAGES if s in mape] + sorted(s for s in mape if s not in STAGES)
    return ", ".join(f"{s} {mape[s]:.0%} ({signed.get(s, 0.0):+.0%})" for s in order)


def ms(x: float | None) -> str:
    return "" if x is None else f"{x * 1e3:.2f}"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"
