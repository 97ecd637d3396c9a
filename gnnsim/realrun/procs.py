"""Groups of local processes that live and die together (real runs, gloo benchmarks).

Each process starts in its own session, so killing its process group takes everything
it started with it. A group is waited for with a deadline and stopped early as soon as
one member fails; whatever happens, no member outlives the call.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

POLL_S = 0.2


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (for a rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(commands: list[list[str]], envs: list[dict[str, str]]) -> list[subprocess.Popen]:
    """Start one process per command (own session, stdout dropped, stderr kept)."""
    return [subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for cmd, env in zip(commands, envs)]


def kill(procs: list[subprocess.Popen]) -> None:
    """SIGKILL every process group still alive, then reap them all."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        p.wait()


def wait(procs: list[subprocess.Popen], timeout_s: float, also_kill: list[subprocess.Popen] = ()) -> bool:
    """Wait until all exit, one fails, or ``timeout_s`` passes; kill the rest (and
    ``also_kill``). Returns True when the deadline was hit with members still running."""
    deadline = time.monotonic() + timeout_s
    try:
        while any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
    finally:
        timed_out = any(p.poll() is None for p in procs)
        kill(list(procs) + list(also_kill))
    return timed_out


def stderr_tail(p: subprocess.Popen, lines: int = 3) -> str:
    """The last ``lines`` lines a finished process wrote to stderr, joined by ' | '."""
    text = (p.stderr.read() if p.stderr else b"") or b""
    return " | ".join(text.decode(errors="replace").strip().splitlines()[-lines:])
