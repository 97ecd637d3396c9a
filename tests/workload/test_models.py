"""Model registry: parameter counts and kernel FLOPs against hand-derived formulas."""

import pytest

from gnnsim.errors import ScenarioError
from gnnsim.workload import kernels as m
from gnnsim.workload.models import MODELS, get_model

BLOCK = (10, 4, 20)  # num_src, num_dst, num_edges


def flops(kernels):
    return sum(k.flops for k in kernels)


def test_param_counts_by_hand():
    dims = [(8, 4), (4, 2)]
    assert get_model("graphsage").param_count(dims) == (2 * 8 * 4 + 4) + (2 * 4 * 2 + 2)
    assert get_model("gcn").param_count(dims) == (8 * 4 + 4) + (4 * 2 + 2)
    assert get_model("gin").param_count(dims) == (8 * 4 + 4 + 4 * 4 + 4) + (4 * 2 + 2 + 2 * 2 + 2)
    # GAT, 2 heads: hidden layer heads of 4/2=2 concatenated (F=4): fc 8*4, attn 2*4, bias 4;
    # output layer averages 2 heads of width 2 (F=4): fc 4*4, attn 2*4, bias 2
    assert get_model("gat").param_count(dims, heads=2) == (32 + 8 + 4) + (16 + 8 + 2)


def test_graphsage_entry_is_the_existing_formula():
    dims = m.layer_dims(8, 4, 2, 2)
    blocks = [(30, 10, 50), BLOCK]
    spec = get_model("graphsage")
    assert spec.forward_kernels(blocks, dims) == m.sage_forward(blocks, dims)
    assert spec.backward_kernels(blocks, dims, 4, 2) == m.sage_backward(blocks, dims, 4, 2)
    assert spec.param_count(dims) == m.sage_param_count(8, 4, 2, 2)
    assert spec.param_tensors(2) == m.sage_param_tensors(2)


# each GCN layer counts its two degree norms: a bincount over the 20 edges and clamp, cast
# and power over the nodes, 20 + 3*10 for the 10 sources and 20 + 3*4 for the 4 destinations
GCN_DEGREES = 20 + 30 + 20 + 12


def test_gcn_forward_flops_project_first():
    # i=8 > o=2: gemm on all 10 sources (2*10*8*2), src norm 10*2, aggregate 20 edges x 2,
    # dst norm 4*2, bias 4*2 (output layer: no relu)
    assert flops(get_model("gcn").forward_kernels([BLOCK], [(8, 2)])) == 320 + 20 + 40 + 8 + 8 + GCN_DEGREES


def test_gcn_forward_flops_aggregate_first():
    # i=2 < o=8: src norm 10*2, aggregate 20*2, dst norm 4*2, gemm 2*4*2*8, bias 4*8
    assert flops(get_model("gcn").forward_kernels([BLOCK], [(2, 8)])) == 20 + 40 + 8 + 128 + 32 + GCN_DEGREES


def test_gin_forward_flops():
    # aggregate 20*8, self add 4*8, mlp0 2*4*8*2, bias 4*2, relu 4*2, mlp1 2*4*2*2, bias 4*2
    assert flops(get_model("gin").forward_kernels([BLOCK], [(8, 2)])) == 160 + 32 + 128 + 8 + 8 + 32 + 8


def test_gat_forward_flops():
    # output layer, 2 heads of width 2 (F=4): fc 2*10*8*4, attn terms 2*10*4 + 2*4*4, edge score
    # 2*20*2, softmax max 20*2, exp 2*20*2, sum 20*2, divide 20*2, message weight 20*4,
    # aggregate 20*4, head mean 4*4, bias 4*2
    expected = 640 + 80 + 32 + 80 + 40 + 80 + 40 + 40 + 80 + 80 + 16 + 8
    assert flops(get_model("gat").forward_kernels([BLOCK], [(8, 2)], heads=2)) == expected


def test_gat_softmax_uses_existing_kernel_classes():
    kernels = get_model("gat").forward_kernels([BLOCK], [(8, 2)], heads=2)
    by_name = {k.name: k for k in kernels}
    assert by_name["L0.softmax_max"].cls == "aggregate" and by_name["L0.softmax_sum"].cls == "aggregate"
    assert by_name["L0.softmax_exp"].cls == "elementwise"
    # an aggregate of width heads: edges*heads adds, 4 bytes * heads * (3*edges + dst)
    assert by_name["L0.softmax_sum"].flops == 20 * 2 and by_name["L0.softmax_sum"].bytes == 4 * 2 * (3 * 20 + 4)


