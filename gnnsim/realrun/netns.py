"""Real runs over an emulated network link: ranks in network namespaces joined by a shaped veth.

On one machine every rank talks over loopback, which is far faster than any real
network, so the network-bound regimes of distributed GNN training are never measured.
A *network namespace* is a private copy of the kernel's network stack (its own
interfaces, addresses and loopback). Putting each rank in its own namespace and joining
the namespaces with a *veth pair* (a virtual cable: what goes in one end comes out of
the other) makes their traffic cross a real network device, and ``tc`` (traffic
control) can shape that device: a token bucket filter (``tbf``) limits its rate, and,
where the kernel has the ``netem`` module, a delay is added::

    namespace gnnsim-<pid>-<n>-0          namespace gnnsim-<pid>-<n>-1
    rank 0 -- veth 10.213.0.1 ========== veth 10.213.0.2 -- rank 1
              (tc: rate, delay)                (tc: rate, delay)

The real-run worker rendezvouses at ``tcp://127.0.0.1:PORT`` (rank 0 hosts the
store), and ``127.0.0.1`` is private to each namespace. So every other namespace runs a
small TCP relay on its own ``127.0.0.1:PORT`` that forwards to rank 0's veth address:
only the rendezvous (a few hundred bytes) takes that path. The training traffic goes
through gloo, which ``GLOO_SOCKET_IFNAME`` binds to the veth, so it crosses the shaped
link.

Setup and teardown are automatic: :func:`shaped_link` is a context manager that tears
down in ``finally``, also registers the teardown with ``atexit``, names everything with
a unique ``gnnsim-<pid>-`` prefix, and first removes namespaces left by a crashed run
(whose owner process is gone). Deleting a namespace destroys its veth end, and with it
the pair. Where namespaces are not permitted (not root, no ``ip``), it raises
:class:`NetnsUnavailable` with the reason, so callers can skip.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gnnsim.errors import RealRunError
from gnnsim.graph.forked import pid_running
from gnnsim.realrun import procs as procs_mod

NS_PREFIX = "gnnsim-"
SUBNET = "10.213.0"  # private (RFC 1918) addresses; each namespace pair has its own stack, so they never clash
# tbf needs a bucket at least one MTU and large enough for the rate at the kernel's timer
# granularity; 64 KiB holds ~0.5 ms at 1 Gbit/s (tc-tbf(8): burst >= rate / HZ).
TBF_BURST_BYTES = 64 * 1024
TBF_LATENCY_MS = 100  # how long a packet may wait in the bucket before being dropped (tc-tbf(8))
RELAY_BUFFER_BYTES = 65536


class NetnsUnavailable(RealRunError):
    """Network namespaces or traffic shaping cannot be set up on this machine."""


@dataclass(frozen=True)
class LinkShape:
    """What ``tc`` does to each direction of the veth: a rate, and optionally a delay.

    ``delay_ms`` needs the kernel's ``netem`` qdisc; ``rate_mbit`` uses ``tbf``.
    """

    rate_mbit: float
    delay_ms: float = 0.0

    def describe(self) -> str:
        return f"{self.rate_mbit:g} Mbit/s" + (f", {self.delay_ms:g} ms delay" if self.delay_ms else "")


@dataclass
class NetnsSetup:
    """Live namespaces, one per rank, and how to run a rank (or any command) inside one."""

    namespaces: list[str]
    addresses: list[str]
    ifnames: list[str]
    shape: LinkShape
    relays: list[subprocess.Popen] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # every namespace made, the hub included

    @property
    def master_addr(self) -> str:
        """Rank 0's address, reachable from every namespace."""
        return self.addresses[0]

    def command_prefix(self, rank: int) -> list[str]:
        """``ip netns exec NS``: run a command inside rank ``rank``'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[rank]]

    def rank_env(self, rank: int) -> dict[str, str]:
        """Environment for rank ``rank``: gloo binds to its namespace's veth."""
        return {"GLOO_SOCKET_IFNAME": self.ifnames[rank], "MASTER_ADDR": self.master_addr}

    def start_rendezvous(self, port: int) -> list[subprocess.Popen]:
        """Relay ``127.0.0.1:port`` in every other namespace to rank 0's ``port`` (see module doc).

        The relays run in their own sessions; the caller kills them with its ranks.
        """
        procs = []
        for rank in range(1, len(self.namespaces)):
            procs.append(subprocess.Popen(
                self.command_prefix(rank) + [sys.executable, "-m", "gnnsim.realrun.netns", "relay", str(port),
                                             self.master_addr, str(port)],
                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        self.relays.extend(procs)
        return procs


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    if check:
        return _checked(["ip", *args])
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _checked(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsUnavailable(f"`{' '.join(cmd)}` failed: {done.stderr.strip() or done.returncode}")
    return done


def check_available() -> None:
    """Raise :class:`NetnsUnavailable` saying why namespaces cannot be used here, else return."""
    if not sys.platform.startswith("linux"):
        raise NetnsUnavailable(f"network namespaces need Linux; this is {sys.platform}")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise NetnsUnavailable(f"'{tool}' is not installed (package iproute2); shaped-link runs are skipped")
    if os.geteuid() != 0:
        raise NetnsUnavailable("creating network namespaces needs root (CAP_NET_ADMIN); shaped-link runs are skipped")


def netem_available() -> bool:
    """Whether ``tc`` can add a delay (the ``netem`` qdisc is in this kernel)."""
    name = f"{NS_PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
        done = subprocess.run(["tc", "-n", name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                              capture_output=True, text=True, check=False)
        return done.returncode == 0
    except NetnsUnavailable:
        return False
    finally:
        _ip("netns", "del", name, check=False)


def _owner_alive(name: str) -> bool:
    """Whether the process that created namespace ``gnnsim-<pid>-...`` is still running."""
    try:
        pid = int(name[len(NS_PREFIX):].split("-")[0])
    except ValueError:
        return False
    return pid_running(pid)


def _delete_namespace(name: str) -> None:
    """Kill what still runs inside ``name`` (processes this module's callers started) and delete it."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", name, check=False)


def gnnsim_namespaces() -> list[str]:
    """Names of the namespaces gnnsim created that still exist."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)]


def cleanup_stale() -> list[str]:
    """Delete gnnsim namespaces whose creating process is gone (left by a crash); return their names."""
    stale = [n for n in gnnsim_namespaces() if not _owner_alive(n)]
    for name in stale:
        _delete_namespace(name)
    return stale


_counter = iter(range(1 << 30))


def _qdisc(ns: str, dev: str, shape: LinkShape) -> None:
    if shape.delay_ms > 0:
        # netem does both: a rate and a delay on the same device
        _checked(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "netem", "delay", f"{shape.delay_ms}ms",
                  "rate", f"{shape.rate_mbit}mbit", "limit", "10000"])
    else:
        _checked(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{shape.rate_mbit}mbit",
                  "burst", str(TBF_BURST_BYTES), "latency", f"{TBF_LATENCY_MS}ms"])


def setup(shape: LinkShape, ranks: int = 2) -> NetnsSetup:
    """Create ``ranks`` namespaces joined by shaped veths; call :func:`teardown` when done.

    Two ranks get one veth pair. More ranks share a bridge in a hub namespace, each
    joined by its own shaped veth (so every rank's uplink has the shape).
    """
    check_available()
    if shape.delay_ms > 0 and not netem_available():
        raise NetnsUnavailable(f"a {shape.delay_ms:g} ms delay needs the kernel's netem qdisc (sch_netem), "
                               "which this kernel lacks; use a rate-only link (tbf) or load sch_netem")
    n = next(_counter)
    base = f"{NS_PREFIX}{os.getpid()}-{n}"
    names = [f"{base}-{r}" for r in range(ranks)]
    addresses = [f"{SUBNET}.{r + 1}" for r in range(ranks)]
    ifnames = [f"gv{r}" for r in range(ranks)]
    net = NetnsSetup(names, addresses, ifnames, shape)
    created = net.created
    try:
        for name in names:
            _ip("netns", "add", name)
            created.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
        if ranks == 2:
            # a veth's interface name is global until it is moved, so make it unique first
            tmp = [f"gs{os.getpid() % 100000}x{n % 100}{r}" for r in range(2)]
            _ip("link", "add", tmp[0], "type", "veth", "peer", "name", tmp[1])
            for r in range(2):
                _ip("link", "set", tmp[r], "netns", names[r])
                _ip("-n", names[r], "link", "set", tmp[r], "name", ifnames[r])
        else:
            hub = f"{base}-hub"
            _ip("netns", "add", hub)
            created.append(hub)
            _ip("-n", hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", hub, "link", "set", "br0", "up")
            for r in range(ranks):
                _ip("-n", hub, "link", "add", f"h{r}", "type", "veth", "peer", "name", ifnames[r])
                _ip("-n", hub, "link", "set", ifnames[r], "netns", names[r])
                _ip("-n", hub, "link", "set", f"h{r}", "master", "br0")
                _ip("-n", hub, "link", "set", f"h{r}", "up")
                _qdisc(hub, f"h{r}", shape)  # traffic towards rank r
        for r, name in enumerate(names):
            _ip("-n", name, "addr", "add", f"{addresses[r]}/24", "dev", ifnames[r])
            _ip("-n", name, "link", "set", ifnames[r], "up")
            _qdisc(name, ifnames[r], shape)  # traffic from rank r
    except BaseException:
        for name in created:
            _ip("netns", "del", name, check=False)
        raise
    return net


def teardown(net: NetnsSetup) -> None:
    """Stop the relays, kill anything left inside, delete the namespaces (idempotent)."""
    procs_mod.kill(net.relays)
    net.relays.clear()
    for name in list(net.created):
        if name in gnnsim_namespaces():
            _delete_namespace(name)


@contextmanager
def shaped_link(shape: LinkShape, ranks: int = 2) -> Iterator[NetnsSetup]:
    """Namespaces for ``ranks`` ranks joined by a link shaped as ``shape``, removed on exit.

    Stale namespaces from crashed runs are removed first; the teardown runs in
    ``finally`` and also at interpreter exit (if the process is interrupted between).

    Examples
    --------
    >>> from gnnsim.realrun.netns import LinkShape, shaped_link, NetnsUnavailable
    >>> try:                                           # doctest: +SKIP
    ...     with shaped_link(LinkShape(rate_mbit=1000)) as net:
    ...         print(net.command_prefix(1), net.rank_env(1)["GLOO_SOCKET_IFNAME"])
    ... except NetnsUnavailable as exc:
    ...     print("skipped:", exc)
    """
    cleanup_stale()
    net = setup(shape, ranks)
    atexit.register(teardown, net)
    try:
        yield net
    finally:
        teardown(net)
        atexit.unregister(teardown)


# -- the rendezvous relay (runs inside a namespace) ---------------------------------------

def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [])
            for s in ready:
                data = s.recv(RELAY_BUFFER_BYTES)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        a.close()
        b.close()


def relay(listen_port: int, host: str, port: int) -> None:
    """Accept on ``127.0.0.1:listen_port`` and forward each connection to ``host:port``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection((host, port))
        except OSError:
            client.close()  # rank 0's store is not up yet: the client retries
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "relay":
        relay(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        print("usage (internal): python -m gnnsim.realrun.netns relay LISTEN_PORT HOST PORT", file=sys.stderr)
        sys.exit(2)
