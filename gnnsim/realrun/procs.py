"""Groups of local processes that live and die together (real runs, gloo benchmarks).

Each process starts in its own session, so killing its process group takes everything
it started with it. A group is waited for with a deadline and stopped early as soon as
one member fails; whatever happens, no member outlives the call: not on a timeout, a
crashed member, ``SIGTERM``/``SIGHUP``/``SIGINT`` to the parent (:func:`signals_raise`
turns them into an exception, so ``finally`` blocks run), nor when the parent itself is
killed (the members set a death signal, :func:`die_with_parent`, and a reaper process,
:func:`start_reaper`, kills their groups and removes the run's folder).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gnnsim.graph.forked import kill_with_parent, pid_running

POLL_S = 0.2
PARENT_ENV = "GNNSIM_LAUNCHER_PID"  # the launcher's pid, for a member to check it is still there


class Terminated(KeyboardInterrupt):
    """The process got ``SIGTERM`` or ``SIGHUP``: raised like Ctrl-C's KeyboardInterrupt, so
    that every ``finally`` runs (the CLI exits with 128 + the signal's number)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_raise():
    """While inside, ``SIGTERM`` and ``SIGHUP`` raise :class:`Terminated` (``SIGINT``
    raises KeyboardInterrupt already). Outside the main thread, where Python cannot set
    handlers, nothing changes."""
    def handler(signum, frame):
        raise Terminated(signum)

    old = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def die_with_parent() -> None:
    """In a group member: ask Linux to SIGKILL this process when its parent exits
    (``prctl(PR_SET_PDEATHSIG)``), and exit now if the launcher is already gone."""
    kill_with_parent()
    launcher = os.environ.get(PARENT_ENV)
    if launcher and launcher.isdigit() and not pid_running(int(launcher)):
        os._exit(1)


def start_reaper(procs: list[subprocess.Popen], folder: str | Path | None = None) -> subprocess.Popen:
    """A process (own session) that waits for this one to exit and then SIGKILLs the
    groups of ``procs`` and removes ``folder``: the cleanup a parent killed with
    ``SIGKILL`` cannot do. Kill it (:func:`kill`) once the group is reaped."""
    script = Path(__file__).with_name("reaper.py")
    return subprocess.Popen([sys.executable, "-I", str(script), str(os.getpid()), str(folder or ""),
                             *(str(p.pid) for p in procs)],
                            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


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


@dataclass
class Outcome:
    """How a group ended: whether the deadline passed with members running, and the
    members that failed on their own (before the group was killed) as (index, exit code),
    in the order they were seen; a negative code is the signal that ended the member."""

    timed_out: bool
    failures: list[tuple[int, int]] = field(default_factory=list)


def how_it_ended(code: int) -> str:
    """A process's exit as a person reads it.

    >>> how_it_ended(3), how_it_ended(-9)
    ('exit code 3', 'killed by signal 9 (SIGKILL)')
    """
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "unknown"
    return f"killed by signal {-code} ({name})"


def wait_group(procs: list[subprocess.Popen], timeout_s: float,
               also_kill: list[subprocess.Popen] = ()) -> Outcome:
    """Wait until all exit, one fails, or ``timeout_s`` passes; kill the rest (and
    ``also_kill``), also when interrupted. A member killed by a signal counts as failing
    before members that failed in the same poll with an error of their own (a peer's
    death shows in the others as a broken connection)."""
    deadline = time.monotonic() + timeout_s
    failures: list[tuple[int, int]] = []
    try:
        while any(p.poll() is None for p in procs):
            new = [(i, p.returncode) for i, p in enumerate(procs) if p.poll() not in (None, 0)]
            if new or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
    finally:
        timed_out = any(p.poll() is None for p in procs)
        failed = [(i, p.returncode) for i, p in enumerate(procs) if p.poll() not in (None, 0)]
        failures = sorted(failed, key=lambda f: (f[1] >= 0, f[0]))
        kill(list(procs) + list(also_kill))
    return Outcome(timed_out, failures)


def wait(procs: list[subprocess.Popen], timeout_s: float, also_kill: list[subprocess.Popen] = ()) -> bool:
    """:func:`wait_group`, returning only whether the deadline was hit with members running."""
    return wait_group(procs, timeout_s, also_kill).timed_out


def stderr_tail(p: subprocess.Popen, lines: int = 3) -> str:
    """The last ``lines`` lines a finished process wrote to stderr, joined by ' | '."""
    text = (p.stderr.read() if p.stderr else b"") or b""
    return " | ".join(text.decode(errors="replace").strip().splitlines()[-lines:])


# children Python itself keeps for the life of the process (multiprocessing's helpers, which
# Dask's local workers start): they exit with it and are no leak of a run
PROCESS_LIFETIME_HELPERS = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def leftover_children() -> list[int]:
    """Processes whose parent is this one and that are still alive (a leak after a run)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != me or fields[0] == "Z":
                continue
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if not any(helper in cmdline for helper in PROCESS_LIFETIME_HELPERS):
            found.append(int(stat.parent.name))
    return found
