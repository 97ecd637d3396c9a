import numpy as np

from gnnsim.config import scenario_from_dict
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for
from gnnsim.workload.builder import build_workload, rank_minibatches, rank_seeds

SMALL = {"graph": {"num_nodes": 3000, "num_communities": 4, "avg_degree": 6},
         "training": {"batch_size": 64, "fanouts": [4, 3]}, "simulation": {"iterations": 4}}


def _setup(extra=None):
    s = scenario_from_dict({**SMALL, **(extra or {})})
    g = build_graph(s)
    c = cluster_for(s)
    p = partition_graph(g, s.partition.method, c.num_trainers, seed=0)
    return s, g, c, p


def test_seeds_are_own_partition_train_nodes():
    s, g, c, p = _setup()
    seeds = rank_seeds(g, p, c.num_trainers)
    assert sum(x.size for x in seeds) == g.train_ids.size
    for r, x in enumerate(seeds):
        assert np.all(p.assignment[x] == r)


def test_fetch_rows_match_brute_force_ownership():
    s, g, c, p = _setup()
    w = build_workload(s, g, p, c)
    seeds = rank_seeds(g, p, c.num_trainers)
    for r in range(c.num_trainers):
        mbs = rank_minibatches(g, seeds[r], r, s, w.iterations, w.iterations_per_epoch)
        for it, mb in enumerate(mbs):
            fetch = next(t for t in w.tasks[it][r] if t.stage == "fetch")
            owners = [int(p.assignment[v]) for v in mb.input_nodes.tolist()]  # brute force
            assert fetch.rows.local_rows == owners.count(r)
            assert list(fetch.rows.rows_from) == [owners.count(q) for q in range(c.num_trainers)]
            assert fetch.bytes == (len(owners) - owners.count(r)) * g.feature_dim * 4


def test_bytes_sent_equal_bytes_received():
    s, g, c, p = _setup()
    w = build_workload(s, g, p, c)
    for it in range(w.iterations):
        rows = np.array([next(t for t in w.tasks[it][r] if t.stage == "fetch").rows.rows_from for r in range(w.num_ranks)])
        np.fill_diagonal(rows, 0)
        assert rows.sum(axis=1).sum() == rows.sum(axis=0).sum()  # requested = served


def test_iterations_per_epoch_is_slowest_trainer():
    s, g, c, p = _setup()
    w = build_workload(s, g, p, c)
    assert w.iterations_per_epoch == max(-(-n // 64) for n in w.train_per_rank)
    assert w.iterations == min(4, w.iterations_per_epoch)


def test_the_gradient_allreduce_carries_its_copies_only_where_there_is_something_to_average():
    for extra, ranks in (({}, None), ({"cluster": {"trainers_per_node": 1}}, 1),
                         ({"training": {"mode": "full-batch", "fanouts": [4, 3]}, "cluster": {"trainers_per_node": 1}}, 1)):
        s, g, c, p = _setup(extra)
        assert ranks is None or c.num_trainers == ranks
        w = build_workload(s, g, p, c)
        ar = next(t for t in w.tasks[0][0] if t.stage == "allreduce")
        assert ar.bytes == w.param_count * 4
        if c.num_trainers == 1:
            assert ar.kernels == ()  # a lone trainer averages nothing (worker.allreduce_gradients returns)
        else:
            # every gradient read and written into the flat buffer, averaged in place, copied back per tensor
            by = {name: sum(k.bytes for k in ar.kernels if k.name == name) for name in ("grad.pack", "grad.average")}
            unpack = [k.bytes for k in ar.kernels if k.name == "grad.unpack"]
            assert by == {"grad.pack": 8.0 * w.param_count, "grad.average": 8.0 * w.param_count}
            assert 8.0 * (w.param_count - len(unpack)) <= sum(unpack) <= 8.0 * w.param_count
