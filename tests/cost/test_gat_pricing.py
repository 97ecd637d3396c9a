"""GAT on a GPU is priced for its edge softmax and messages, not like GCN: both
forward passes of one hidden layer on one fixed block worked out by hand on the A100's
profile rates (nominal efficiencies of hwprofiles/devices/a100-sxm4-80gb.yaml)."""

import pytest

from gnnsim.cost.model import kernel_time
from gnnsim.hardware.profiles import load_device
from gnnsim.workload.models import get_model

A100 = load_device("a100-sxm4-80gb")
LAUNCH = 8e-6  # every class's launch_us
GEMM_FLOPS, GEMM_BW = 19.5e12 * 0.6, 2039e9 * 0.7
ELEM_FLOPS, ELEM_BW = 19.5e12 * 0.3, 2039e9 * 0.7
AGG_FLOPS, AGG_BW = 19.5e12 * 0.3, 2039e9 * 0.5
GATHER_BW = 2039e9 * 0.6
NS, ND, NE = 200_000, 20_000, 2_000_000  # the hidden layer's block: sources, destinations, edges
I = O = 64
H = 4  # heads of width O / H, concatenated: F = 64 columns
F = O


def elem(elements, reads=1, writes=1, flops_per=1.0):
    return LAUNCH + max(flops_per * elements / ELEM_FLOPS, 4 * elements * (reads + writes) / ELEM_BW)


def agg(edges, dst, width):
    return LAUNCH + max(edges * width / AGG_FLOPS, 4 * width * (3 * edges + dst) / AGG_BW)


def gath(rows, width):
    return LAUNCH + 4 * rows * width * 2 / GATHER_BW


def gemm(m, k, n):
    return LAUNCH + max(2 * m * k * n / GEMM_FLOPS, 4 * (m * k + k * n + m * n) / GEMM_BW)


def layer0_time(name):
    kernels = get_model(name).forward_kernels([(NS, ND, NE)] * 2, [(I, O), (O, 8)], heads=H)
    return sum(kernel_time(A100.kernel(k.cls), k) for k in kernels if k.name.startswith("L0."))


# GAT's work on the edges beyond the aggregation it shares with GCN: the score
# leaky_relu(el[src] + er[dst]) (two gathers to the edges, an add, the leaky ReLU), the
# softmax's max, its gather back, shift, exp, sum, its gather back and division per edge
# and head, and each message weighted by its attention
GAT_EDGE_EXTRA = (2 * gath(NE, H) + elem(NE * H, reads=2) + elem(NE * H)
                  + agg(NE, ND, H) + gath(NE, H) + elem(NE * H, reads=2) + elem(NE * H)
                  + agg(NE, ND, H) + gath(NE, H) + elem(NE * H, reads=2) + elem(NE * F, reads=2))
# the projection, the attention terms (z * a).sum(-1) as a multiply and a sum, the
# aggregation, bias and ELU
GAT_OTHER = (gemm(NS, I, F) + elem(NS * F) + elem(NS * F, writes=0) + elem(ND * F) + elem(ND * F, writes=0)
             + agg(NE, ND, F) + elem(ND * F, reads=2) + elem(ND * F, flops_per=3))
# GCN (DGL GraphConv, norm both; i == o: aggregate first at width I): degrees and norms, aggregation, linear
GCN = (2 * elem(NE, writes=0) + 3 * elem(NS) + 3 * elem(ND) + elem(NS * I, reads=2) + agg(NE, ND, I)
       + elem(ND * I, reads=2) + gemm(ND, I, O) + elem(ND * O, reads=2) + elem(ND * O))


def test_gat_and_gcn_layers_by_hand():
    assert layer0_time("gcn") == pytest.approx(GCN, rel=1e-12)
    assert layer0_time("gat") == pytest.approx(GAT_EDGE_EXTRA + GAT_OTHER, rel=1e-12)


def test_gat_costs_more_than_gcn_by_its_edge_work():
    extra = layer0_time("gat") - layer0_time("gcn")
    # (3 x 12 B + 2 x 8 B) x NE x H + 12 B x NE x F elementwise, 4 x 8 B x NE x H gathered
    # and 2 x 4 B x H (3 NE + ND) scatter bytes
    edge_bytes_s = ((3 * 12 + 2 * 8) * NE * H + 12 * NE * F) / ELEM_BW + 4 * 8 * NE * H / GATHER_BW \
        + 2 * 4 * H * (3 * NE + ND) / AGG_BW
    assert GAT_EDGE_EXTRA == pytest.approx(edge_bytes_s + 12 * LAUNCH)
    assert extra == pytest.approx(GAT_EDGE_EXTRA + GAT_OTHER - GCN, rel=1e-12)
    assert extra > 0.9 * GAT_EDGE_EXTRA > 0  # the edge softmax and messages are what GAT pays for
    # 1,952 MB at 1,427.3 GB/s (1,368 us) + 256 MB at 1,223.4 GB/s (209 us) + 192.6 MB at 1,019.5 GB/s (189 us)
    assert round(edge_bytes_s * 1e6) == 1766
