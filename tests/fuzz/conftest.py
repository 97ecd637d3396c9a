"""Shared pieces of the fuzz suite: a tiny valid scenario, a minimal profile catalog, and
one way to run a command in-process and check it failed as a person can act on."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "graph": {"num_nodes": 300, "avg_degree": 4, "feature_dim": 8, "num_classes": 4},
    "model": {"hidden_dim": 8},
    "training": {"batch_size": 16, "fanouts": [3, 2]},
    "cluster": {"profile": "localhost-cpu"},
    "simulation": {"iterations": 2, "warmup_iterations": 1},
}

# The files the tiny scenario's cluster reads, by kind (see minimal_catalog).
CATALOG_FILES = {
    "clusters": "localhost-cpu", "nodes": "localhost", "devices": "x86-core", "links": "loopback",
    "software": "torch", "calibrated": "localhost",
}


@dataclass
class Failure:
    code: int
    err: str
    out: str
    written: list[str] = field(default_factory=list)


def run_cli(argv: list[str], capsys, out_dir: Path | None = None) -> Failure:
    """``gnnsim ARGV`` in this process: its exit code (argparse's SystemExit included),
    what it printed, and any file that appeared in ``out_dir``."""
    from gnnsim.cli import main

    before = set(out_dir.rglob("*")) if out_dir is not None else set()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    after = set(out_dir.rglob("*")) if out_dir is not None else set()
    return Failure(code, captured.err, captured.out, sorted(str(p) for p in after - before))


def assert_user_error(result: Failure, *names: str) -> None:
    """Exit code 2, no traceback, a message that names one of ``names``, no output file."""
    assert result.code == 2, f"exit code {result.code}; stderr: {result.err[-2000:]}"
    assert "Traceback" not in result.err, result.err[-3000:]
    assert any(n.lower() in result.err.lower() for n in names), f"none of {names} in: {result.err}"
    lines = result.err.strip().splitlines()
    if lines and lines[0].startswith("usage:"):  # argparse: its usage, then one error line
        assert sum("error:" in line for line in lines) == 1, result.err
    else:  # one line per problem (a scenario with two bad keys gets two), none a continuation
        assert lines and lines[0].startswith("gnnsim: error:") and not any(line[:1].isspace() for line in lines), \
            f"not one line per problem: {result.err}"
    assert not result.written, f"wrote {result.written}"


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture
def out_dir(tmp_path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def minimal_catalog(root: Path) -> Path:
    """A profile catalog at ``root`` with only the files the tiny scenario reads (and
    the calibrated localhost profile), copied from hwprofiles/."""
    for kind, name in CATALOG_FILES.items():
        (root / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "hwprofiles" / kind / f"{name}.yaml", root / kind / f"{name}.yaml")
    return root
