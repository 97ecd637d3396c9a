"""Behaviour of each partitioner: what it promises, checked on graphs built for the purpose."""

from __future__ import annotations

import numpy as np
import pytest

from gnnsim.graph import chung_lu, sbm
from gnnsim.graph.graph import Graph
from gnnsim.partition import metrics_of, partition_graph, partition_metrics
from gnnsim.partition.streaming import DEFAULT_SLACK
from gnnsim.partition.vertex_cut import grid_shape


def test_range_is_contiguous_and_even():
    g = sbm(10, 1, 2.0, 1.0)
    assert partition_graph(g, "range", 4).assignment.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]


@pytest.fixture(scope="module")
def two_communities_train_in_one():
    """Two dense communities; every train node sits in community 0 (labels = community)."""
    g = sbm(2000, 2, 10.0, 0.99, seed=0)
    train = np.flatnonzero(g.labels == 0)
    return Graph(g.csr, g.feature_dim, g.num_classes, train, g.labels, name="two-communities")


def test_metis_finds_communities_but_unbalances_train(two_communities_train_in_one):
    m = metrics_of(two_communities_train_in_one, partition_graph(two_communities_train_in_one, "metis", 2))
    assert m.edge_cut_fraction < 0.05 and m.train_balance > 1.9  # all seeds on one trainer


def test_metis_balance_train_spreads_seeds(two_communities_train_in_one):
    g = two_communities_train_in_one
    m = metrics_of(g, partition_graph(g, "metis?balance_train=true", 2))
    assert m.train_balance < 1.1 and m.node_balance < 1.1
    m = metrics_of(g, partition_graph(g, "metis", 2, balance_train=True, balance_edges=True))
    assert m.train_balance < 1.1 and m.edge_balance < 1.1


def test_metis_balance_edges_on_skewed_degrees():
    g = chung_lu(3000, 8.0, exponent=2.1, seed=0)
    plain = metrics_of(g, partition_graph(g, "metis", 4))
    balanced = metrics_of(g, partition_graph(g, "metis?balance_edges=true", 4))
    assert balanced.edge_balance < 1.1 and balanced.edge_balance <= plain.edge_balance + 1e-9


@pytest.mark.parametrize("method", ["ldg", "fennel"])
@pytest.mark.parametrize("batch_size", [None, 1])
def test_streaming_balanced_and_better_than_random(method, batch_size):
    g = sbm(2000, 4, 10.0, 0.95, seed=1)
    m = metrics_of(g, partition_graph(g, method, 4, batch_size=batch_size))
    rnd = metrics_of(g, partition_graph(g, "random", 4))
    capacity = np.ceil((1 + DEFAULT_SLACK) * 2000 / 4)
    assert max(m.nodes_per_part) <= capacity
    assert m.edge_cut_fraction < 0.75 * rnd.edge_cut_fraction  # one pass: far from METIS, well below random


def test_streaming_random_order_differs_by_seed():
    g = sbm(500, 4, 6.0, 0.9, seed=0)
    a = partition_graph(g, "fennel?order=random", 4, seed=1).assignment
    b = partition_graph(g, "fennel?order=random", 4, seed=2).assignment
    assert (a != b).any()


def test_grid2d_replication_bound():
    g = chung_lu(3000, 12.0, seed=2)
    p = partition_graph(g, "grid2d", 8)
    r, c = grid_shape(8)
    cut = p.vertex_cut
    pairs = np.unique(np.concatenate([cut.src * 8 + cut.edge_parts, cut.dst * 8 + cut.edge_parts]))
    copies = np.bincount(pairs // 8, minlength=g.num_nodes)
    assert copies.max() <= r + c - 1


def test_hdrf_replicates_less_than_random_edges():
    g = chung_lu(5000, 10.0, exponent=2.2, seed=3)
    hdrf = metrics_of(g, partition_graph(g, "hdrf", 8))
    rnd = metrics_of(g, partition_graph(g, "random-edge", 8))
    assert hdrf.replication_factor < 0.8 * rnd.replication_factor
    assert hdrf.edge_balance < 1.1


def test_vertex_cut_exact_batch_one_is_valid():
    g = chung_lu(300, 6.0, seed=0)
    p = partition_graph(g, "hdrf?batch_size=1", 3)
    m = partition_metrics(g, p.assignment, 3, vertex_cut=p.vertex_cut)
    assert sum(m.edges_per_part) == g.symmetric.nnz


def test_metis_system_library_cuts_like_pymetis_or_says_how_to_get_one(monkeypatch):
    """The system's METIS (32-bit ids in Debian's build) finds the communities as pymetis's does."""
    import ctypes.util

    from gnnsim.errors import PartitionError

    g = sbm(2000, 4, 10.0, 0.95, seed=0)
    if ctypes.util.find_library("metis") is None:
        with pytest.raises(PartitionError, match="apt install libmetis5"):
            partition_graph(g, "metis?library=system", 4, seed=0)
    else:
        ours = metrics_of(g, partition_graph(g, "metis?library=system", 4, seed=0))
        bundled = metrics_of(g, partition_graph(g, "metis", 4, seed=0))
        assert ours.edge_cut_fraction < 0.1 and abs(ours.edge_cut_fraction - bundled.edge_cut_fraction) < 0.02
        assert max(ours.nodes_per_part) <= 1.05 * 500
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(PartitionError, match="no METIS library"):
        partition_graph(g, "metis?library=system", 4, seed=0)
    with pytest.raises(PartitionError, match="library must be"):
        partition_graph(g, "metis?library=mine", 4, seed=0)


def test_metis_auto_takes_the_system_library_for_large_graphs_only_and_keys_the_cache_by_it(monkeypatch, capsys):
    import ctypes.util

    from gnnsim.partition import methods
    from gnnsim.partition.registry import cache_token

    g = sbm(2000, 4, 10.0, 0.95, seed=0)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libmetis.so.5")
    assert cache_token(g, "metis") == {"metis_library": "pymetis"}  # small: the same partition everywhere
    assert cache_token(g, "metis?library=pymetis") == {"metis_library": "pymetis"}
    assert cache_token(g, "random") == {} and cache_token(g, "file:parts.npy") == {}
    monkeypatch.setattr(methods, "AUTO_SYSTEM_MIN_EDGES", g.num_edges)
    assert cache_token(g, "metis") == {"metis_library": "system"}
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert cache_token(g, "metis") == {"metis_library": "pymetis"}  # none installed: pymetis's, no error
    capsys.readouterr()
    assert partition_graph(g, "metis", 4, seed=0).assignment.max() == 3
    assert "apt install libmetis5" in capsys.readouterr().err  # says what would halve its memory
    partition_graph(g, "metis?library=pymetis", 4, seed=0)  # asked for by name: nothing to say
    assert capsys.readouterr().err == ""


def test_metis_runs_where_ctrl_c_reaches_it_at_once():
    """METIS is one long C call: it runs on a thread so that an interrupt stops gnnsim
    within a step of the wait, not when METIS returns."""
    import _thread
    import threading
    import time

    from gnnsim.partition.methods import interruptible

    assert interruptible(lambda: 41 + 1) == 42
    with pytest.raises(ZeroDivisionError):
        interruptible(lambda: 1 / 0)
    timer = threading.Timer(0.2, _thread.interrupt_main)  # as SIGINT would, in the main thread
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            interruptible(lambda: time.sleep(3.0))  # (a C call that lets go of the GIL, as ctypes does)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 1.5
