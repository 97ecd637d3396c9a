"""Network namespaces for shaped-link runs: set up, torn down, stale ones removed, and one
short real run across a shaped veth. Skipped where namespaces are not permitted."""

import subprocess
import sys

import pytest

from gnnsim.realrun import netns
from gnnsim.realrun.netns import LinkShape, NetnsUnavailable, cleanup_stale, gnnsim_namespaces, shaped_link

try:
    netns.check_available()
    REASON = ""
except NetnsUnavailable as exc:
    REASON = str(exc)

pytestmark = pytest.mark.skipif(bool(REASON), reason=f"network namespaces not available: {REASON}")


def _qdisc(ns: str, dev: str) -> str:
    return subprocess.run(["tc", "-n", ns, "qdisc", "show", "dev", dev], capture_output=True, text=True).stdout


def test_setup_shapes_both_ends_and_teardown_removes_everything():
    with shaped_link(LinkShape(rate_mbit=200)) as net:
        assert set(net.namespaces) <= set(gnnsim_namespaces())
        for r in range(2):
            assert "tbf" in _qdisc(net.namespaces[r], net.ifnames[r]) and "200Mbit" in _qdisc(net.namespaces[r], net.ifnames[r])
        assert net.command_prefix(1) == ["ip", "netns", "exec", net.namespaces[1]]
        assert net.rank_env(1)["GLOO_SOCKET_IFNAME"] == net.ifnames[1]
        # rank 1's namespace reaches rank 0's address over the veth
        probe = subprocess.run(net.command_prefix(1) + [sys.executable, "-c",
                               "import socket; s = socket.socket(); s.settimeout(2); "
                               f"print(s.connect_ex(('{net.master_addr}', 9)))"], capture_output=True, text=True)
        assert probe.stdout.strip() == "111"  # connection refused: reachable, nothing listening
        names = list(net.created)
    assert not set(names) & set(gnnsim_namespaces())


def test_teardown_after_an_error_inside():
    with pytest.raises(RuntimeError):
        with shaped_link(LinkShape(rate_mbit=1000)) as net:
            names = list(net.created)
            raise RuntimeError("a crash mid-run")
    assert not set(names) & set(gnnsim_namespaces())


def test_stale_namespaces_of_dead_owners_are_removed():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    name = f"gnnsim-{dead.pid}-0-0"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert name in cleanup_stale()
        assert name not in gnnsim_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_a_delay_without_netem_is_a_clear_skip():
    if netns.netem_available():
        pytest.skip("this kernel has netem")
    with pytest.raises(NetnsUnavailable, match="netem"):
        with shaped_link(LinkShape(rate_mbit=200, delay_ms=1)):
            pass


@pytest.mark.realrun
def test_real_run_over_a_shaped_link():
    pytest.importorskip("torch")  # the real ranks run torch
    from gnnsim.config import scenario_from_dict
    from gnnsim.realrun.launch import run_real

    scenario = scenario_from_dict({
        "graph": {"num_nodes": 2000, "num_communities": 2, "avg_degree": 6, "feature_dim": 32, "num_classes": 2},
        "partition": {"method": "random"}, "model": {"hidden_dim": 16},
        "training": {"batch_size": 64, "fanouts": [4, 2]},
        "cluster": {"profile": "netns-veth-1gbit"},
        "simulation": {"iterations": 3, "warmup_iterations": 1, "seed": 1}})
    with shaped_link(LinkShape(rate_mbit=1000)) as net:
        run = run_real(scenario, ranks=2, timeout_s=120, progress=lambda *a, **k: None, netns=net)
        names = list(net.created)
    assert len(run.ranks) == 2 and all(len(r["iterations"]) == 3 for r in run.ranks)
    assert all(it["rows_remote"] > 0 for r in run.ranks for it in r["iterations"])
    assert not set(names) & set(gnnsim_namespaces())


def test_three_ranks_share_a_shaped_bridge():
    with shaped_link(LinkShape(rate_mbit=1000), ranks=3) as net:
        assert len(net.created) == 4  # one namespace per rank and the hub with the bridge
        hub = next(n for n in net.created if n.endswith("-hub"))
        for r in range(3):
            assert "tbf" in _qdisc(net.namespaces[r], net.ifnames[r]) and "tbf" in _qdisc(hub, f"h{r}")
        for r in (1, 2):
            probe = subprocess.run(net.command_prefix(r) + [sys.executable, "-c",
                                   "import socket; s = socket.socket(); s.settimeout(2); "
                                   f"print(s.connect_ex(('{net.master_addr}', 9)))"], capture_output=True, text=True)
            assert probe.stdout.strip() == "111"
        names = list(net.created)
    assert not set(names) & set(gnnsim_namespaces())


@pytest.mark.realrun
def test_timeout_in_namespaces_kills_ranks_and_relays():
    from gnnsim.config import scenario_from_dict
    from gnnsim.errors import RealRunError
    from gnnsim.realrun.launch import run_real

    scenario = scenario_from_dict({"graph": {"num_nodes": 2000, "avg_degree": 6},
                                   "cluster": {"profile": "netns-veth-1gbit"}})
    with shaped_link(LinkShape(rate_mbit=1000)) as net:
        with pytest.raises(RealRunError, match="timed out"):
            run_real(scenario, ranks=2, timeout_s=0.5, progress=lambda *a, **k: None, netns=net)
        for ns in net.namespaces:  # nothing still runs inside
            assert subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.strip() == ""
        assert all(p.poll() is not None for p in net.relays)
    from gnnsim.realrun.procs import leftover_children

    assert leftover_children() == []
