"""A real run leaves nothing behind: signals to the launcher, a launcher killed outright,
a rank killed. Each run gets its own TMPDIR, so its ranks (whose command line names their
spec file in it) and its temporary folder can be told from any other run on the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the real ranks run torch

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SCENARIO = """graph: {num_nodes: 400, avg_degree: 4, feature_dim: 8}
model: {hidden_dim: 8}
training: {batch_size: 32, fanouts: [3, 2]}
cluster: {profile: localhost-cpu}
simulation: {iterations: 100000, warmup_iterations: 0}
"""
START_S = 90  # imports and graph on a busy 2-core machine
END_S = 30


def _processes_under(folder: Path) -> list[int]:
    """Pids whose command line names something in ``folder`` (this run's ranks and reaper)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmd and int(entry.name) != os.getpid():
            out.append(int(entry.name))
    return out


def _rank_pids(folder: Path) -> list[int]:
    pids = []
    for pid in _processes_under(folder):
        try:
            if b"gnnsim.realrun.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            pass
    return pids


def _wait_until(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGHUP", "kill -9 launcher", "kill -9 rank 1"])
def test_nothing_outlives_a_stopped_real_run(tmp_path, how):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    env = {**os.environ, "TMPDIR": str(tmp)}
    launcher = subprocess.Popen([sys.executable, "-m", "gnnsim", "realrun", str(scenario), "--ranks", "2",
                                 "--timeout", "120"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = _wait_until(lambda: len(_rank_pids(tmp)) == 2, START_S)
        assert started, "the two ranks did not start"
        time.sleep(1.0)  # into gloo's rendezvous and training
        if how == "kill -9 rank 1":
            rank1 = next(pid for pid in _rank_pids(tmp) if Path(f"/proc/{pid}/cmdline").read_bytes().endswith(b"1\0"))
            os.kill(rank1, signal.SIGKILL)
        else:
            os.kill(launcher.pid, signal.SIGKILL if how.startswith("kill") else getattr(signal, how))
        _, err = launcher.communicate(timeout=END_S)
        err = err.decode(errors="replace")
        assert _wait_until(lambda: not _processes_under(tmp), END_S), f"left running: {_processes_under(tmp)}"
        assert _wait_until(lambda: not list(tmp.iterdir()), 5), f"left behind: {list(tmp.iterdir())}"
        assert "Traceback" not in err
        if how in ("SIGTERM", "SIGINT", "SIGHUP"):
            assert launcher.returncode == 128 + getattr(signal, how)
            assert len(err.strip().splitlines()[-1:]) == 1 and "nothing was written" in err
        elif how == "kill -9 launcher":
            assert launcher.returncode == -signal.SIGKILL
        else:
            assert launcher.returncode == 2
            assert "rank 1" in err and "SIGKILL" in err, err
            assert err.index("rank 1") < err.index("rank 0") if "rank 0" in err else True
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(timeout=10)
        for pid in _processes_under(tmp):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
