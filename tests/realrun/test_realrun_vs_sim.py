"""One small real 2-rank gloo run (loopback only), compared with its simulation.

The profile is calibrated in the same test session from micro-benchmarks, never from the
run it is compared with. The bound is loose on purpose: it catches a broken model or
trainer (errors of 2x and more), not noise.
"""

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")  # the real ranks run torch

from gnnsim.config import scenario_from_dict
from gnnsim.errors import RealRunError

pytestmark = pytest.mark.realrun

TINY = {
    "name": "tiny-real",
    "graph": {"num_nodes": 8000, "num_communities": 4, "avg_degree": 8, "feature_dim": 64, "num_classes": 4,
              "train_fraction": 0.5},
    "partition": {"method": "metis"},
    "model": {"hidden_dim": 64},
    "training": {"batch_size": 256, "fanouts": [8, 4]},
    "cluster": {"profile": "localhost-cpu", "device_profile": "calibrated/ci"},
    "simulation": {"iterations": 8, "warmup_iterations": 2, "seed": 1},
}
ITERATION_ERROR_BOUND = 0.6  # a broken model or trainer is off by 2x and more


@pytest.fixture(scope="module")
def calibrated_root(tmp_path_factory):
    import os

    from gnnsim.calibrate.run import calibrate
    from gnnsim.hardware.profiles import profile_root

    root = tmp_path_factory.mktemp("hw") / "hwprofiles"
    shutil.copytree(profile_root(), root)
    old = os.environ.get("GNNSIM_HWPROFILES")
    os.environ["GNNSIM_HWPROFILES"] = str(root)
    calibrate(device="cpu", out=root / "calibrated" / "ci.yaml", quick=True, progress=lambda *a, **k: None)
    yield root
    if old is None:
        os.environ.pop("GNNSIM_HWPROFILES", None)
    else:
        os.environ["GNNSIM_HWPROFILES"] = old


def test_real_run_trains_and_matches_simulation(calibrated_root):
    from gnnsim.validation.compare import validate

    report = validate(scenario_from_dict(TINY), ranks=2, timeout_s=300, progress=lambda *a, **k: None)
    measured = report.measured
    assert set(measured["breakdown"]) == {"sample", "fetch", "forward", "backward", "allreduce", "optimizer"}
    assert all(v["time_s"] > 0 for v in measured["breakdown"].values())
    assert abs(report.relative_error["iteration_time"]) < ITERATION_ERROR_BOUND, report.table()


def test_real_run_reports_per_rank_iterations_and_remote_rows(calibrated_root):
    from gnnsim.realrun.launch import run_real

    run = run_real(scenario_from_dict({**TINY, "partition": {"method": "random"}}), ranks=2, timeout_s=300,
                   progress=lambda *a, **k: None)
    assert len(run.ranks) == 2
    for rank in run.ranks:
        assert len(rank["iterations"]) == TINY["simulation"]["iterations"]
        # a random partition leaves about half of every batch's inputs on the other rank
        remote = np.mean([it["rows_remote"] / it["input_nodes"] for it in rank["iterations"]])
        assert 0.3 < remote < 0.7


def test_crashing_rank_is_reported_and_group_killed(calibrated_root):
    from gnnsim.realrun.launch import run_real

    bad = {**TINY, "graph": {**TINY["graph"], "source": "edgelist", "path": "/nonexistent/edges.txt"}}
    with pytest.raises(RealRunError, match="rank 0"):
        run_real(scenario_from_dict(bad), ranks=2, timeout_s=60, progress=lambda *a, **k: None)
