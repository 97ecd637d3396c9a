"""The ``frameworks: pyg:`` block of a calibration: the fits by hand, the block read back
over the committed pyg profile, and the benchmarks on the real torch_geometric (tiny sizes)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from gnnsim.calibrate import pyg as cal
from gnnsim.hardware.software import load_software

ROOT = Path(__file__).resolve().parents[2]


def _layer_rows(fixed_s: float, per_element_s: float, per_row_s: float = 0.0) -> list[dict]:
    rows = []
    for elements, nodes in ((1e4, 5e3), (1e5, 2e4), (1e6, 6e5), (4e6, 1e6), (2e6, 2e6)):
        extra = cal.LAYERS * fixed_s + per_element_s * elements + per_row_s * nodes
        rows.append({"model": "gcn", "elements": {"forward": [elements, nodes], "backward": [elements / 2, nodes / 2]},
                     "extra": {"forward": extra, "backward": extra / 2},
                     "own": {"forward": 1e-3, "backward": 1e-3},
                     "pyg": {"forward": 1e-3 + extra, "backward": 1e-3 + extra / 2}})
    return rows


def test_layer_fit_recovers_fixed_and_element_terms():
    models, residuals = cal.fit_layers(_layer_rows(100e-6, 2e-9, 5e-9))
    gcn = models["gcn"]
    assert gcn["per_layer_forward_us"] == pytest.approx(100, rel=1e-3)
    assert gcn["per_element_forward_ns"] == pytest.approx(2, rel=1e-3)
    assert gcn["per_row_forward_ns"] == pytest.approx(5, rel=1e-3)
    assert residuals["pyg_gcn"]["fit_mape"] < 1e-3


def test_a_faster_backward_per_element_is_kept_negative_and_the_fixed_term_never_is():
    rows = _layer_rows(50e-6, -1e-9)
    models, _ = cal.fit_layers(rows)
    assert models["gcn"]["per_element_forward_ns"] == pytest.approx(-1, rel=1e-3)
    assert models["gcn"]["per_layer_forward_us"] >= 0


def test_loader_fit():
    rows = [{"nodes": n, "edges": e, "bare": 1e-3, "loader": 1e-3 + 200e-6 + 50e-9 * n + 10e-9 * e}
            for n, e in ((100, 300), (1000, 2000), (4000, 20000), (8000, 50000))]
    block, residuals = cal.fit_loader(rows)
    assert block["per_iteration_us"] == pytest.approx(200, rel=1e-3)
    assert block["loader_per_node_ns"] == pytest.approx(50, rel=1e-3)
    assert block["loader_per_edge_ns"] == pytest.approx(10, rel=1e-3)
    assert residuals["pyg_loader"]["fit_mape"] < 1e-3


SAMPLER = {"per_batch_us": 200.0, "per_node_ns": 80.0, "per_edge_ns": 10.0, "per_edge_doubling_ns": 2.0,
           "reference_nodes": 8000, "per_hop_us": 30.0, "per_draw_us": 10.0, "per_check_ns": 2.0}


def _sampler_rows(per_batch_s: float, scale: float) -> list[dict]:
    """Loader rows whose evicted bare sampler costs :data:`SAMPLER`'s per-batch and
    per-hop terms plus ``per_batch_s``, and ``scale`` times its node, edge, draw and
    check terms."""
    rows = []
    for nodes, edges, hops, draws, checks, graph in ((200, 900, 2, 10, 300.0, 8000), (1000, 5000, 2, 18, 4e3, 16000),
                                                     (3500, 18000, 2, 20, 1e4, 8000), (6000, 40000, 3, 30, 3e4, 32000)):
        doublings = np.log2(graph / 8000)
        scaled = 80e-9 * nodes + (10e-9 + 2e-9 * doublings) * edges + 10e-6 * draws + 2e-9 * checks
        rows.append({"evicted_counts": [nodes, edges, hops, draws, checks], "graph_nodes": graph,
                     "bare_evicted": 200e-6 + 30e-6 * hops + per_batch_s + scale * scaled})
    return rows


def test_sampler_scale_fit():
    """PyG's bare sampler over the node's sampler block: one scale on the node and edge
    terms (per batch and per hop unscaled); unscaled without the block or the timings."""
    block, residuals = cal.fit_sampler_scale(_sampler_rows(0.0, 1.4), SAMPLER)
    assert block == {"per_batch_us": 0.0, "node_scale": pytest.approx(1.4, rel=1e-3),
                     "edge_scale": pytest.approx(1.4, rel=1e-3)}
    assert residuals["pyg_sampler"]["fit_mape"] < 1e-3 < residuals["pyg_sampler"]["unscaled_mape"]
    unscaled = {"per_batch_us": 0.0, "node_scale": 1.0, "edge_scale": 1.0}
    assert cal.fit_sampler_scale(_sampler_rows(0.0, 1.4), None) == (unscaled, {})
    old_samples = [{k: v for k, v in r.items() if k != "bare_evicted"} for r in _sampler_rows(0.0, 1.4)]
    assert cal.fit_sampler_scale(old_samples, SAMPLER) == (unscaled, {})
    assert cal.pyg_block({"gcn": {}}, {}, "2.8.1", "test", block)["sampler"] == block
    # a per-batch difference the block cannot hold is spread over the scale, not dropped
    shifted, _ = cal.fit_sampler_scale(_sampler_rows(100e-6, 1.0), SAMPLER)
    assert shifted["node_scale"] > 1.0


@pytest.fixture
def calibrated_root(tmp_path, monkeypatch):
    """A copy of hwprofiles with a calibrated profile that measured PyG."""
    root = tmp_path / "hwprofiles"
    shutil.copytree(ROOT / "hwprofiles", root)
    models, _ = cal.fit_layers(_layer_rows(100e-6, 2e-9))
    block = cal.pyg_block({"graphsage": {"per_layer_forward_us": 7.0, "per_layer_backward_us": 3.0,
                                         "per_element_forward_ns": 0.0, "per_element_backward_ns": -0.5,
                                         "ddp_forward_us": 150.0, "ddp_backward_us": 400.0},
                           **models},
                          {"per_iteration_us": 250.0, "loader_per_node_ns": 60.0, "loader_per_edge_ns": 0.0},
                          "2.8.1", "gnnsim calibrate --device cpu on test")
    profile = yaml.safe_load((root / "calibrated" / "localhost.yaml").read_text())
    profile["frameworks"] = {"pyg": block}
    (root / "calibrated" / "cal.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    monkeypatch.setenv("GNNSIM_HWPROFILES", str(root))
    return root


def test_calibrated_pyg_numbers_replace_the_estimates(calibrated_root):
    estimate = load_software("pyg")
    sage = load_software("pyg", "calibrated/cal", "graphsage")
    gcn = load_software("pyg", "calibrated/cal", "gcn")
    assert sage.per_layer_forward_s == pytest.approx(7e-6) and sage.per_element_backward_s == pytest.approx(-0.5e-9)
    assert gcn.per_layer_forward_s == pytest.approx(100e-6) and gcn.per_element_forward_s == pytest.approx(2e-9)
    assert sage.per_iteration_s == pytest.approx(250e-6) and sage.loader_per_node_s == pytest.approx(60e-9)
    assert sage.sampler_edge_scale == 1.0 != estimate.sampler_edge_scale  # gnnsim's sampler under PyG's loader
    assert (sage.ddp_forward_s, sage.ddp_backward_s) == pytest.approx((150e-6, 400e-6))
    assert estimate.ddp_forward_s == 0.0  # no DDP numbers without a calibration
    assert sage.sources[0].basis == "calibrated" and "on test" in sage.sources[0].text
    # where the calibration has nothing (DGL; a profile without the block) the committed file holds
    assert load_software("dgl", "calibrated/cal") == load_software("dgl")
    assert load_software("pyg", "calibrated/localhost", "gcn").per_layer_forward_s == estimate.per_layer_forward_s
    assert estimate.worker_start_s == sage.worker_start_s  # the loader's worker start is not calibrated


def test_the_cost_model_charges_the_element_and_loader_terms(calibrated_root):
    from gnnsim.cost.model import CostModel
    from gnnsim.hardware.profiles import load_cluster
    from gnnsim.workload import kernels as m
    from gnnsim.workload.tasks import Kind, Sampling, Stage, Task

    cluster = load_cluster("localhost-cpu", device_profile="calibrated/cal")
    gcn = load_software("pyg", "calibrated/cal", "gcn")
    plain = CostModel(cluster)
    cost = CostModel(cluster).with_software(gcn, 2)
    task = Task(Stage.FORWARD, Kind.CPU_COMPUTE, kernels=(m.aggregate(1000, 100, 64), m.gemm(100, 64, 64)))
    extra = cost.compute_time(task) - plain.compute_time(task)
    assert extra == pytest.approx(2 * 100e-6 + 2e-9 * 1000 * 64, rel=1e-6)  # (fitted without a row term)
    sample = Task(Stage.SAMPLE, Kind.CPU_SAMPLE, sampling=Sampling(seeds=10, nodes=500, edges=2000))
    assert cost.sample_time(sample) - plain.sample_time(sample) == pytest.approx(250e-6 + 60e-9 * 500, rel=1e-6)


def test_benchmarks_run_on_the_real_pyg(monkeypatch):
    pytest.importorskip("torch_geometric")
    monkeypatch.setattr(cal, "LAYER_SIZES_QUICK", [(32, 96, 16)])
    monkeypatch.setattr(cal, "MIN_REPEATS", 1)
    monkeypatch.setattr(cal, "LOADER_BATCHES", [(16, [3, 2])])
    monkeypatch.setattr(cal, "LOADER_GRAPH_NODES", 500)
    from gnnsim.calibrate import ddp

    monkeypatch.setattr(ddp, "DDP_SIZE", (32, 96, 16))
    monkeypatch.setattr(ddp, "DDP_REPEATS", 3)
    samples, residuals = {}, {}

    class Progress:
        def __call__(self, *a, **k):
            pass

        def step(self):
            pass

    sampler = {"per_batch_us": 200.0, "per_node_ns": 80.0, "per_edge_ns": 10.0}
    block = cal.calibrate_pyg(True, 1, "cpu", Progress(), samples, residuals, "test", sampler)
    assert set(block["models"]) == set(cal.PYG_MODELS)
    assert {r["model"] for r in samples["pyg_layers"]} == set(cal.PYG_MODELS)
    assert all(r["pyg"]["forward"] > 0 and r["own"]["backward"] > 0 for r in samples["pyg_layers"])
    assert len(samples["pyg_loader"]) == 6 and all(r["loader"] > 0 for r in samples["pyg_loader"])
    assert block["overheads"]["per_iteration_us"] >= 0 and "pyg_loader" in residuals
    assert np.isfinite(block["models"]["gat"]["per_element_forward_ns"])
    assert all(r["bare_evicted"] > 0 and len(r["evicted_counts"]) == 5 for r in samples["pyg_loader"])
    assert block["sampler"]["node_scale"] == block["sampler"]["edge_scale"] > 0 and "pyg_sampler" in residuals
    # each model wrapped in DDP on a one-process gloo group, the group gone after
    import torch.distributed as dist

    assert all(block["models"][m]["ddp_backward_us"] >= 0 for m in cal.PYG_MODELS) and not dist.is_initialized()
    assert block["overheads"]["ddp_forward_us"] == block["models"]["graphsage"]["ddp_forward_us"]


def test_the_reference_gcn_runs_in_pyg_order():
    # PyG's GCNConv projects first at any widths: the torch model it is measured against
    # must too, or the fitted per-element term carries the input layer's aggregation gradient
    pytest.importorskip("torch_geometric")
    from gnnsim.realrun.layers import GCNLayer

    _, own = cal._models("gcn", 128, "cpu")  # 64 -> 128 -> 4: gnnsim's own order aggregates the input layer first
    layers = [m for m in own.modules() if isinstance(m, GCNLayer)]
    assert len(layers) == cal.LAYERS and all(layer.project_first for layer in layers)
    rows = cal.stage_elements("gcn", 100, 300, 128, 10)
    assert rows["backward"][0] == 300 * 128 + 300 * 4  # both layers' aggregation gradients, at their output widths
