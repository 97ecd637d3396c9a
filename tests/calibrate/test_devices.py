"""Calibration on a device other than this CPU: the queued timer, the framework bench,
and the errors where there is no GPU."""

import numpy as np
import pytest

from gnnsim.calibrate import bench, timing
from gnnsim.errors import GnnsimError


def test_queued_timer_divides_each_batch_by_its_calls(monkeypatch):
    """With a clock that advances 1 ms per call and nothing per sync, every call is 1 ms,
    and the device is waited for once per batch, not once per call."""
    clock = {"now": 0.0, "calls": 0, "syncs": 0}

    def call():
        clock["now"] += 1e-3
        clock["calls"] += 1

    def sync():
        clock["syncs"] += 1

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["now"])
    mean, cv = timing.mean_time_queued(call, repeats=4, sync=sync)
    assert mean == pytest.approx(1e-3) and cv == pytest.approx(0.0, abs=1e-9)
    inner = int(timing.SHAPE_BUDGET_S / 4 / 1e-3)
    assert clock["calls"] == 3 + 1 + 4 * inner  # warm-up, the probe, then the batches
    assert clock["syncs"] == 2 + 4


def test_cuda_calibration_without_a_gpu_says_what_to_do(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from gnnsim.calibrate.run import calibrate

    with pytest.raises(GnnsimError, match="--device cpu"):
        calibrate(device="cuda", out=tmp_path / "gpu.yaml")
    with pytest.raises(GnnsimError, match="cpu or cuda"):
        calibrate(device="tpu", out=tmp_path / "tpu.yaml")
    assert not (tmp_path / "gpu.yaml").exists()


def test_tiny_blocks_are_valid_sampler_blocks():
    blocks = bench.tiny_blocks(seeds=8, fanout=2)
    assert [b.num_dst for b in blocks] == [24, 8]
    assert blocks[0].num_dst == blocks[1].num_src  # a layer's destinations are the next one's sources
    for b in blocks:
        assert b.edge_src.max() < b.num_src and b.edge_dst.max() < b.num_dst
        assert np.bincount(b.edge_dst, minlength=b.num_dst).tolist() == [2] * b.num_dst


def test_framework_bench_times_every_model_with_its_workload_kernels():
    pytest.importorskip("torch")
    from gnnsim.workload.models import get_model

    measured = bench.bench_framework(repeats=2)
    assert set(measured) == set(bench.FRAMEWORK_MODELS)
    shapes = [(b.num_src, b.num_dst, b.num_edges) for b in bench.tiny_blocks()]
    for name, by_stage in measured.items():
        seconds, kernels = by_stage["forward"]
        assert seconds > 0 and len(kernels) == len(get_model(name).forward_kernels(
            shapes, [(32, 32), (32, 8)], 4, 2))
        assert by_stage["backward"][0] > 0 and by_stage["backward"][1]
