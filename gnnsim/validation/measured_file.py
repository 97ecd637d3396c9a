"""A measured run read from a file: ``gnnsim validate S.yaml --measured RUN.json``.

The file is the measured-run JSON that ``gnnsim realrun --out`` and ``gnnsim
import-trace --out`` write, or the same shape from a user's own tooling. What a
comparison needs is small::

    {"ranks": [{"iterations": [{"iteration_time_s": 0.012,
                                "stages": {"sample": 0.002, "forward": 0.004, ...}}, ...]},
               ...],                                  # one entry per rank, same iterations
     "meta": {"host": "...", "backend": "gloo", ...},  # optional
     "scenario": {...}}                                # optional: the scenario it ran

Stage names are gnnsim's (sample, fetch, h2d, forward, backward, halo, allreduce,
optimizer). Every error names the file, the key path and the fix; nothing is launched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gnnsim.errors import GnnsimError
from gnnsim.measured import MeasuredRun
from gnnsim.workload.builder import STAGES

# scenario keys that do not change what was run (names, paths, simulation settings)
IGNORED_KEYS = ("name", "base_dir", "validation", "simulation", "output")


class MeasuredFileError(GnnsimError):
    """A measured-run file that cannot be compared (missing, not JSON, wrong shape)."""


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise MeasuredFileError(f"{where}: expected seconds (a finite number >= 0), got {value!r}")
    return float(value)


def _check_rank(rank: Any, r: int, source: str) -> int:
    where = f"{source}: ranks[{r}]"
    if not isinstance(rank, dict) or not isinstance(rank.get("iterations"), list) or not rank["iterations"]:
        raise MeasuredFileError(f"{where}: expected {{\"iterations\": [{{\"iteration_time_s\": ..., \"stages\": "
                                f"{{...}}}}, ...]}} with at least one iteration")
    for i, it in enumerate(rank["iterations"]):
        at = f"{where}.iterations[{i}]"
        if not isinstance(it, dict) or "iteration_time_s" not in it or not isinstance(it.get("stages"), dict):
            raise MeasuredFileError(f"{at}: expected iteration_time_s (seconds) and stages (stage -> seconds)")
        _seconds(it["iteration_time_s"], f"{at}.iteration_time_s")
        for stage, t in it["stages"].items():
            if stage not in STAGES:
                raise MeasuredFileError(f"{at}.stages: unknown stage {stage!r}; gnnsim's stages are "
                                        f"{', '.join(STAGES)} (import-trace --stage-map LABEL=STAGE maps others)")
            _seconds(t, f"{at}.stages.{stage}")
    return len(rank["iterations"])


def measured_from_dict(data: Any, source: str = "<measured>") -> MeasuredRun:
    """A :class:`MeasuredRun` from parsed JSON, every field checked.

    >>> run = measured_from_dict({"ranks": [{"iterations": [{"iteration_time_s": 0.01, "stages": {"forward": 0.004}}]}]})
    >>> run.iteration_time_s, run.breakdown()["forward"]["time_s"]
    (0.01, 0.004)
    """
    if not isinstance(data, dict) or not isinstance(data.get("ranks"), list) or not data["ranks"]:
        raise MeasuredFileError(f"{source}: expected a measured run with a non-empty 'ranks' list (what gnnsim realrun "
                                "--out or gnnsim import-trace --out write)")
    counts = [_check_rank(rank, r, source) for r, rank in enumerate(data["ranks"])]
    if len(set(counts)) > 1:
        raise MeasuredFileError(f"{source}: ranks have different numbers of iterations ({counts}); give every rank "
                                f"the same iterations (import-trace cuts them to the shortest)")
    ranks = [{"rank": r, "iterations_per_epoch": None, **rank} for r, rank in enumerate(data["ranks"])]
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    scenario = data.get("scenario") if isinstance(data.get("scenario"), dict) else {}
    return MeasuredRun(scenario, ranks, {**meta, "file": source})


def load_measured(path: str | Path) -> MeasuredRun:
    """Read and check a measured-run JSON file."""
    path = Path(path)
    if not path.is_file():
        raise MeasuredFileError(f"{path}: no such measured-run file; write one with gnnsim realrun S.yaml --out "
                                f"{path.name} or gnnsim import-trace rank*.json --out {path.name}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MeasuredFileError(f"{path}: not a JSON measured run ({exc})") from None
    return measured_from_dict(data, str(path))


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out if out or not prefix else {prefix: {}}


def scenario_differences(ran: dict[str, Any], scenario: dict[str, Any]) -> list[str]:
    """Keys where the scenario a run says it ran differs from the one simulated
    (``key: run X, scenario Y``); names, paths and simulation settings are left out.

    >>> scenario_differences({"training": {"batch_size": 512}, "name": "a"}, {"training": {"batch_size": 1024}, "name": "b"})
    ['training.batch_size: run 512, scenario 1024']
    """
    a = _flat({k: v for k, v in ran.items() if k not in IGNORED_KEYS})
    b = _flat({k: v for k, v in scenario.items() if k not in IGNORED_KEYS})
    return [f"{k.rstrip('.')}: run {a.get(k)!r}, scenario {b.get(k)!r}"
            for k in sorted(set(a) & set(b)) if a[k] != b[k]]
