"""The benchmarks still run: each answers --help, and the simulator's benchmark runs a tiny case.

Their figures are not checked (benchmarks print, tests do not time); this only catches a
benchmark broken by a change elsewhere, as a removed field once broke benchmarks/simulate.py.
"""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted(Path("benchmarks").glob("*.py"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_a_benchmark_answers_help(path):
    done = run(str(path), "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


@pytest.mark.parametrize("loader", [[], ["--placed"]], ids=["default", "placed"])
def test_the_simulator_benchmark_runs_a_tiny_case(loader):
    done = run("benchmarks/simulate.py", "--case", "tiny", "--graph-nodes", "4000", "--pool-ranks", "2",
               "--pool-batches", "2", *loader)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 GPUs (2 nodes x 2) x 3 iterations" in done.stdout
