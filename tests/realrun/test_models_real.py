"""The real GCN, GAT and GIN: parameter counts agree with the simulator's, gradients
flow, and short 2-rank gloo runs train GCN and GAT mini-batch and GraphSAGE full-batch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gnnsim.config import scenario_from_dict  # noqa: E402 (after the torch check)
from gnnsim.realrun.blocks import block_tensors  # noqa: E402
from gnnsim.realrun.models import GATLayer, build_model  # noqa: E402
from gnnsim.workload.kernels import layer_dims  # noqa: E402
from gnnsim.workload.models import get_model  # noqa: E402
from gnnsim.workload.sampler import sample_minibatch  # noqa: E402


@pytest.mark.parametrize("name", ["graphsage", "gcn", "gat", "gin"])
@pytest.mark.parametrize("dims", [(16, 8, 3, 2), (6, 12, 4, 3)])  # in, hidden, out, layers (both GCN orders)
def test_torch_parameter_count_equals_simulator(name, dims):
    in_dim, hidden, out, layers = dims
    model = build_model(name, in_dim, hidden, out, layers, heads=2 if hidden % 2 == 0 else 1)
    spec = get_model(name)
    heads = 2 if hidden % 2 == 0 else 1
    assert sum(p.numel() for p in model.parameters()) == spec.param_count(layer_dims(in_dim, hidden, out, layers), heads)
    assert len(list(model.parameters())) == spec.param_tensors(layers)


@pytest.mark.parametrize("name", ["gcn", "gat", "gin"])
def test_forward_backward_on_sampled_blocks(path_graph, name):
    mb = sample_minibatch(path_graph.indptr, path_graph.indices, np.array([0, 4]), [2, 2], np.random.default_rng(0))
    torch.manual_seed(0)
    model = build_model(name, 4, 8, 2, 2, heads=2)
    x = torch.randn(mb.input_nodes.size, 4)
    out = model(block_tensors(mb.blocks), x)
    assert out.shape == (2, 2)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_gat_attention_is_a_softmax_over_in_edges():
    # one destination with three in-edges; equal scores -> the output is the mean of the messages
    layer = GATLayer(2, 2, last=True, heads=1)
    with torch.no_grad():
        layer.fc.weight.copy_(torch.eye(2))
        layer.attn_l.zero_()
        layer.attn_r.zero_()
    h = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])
    out = layer(h, torch.tensor([1, 2, 3]), torch.tensor([0, 0, 0]), 1)
    assert torch.allclose(out, torch.tensor([[2.0, 2.0]]))


TINY = {
    "graph": {"num_nodes": 1500, "num_communities": 4, "avg_degree": 6, "feature_dim": 16, "num_classes": 4},
    "partition": {"method": "metis"},
    "model": {"hidden_dim": 16},
    "training": {"batch_size": 64, "fanouts": [4, 3]},
    "cluster": {"profile": "localhost-cpu"},
    "simulation": {"iterations": 2, "warmup_iterations": 1, "seed": 0},
}


def _real(extra_model=None, extra_training=None):
    from gnnsim.realrun.launch import run_real

    data = {**TINY, "model": {**TINY["model"], **(extra_model or {})},
            "training": {**TINY["training"], **(extra_training or {})}}
    return run_real(scenario_from_dict(data), ranks=2, timeout_s=180, progress=lambda *a, **k: None)


@pytest.mark.realrun
@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_real_minibatch_gcn_and_gat(name):
    run = _real({"name": name, "heads": 2})
    for rank in run.ranks:
        assert len(rank["iterations"]) == 2
        for it in rank["iterations"]:
            assert set(it["stages"]) == {"sample", "fetch", "forward", "backward", "allreduce", "optimizer"}
            assert np.isfinite(it["loss"])
            # each stage's page faults are counted (fresh pages; none can be negative)
            assert set(it["page_faults"]) == set(it["stages"])
            assert all(isinstance(n, int) and n >= 0 for n in it["page_faults"].values())
    assert set(run.page_faults()) == set(run.breakdown())


@pytest.mark.realrun
def test_real_fullbatch_graphsage_times_halo():
    run = _real(extra_training={"mode": "full-batch"})
    for rank in run.ranks:
        assert rank["iterations_per_epoch"] == 1
        for it in rank["iterations"]:
            assert set(it["stages"]) == {"halo", "forward", "backward", "allreduce", "optimizer"}
            assert it["stages"]["halo"] > 0 and it["rows_remote"] > 0 and np.isfinite(it["loss"])
            # the halo exchange's faults fall in the layers around it
            assert set(it["page_faults"]) == {"forward", "backward", "allreduce", "optimizer"}
    assert "page faults/iter" in run.summary()


@pytest.mark.realrun
def test_real_run_refuses_what_only_the_simulator_models():
    from gnnsim.errors import RealRunError

    with pytest.raises(RealRunError, match="cluster-gcn"):
        _real(extra_training={"sampler": "cluster-gcn"})
