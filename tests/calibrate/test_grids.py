"""The calibration sweeps (kernels, and PyG's layers) cover the widths the validation suite's
models run, so the fitted rates interpolate there rather than extrapolate (a fit from widths
of 8 up priced a 4-class classifier's GEMMs and GCN's 4-wide aggregation 1.5-2x too slow)."""

from pathlib import Path

import pytest
import yaml

from gnnsim.calibrate import bench, pyg
from gnnsim.cost.model import gemm_rows
from gnnsim.workload.frameworks import framework_model
from gnnsim.workload.kernels import layer_dims
from gnnsim.workload.models import MODELS


def _within(value: float, grid: list[float]) -> bool:
    return min(grid) <= value <= max(grid)


@pytest.mark.parametrize("framework", ["torch", "pyg"])
@pytest.mark.parametrize("hidden", [64, 256])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_sweeps_span_the_suites_widths(name, hidden, framework):
    # the suite's graphs: 64 input features, 4 classes; GAT with 4 heads; two layers
    spec = framework_model(name, framework)
    shapes, dims = [(5000, 5000, 8000)] * 2, layer_dims(64, hidden, 4, 2)
    kernels = spec.forward_kernels(shapes, dims, 4, 4) + spec.backward_kernels(shapes, dims, 256, 4, 4, 4)
    for k in kernels:
        if k.cls == "gemm":
            assert _within(k.k_dim, [kn[0] for kn in bench.GEMM_KN]), k.name
            assert _within(k.n_dim, [kn[1] for kn in bench.GEMM_KN]), k.name
        elif k.cls == "gemm_tn":
            assert _within(gemm_rows(k.flops, k.k_dim, k.n_dim), [mn[0] for mn in bench.GEMM_TN_MN]), k.name
            assert _within(k.n_dim, [mn[1] for mn in bench.GEMM_TN_MN]), k.name
        elif k.cls == "aggregate":
            width = k.flops / k.items  # one add per edge and column
            assert _within(width, bench.AGGREGATE_DIMS), k.name


def test_the_narrowest_widths_are_swept():
    # a 4-class classifier: its outputs (n), its input gradient's inner size (k), its
    # weight gradient's rows (m), GCN's aggregation after its projection (width)
    assert min(n for _, n in bench.GEMM_KN) == 4 and min(k for k, _ in bench.GEMM_KN) == 4
    assert min(m for m, _ in bench.GEMM_TN_MN) == 4
    assert min(bench.AGGREGATE_DIMS) == 4


def test_the_pyg_layer_sweep_spans_the_suites_hidden_widths():
    root = Path(__file__).resolve().parents[2] / "validation" / "scenarios"
    hidden = {yaml.safe_load(path.read_text())["model"]["hidden_dim"] for path in root.glob("*.yaml")
              if (yaml.safe_load(path.read_text()).get("validation") or {}).get("trainer") == "pyg"}
    swept = [h for _, _, h in pyg.LAYER_SIZES]
    assert hidden and all(min(swept) <= h <= max(swept) for h in hidden), (hidden, swept)
