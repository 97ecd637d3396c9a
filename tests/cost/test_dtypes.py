"""model.dtype and graph.feature_dtype: GEMMs at the dtype's peak, bytes by hand."""

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.cost.dtypes import cluster_for_dtype, device_for_dtype, dtype_speedup
from gnnsim.cost.model import kernel_time
from gnnsim.errors import ScenarioError
from gnnsim.graph.build import build_graph
from gnnsim.hardware.profiles import load_cluster, load_device
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for, simulate
from gnnsim.workload import kernels as m
from gnnsim.workload.builder import build_workload

A100 = load_device("a100-sxm4-80gb")
BASE = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16},
        "training": {"mode": "single-node-multigpu", "batch_size": 64, "fanouts": [4, 3],
                     "cache": {"policy": "degree", "budget_fraction": 0.1}},
        "simulation": {"iterations": 2}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 2}}


def workload(model=None, graph=None):
    s = scenario_from_dict({**BASE, "model": model or {}, "graph": {**BASE["graph"], **(graph or {})}})
    g, c = build_graph(s), cluster_for(s)
    return s, build_workload(s, g, partition_graph(g, s.partition.method, c.num_trainers, seed=0), c)


def test_gemm_runs_at_the_dtype_peak_by_hand():
    # A100 datasheet: FP32 19.5, TF32 156, BF16 312 TFLOP/s; the profile's gemm reaches 0.6 of peak
    assert dtype_speedup(A100, "tf32") == 8.0 and dtype_speedup(A100, "bfloat16") == 16.0
    big = m.gemm(4096, 4096, 4096, dtype_bytes=2)
    flops = 2 * 4096**3
    bf16 = device_for_dtype(A100, "bfloat16")
    assert kernel_time(bf16.kernel("gemm"), big) == pytest.approx(8e-6 + flops / (312e12 * 0.6))
    assert kernel_time(A100.kernel("gemm"), big) == pytest.approx(8e-6 + flops / (19.5e12 * 0.6))
    # memory-bound classes keep their rates (their bytes shrink instead)
    assert bf16.kernel("aggregate") == A100.kernel("aggregate") and bf16.kernel("gemm_tn").flops_per_s == pytest.approx(
        A100.kernel("gemm").flops_per_s * 16)
    assert device_for_dtype(A100, "float32") is A100


def test_a_device_without_the_dtype_peak_is_an_error_naming_both():
    v100 = load_cluster("dgx1-v100-1")
    with pytest.raises(ScenarioError, match=r"model.dtype: 'bfloat16'.*'v100-sxm2-(16|32)gb'.*peak_tflops.bfloat16"):
        cluster_for_dtype(v100, "bfloat16")
    with pytest.raises(ScenarioError, match="x86-core.*float16"):
        cluster_for(scenario_from_dict({"model": {"dtype": "float16"}}))


def test_mixed_precision_halves_activations_not_parameters():
    s32, w32 = workload()
    s16, w16 = workload({"dtype": "bfloat16"})
    for it in range(w32.iterations):
        a, b = w32.tasks[it][0], w16.tasks[it][0]
        agg32 = [k for t in a if t.stage == "forward" for k in t.kernels if k.cls == "aggregate"]
        agg16 = [k for t in b if t.stage == "forward" for k in t.kernels if k.cls == "aggregate"]
        assert [k.bytes / 2 for k in agg32] == [k.bytes for k in agg16]
        ar32, ar16 = (next(t for t in chain if t.stage == "allreduce") for chain in (a, b))
        assert ar32.bytes == ar16.bytes == 4 * w32.param_count  # float32 gradients either way
    mem32, mem16 = w32.memory["by_category"], w16.memory["by_category"]
    assert mem16["parameters"] == mem32["parameters"] == 4 * w32.param_count
    assert mem16["activations"] * 2 == mem32["activations"]
    assert s16.to_dict()["model"]["dtype"] == "bfloat16"


def test_feature_dtype_scales_rows_cache_and_adds_a_cast():
    _, w32 = workload()
    s8, w8 = workload(graph={"feature_dtype": "int8"})
    _, w16 = workload({"dtype": "float16"}, {"feature_dtype": "float16"})
    for it in range(w32.iterations):
        f32, f8 = (next(t for t in w.tasks[it][0] if t.stage == "fetch") for w in (w32, w8))
        assert (f32.rows.row_bytes, f8.rows.row_bytes) == (16 * 4, 16 * 1)
        h32, h8 = (next(t for t in w.tasks[it][0] if t.stage == "h2d") for w in (w32, w8))
        assert f8.rows.local_rows == f32.rows.local_rows
        cast = next(t for t in w8.tasks[it][0] if t.stage == "forward").kernels[0]
        inputs = f32.rows.local_rows + f32.rows.cached_rows  # every input row is dequantized: 1 byte read, 4 written
        assert cast.name == "L0.features.cast" and cast.bytes == inputs * 16 * (1 + 4)
        assert all(k.name != "L0.features.cast" for t in w32.tasks[it][0] + w16.tasks[it][0] for k in t.kernels)
        assert h32.bytes - h8.bytes >= f32.rows.local_rows * 16 * 3  # the rows' copy shrinks by 3 bytes a feature
    assert w8.memory["by_category"]["cached_features"] * 4 == w32.memory["by_category"]["cached_features"]
    assert s8.to_dict()["graph"]["feature_dtype"] == "int8"
    assert "feature_dtype" not in scenario_from_dict(BASE).to_dict()["graph"]  # older results stay byte-identical


def test_bfloat16_makes_a_gpu_iteration_faster():
    # (bfloat16 rows: no cast, whose launch would outweigh the GEMMs' gain on this tiny batch)
    fast = simulate(scenario_from_dict({**BASE, "model": {"dtype": "bfloat16", "hidden_dim": 512},
                                        "graph": {**BASE["graph"], "feature_dtype": "bfloat16"}}), sensitivity=False)
    slow = simulate(scenario_from_dict({**BASE, "model": {"hidden_dim": 512}}), sensitivity=False)
    assert fast.analysis.breakdown["forward"]["time_s"] < slow.analysis.breakdown["forward"]["time_s"]
