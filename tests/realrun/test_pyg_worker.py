"""The standard PyG trainer (realrun --trainer pyg): its sampler against PyG's own code,
and a real two-rank run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gnnsim.config import load_scenario
from gnnsim.errors import RealRunError
from gnnsim.realrun.pyg_worker import worker_module
from gnnsim.workload.frameworks import layer_shapes, pyg_minibatch

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "examples/validate-small.yaml")
PYG = ["training.framework=pyg", "training.mode=single-node-multigpu", "graph.num_nodes=2000",
       "simulation.iterations=2", "simulation.warmup_iterations=1", "training.batch_size=64"]

# 0 <- {1, 2}; 1 <- {3}; 2 <- {3, 4}
INDPTR = np.array([0, 2, 3, 5, 5, 5])
INDICES = np.array([1, 2, 3, 3, 4])


def _output():
    from torch_geometric.sampler import NodeSamplerInput

    from gnnsim.realrun.pyg_worker import sampler_class

    sampler = sampler_class()(INDPTR, INDICES, [None, None], False, np.random.default_rng(0))
    return sampler.sample_from_nodes(NodeSamplerInput(input_id=torch.tensor([0]), node=torch.tensor([0])))


def test_the_sampler_speaks_pyg_by_hand():
    out = _output()
    assert out.node.tolist() == [0, 1, 2, 3, 4]  # seed first, then hop 1's new nodes, then hop 2's
    # hop 1: 1 -> 0, 2 -> 0; hop 2 expands only hop 1's new nodes 1 and 2: 3 -> 1, 3 -> 2, 4 -> 2
    assert list(zip(out.row.tolist(), out.col.tolist())) == [(1, 0), (2, 0), (3, 1), (3, 2), (4, 2)]
    assert out.num_sampled_nodes == [1, 2, 2] and out.num_sampled_edges == [2, 3]


def test_pyg_itself_trims_and_computes_what_the_workload_prices():
    """PyG's trim_to_layer and SAGEConv on the sampler's output give the shapes that
    gnnsim.workload.frameworks prices for framework pyg."""
    from torch_geometric.nn import SAGEConv
    from torch_geometric.utils import trim_to_layer

    out = _output()
    x, edge_index = torch.randn(5, 8), torch.stack([out.row, out.col])
    mb = pyg_minibatch(INDPTR, INDICES, np.array([0]), [None, None], np.random.default_rng(0))
    expected = layer_shapes(mb, "pyg", trim_to_layer=True)
    assert expected == [(5, 5, 5), (3, 3, 2)]
    assert SAGEConv(8, 4)(x, edge_index).shape[0] == layer_shapes(mb, "pyg")[0][1] == 5
    for layer, (n_src, n_dst, n_edges) in enumerate(expected):
        x_l, e_l, _ = trim_to_layer(layer, out.num_sampled_nodes, out.num_sampled_edges, x, edge_index)
        assert (x_l.shape[0], e_l.shape[1]) == (n_src, n_edges)
        assert SAGEConv(8, 4)(x_l, e_l).shape[0] == n_dst


def test_the_trainer_refuses_what_it_cannot_run():
    with pytest.raises(RealRunError, match="training.framework: pyg"):
        worker_module("pyg", load_scenario(SCENARIO))
    with pytest.raises(RealRunError, match="single-node-multigpu"):
        worker_module("pyg", load_scenario(SCENARIO, ["training.framework=pyg"]))
    assert worker_module("pyg", load_scenario(SCENARIO, PYG)) == "gnnsim.realrun.pyg_worker"
    assert worker_module("torch", load_scenario(SCENARIO)) == "gnnsim.realrun.worker"


@pytest.mark.realrun
def test_a_real_two_rank_pyg_run():
    from gnnsim.realrun.launch import run_real

    scenario = load_scenario(SCENARIO, PYG + ["training.pyg_trim_to_layer=true"])  # (the plain call is the default)
    run = run_real(scenario, ranks=2, timeout_s=180, progress=lambda *_: None, trainer="pyg")
    assert [r["trainer"] for r in run.ranks] == ["pyg", "pyg"]
    for r in run.ranks:
        assert len(r["iterations"]) == 2
        for it in r["iterations"]:
            assert list(it["stages"]) == ["sample", "fetch", "forward", "backward", "allreduce", "optimizer"]
            assert it["stages"]["allreduce"] > 0 and it["stages"]["backward"] > 0
            # the all-reduce is carved out of backward: the stages add up to the iteration
            assert sum(it["stages"].values()) == pytest.approx(it["iteration_time_s"], rel=1e-6)