def test_gat_gathers_every_per_node_term_to_the_edges():
    # el[src], er[dst], the softmax's max[dst] and sum[dst]: four row gathers of E rows of
    # width heads per layer (index reads, a new E x heads tensor), none priced as free reads
    kernels = get_model("gat").forward_kernels([BLOCK], [(8, 2)], heads=2)
    gathers = [k for k in kernels if k.cls == "gather"]
    assert sorted(k.name for k in gathers) == ["L0.attn_dst.gather", "L0.attn_src.gather", "L0.softmax_max.gather",
                                               "L0.softmax_sum.gather"]
    assert all(k.items == 20 and k.bytes == 2 * 4 * 20 * 2 and k.out_bytes == 4 * 20 * 2 for k in gathers)
    # the attention terms are a multiply into a new tensor and a sum over each head: two launches
    assert [k.name for k in kernels if k.name.startswith("L0.attn_src.")][:2] == ["L0.attn_src.mul", "L0.attn_src.sum"]


def _gat_edge_seconds(num_edges: int, heads: int) -> dict[str, float]:
    """Priced seconds of one output GAT layer's edge softmax and messages on a block of
    ``num_edges`` edges, on a device with no launch cost (1 GB/s, 10 ns a gathered row)."""
    from gnnsim.cost.model import kernel_time
    from gnnsim.hardware.cluster import KernelRate

    rate = KernelRate(launch_s=0.0, flops_per_s=float("inf"), bytes_per_s=1e9, per_item_s=1e-8)
    kernels = get_model("gat").forward_kernels([(100, 40, num_edges)], [(8, 16)], heads=heads)
    kernels += get_model("gat").backward_kernels([(100, 40, num_edges)], [(8, 16)], 40, 16, heads=heads)[1:]
    out = {"softmax": 0.0, "message": 0.0}
    for k in kernels:
        part = "softmax" if ".softmax" in k.name or ".gather" in k.name or ".edge_score" in k.name else (
            "message" if ".msg" in k.name or ".aggregate" in k.name else "")
        if part:
            out[part] += kernel_time(rate, k)
    return out


def test_gat_edge_softmax_and_messages_scale_with_edges_and_heads():
    base = _gat_edge_seconds(1000, 2)
    # every edge term is per edge: twice the edges, twice the time (destinations fixed, a small share)
    doubled = _gat_edge_seconds(2000, 2)
    assert 1.9 < doubled["softmax"] / base["softmax"] <= 2.0
    assert 1.9 < doubled["message"] / base["message"] <= 2.0
    # the output layer's heads each have width 16: twice the heads, twice the messages'
    # bytes (E x heads x 16) and twice the softmax's (E x heads), less its per-row gather cost
    more_heads = _gat_edge_seconds(1000, 4)
    assert 1.9 < more_heads["message"] / base["message"] <= 2.0
    assert 1.2 < more_heads["softmax"] / base["softmax"] < 2.0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernel_classes_and_layer_names(name):
    dims = m.layer_dims(8, 4, 2, 2)
    blocks = [(30, 10, 50), BLOCK]
    spec = get_model(name)
    fwd = spec.forward_kernels(blocks, dims, heads=2)
    bwd = spec.backward_kernels(blocks, dims, 4, 2, heads=2)
    allowed = {"gemm", "gemm_tn", "aggregate", "gather", "elementwise"}
    assert {k.cls for k in fwd + bwd} <= allowed
    assert all(k.name.startswith(("L0.", "L1.")) for k in fwd)
    assert bwd[0].name == "loss" and all(k.name.startswith(("L0.", "L1.")) for k in bwd[1:])
    # the input layer computes no gradient of its input (GIN's inner MLP still needs mlp1.dX)
    assert not any(k.name.startswith("L0.") and k.name.endswith(".dX") and k.name != "L0.mlp1.dX" for k in bwd)
    assert any(k.name.startswith("L1.") and k.name.endswith(".dX") for k in bwd)
    assert all(k.flops >= 0 and k.bytes > 0 for k in fwd + bwd)


def test_backward_weight_gradients_match_forward_gemms():
    # every forward GEMM (m x k) @ (k x n) has a weight gradient of the same FLOPs
    dims = m.layer_dims(8, 4, 2, 2)
    blocks = [(30, 10, 50), BLOCK]
    for name in MODELS:
        spec = get_model(name)
        fwd = sum(k.flops for k in spec.forward_kernels(blocks, dims, heads=2) if k.cls == "gemm")
        dw = sum(k.flops for k in spec.backward_kernels(blocks, dims, 4, 2, heads=2) if k.cls == "gemm_tn")
        assert fwd == dw, name


def test_unknown_model_names_the_choices():
    with pytest.raises(ScenarioError, match="gcn"):
        get_model("gcm")
