"""The GPU paths of the real trainer that run without a GPU: what is refused, the
single-rank fetch, the block tensors; and the committed GPU runs' comparison."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.errors import RealRunError

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]

GPU = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16, "num_classes": 4},
       "training": {"batch_size": 64, "fanouts": [4, 2]},
       "cluster": {"profile": "dgx-h100-1", "trainers_per_node": 1}}


def scenario(**training):
    return scenario_from_dict({**GPU, "training": {**GPU["training"], **training}})


def test_what_the_gpu_trainer_runs_and_refuses():
    from gnnsim.realrun.worker import unsupported

    assert unsupported(scenario()) is None
    assert unsupported(scenario(cache={"policy": "degree", "budget_fraction": 0.5})) is None  # rows in GPU memory
    assert "full-batch" in unsupported(scenario(mode="full-batch"))
    cpu = scenario_from_dict({**GPU, "cluster": {"profile": "localhost-cpu"},
                              "training": {**GPU["training"], "cache": {"policy": "degree", "budget_fraction": 0.5}}})
    assert "GPU" in unsupported(cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_rank_without_a_gpu_names_the_fix():
    from gnnsim.realrun.worker import _device_for

    assert _device_for(0, False).type == "cpu"
    with pytest.raises(RealRunError, match="device_profile"):
        _device_for(0, True)


def test_single_rank_fetch_reads_every_row_in_place():
    from gnnsim.realrun.features import fetch_features, owner_positions

    assignment = np.zeros(50, dtype=np.int64)
    local = torch.arange(50 * 3, dtype=torch.float32).reshape(50, 3)
    wanted = np.array([7, 3, 3, 49, 0])
    x, n_local, n_remote = fetch_features(wanted, assignment, owner_positions(assignment, 1), local, 0, 1)
    assert torch.equal(x, local[torch.from_numpy(wanted)]) and (n_local, n_remote) == (5, 0)


def test_block_indices_then_degrees_equal_the_block_tensors():
    from gnnsim.calibrate.bench import tiny_blocks
    from gnnsim.realrun.blocks import block_indices, block_tensors, with_degrees

    blocks = tiny_blocks()
    for a, b in zip(with_degrees(block_indices(blocks)), block_tensors(blocks)):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2] and torch.equal(a[3], b[3])


def test_cpu_trainer_cache_fetch_is_the_plain_exchange():
    from gnnsim.realrun.worker import DeviceCache

    cache = DeviceCache(np.full(50, -1, dtype=np.int64), None, torch.device("cpu"))
    local = torch.randn(50, 4)
    cached, x, missing_at, n_local, _ = cache.fetch(np.array([4, 9, 1]), np.zeros(50, dtype=np.int64), np.arange(50),
                                                    local, 0, 1)
    assert cached is None
    assert torch.equal(x, local[[4, 9, 1]]) and missing_at.tolist() == [0, 1, 2] and n_local == 3


def test_committed_gpu_runs_are_compared_with_their_own_calibration():
    from gnnsim.validation.harness import compare_measured_runs
    from gnnsim.validation.markdown import cuda_results, results_markdown

    cuda = ROOT / "validation" / "cuda"
    results = compare_measured_runs(cuda / "scenarios", cuda / "measured")
    names = {r["name"] for r in results["scenarios"]}
    assert {"cuda-products-host-b1024", "cuda-products-gpu-b1024"} <= names
    for r in results["scenarios"]:
        assert r["device"] and r["device_profile"].startswith("calibrated/")
        assert set(r["report"]["measured"]["breakdown"]) >= {"sample", "fetch", "h2d", "forward", "backward"}
        assert "allreduce" not in r["report"]["relative_error"]  # one rank: the old runs timed a stage boundary
        assert r["report"]["predicted"]["iteration_time_s"] > 0
    errors = [abs(r["report"]["relative_error"]["iteration_time"]) for r in results["scenarios"]]
    assert results["accuracy"]["iteration_mape"] == pytest.approx(np.mean(errors))
    committed = cuda_results(ROOT / "validation" / "scenarios")
    assert committed is not None and "## CUDA runs" in "\n".join(
        results_markdown({**_minimal_results(), "scenarios": []}, committed).splitlines())


def _minimal_results():
    import json

    return json.loads((ROOT / "validation" / "results.json").read_text())


def test_gpu_profile_names_come_from_the_gpu():
    sys.path.insert(0, str(ROOT / "validation"))
    try:
        from run_cuda import gpu_slug
    finally:
        sys.path.pop(0)
    assert gpu_slug("NVIDIA H100 80GB HBM3") == "h100-80gb-hbm3"
    assert gpu_slug("Tesla V100-SXM2-32GB") == "v100-sxm2-32gb"
    assert gpu_slug("NVIDIA GeForce RTX 4090") == "rtx-4090"
