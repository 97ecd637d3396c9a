"""The training process's ``x[idx].to(device)`` (``training.loader.gather: main``) copies a
fresh pageable tensor: the driver stages it through a pinned buffer, so the copy runs at the
link's ``pageable_h2d_gbps``, not at the pinned rate a worker pool's pinned buffers get."""

from __future__ import annotations

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.hardware.profiles import load_link
from gnnsim.pipeline import simulate

SCENARIO = {"graph": {"source": "sbm", "num_nodes": 6000, "feature_dim": 4096},
            "partition": {"method": "random"},
            "training": {"mode": "single-node-multigpu", "batch_size": 256, "fanouts": [10, 5],
                         "prefetch_depth": 8},
            "cluster": {"profile": "pcie3-gpu-workstation-1", "trainers_per_node": 1},
            "simulation": {"iterations": 6}}


def _run(gather: str):
    data = {**SCENARIO, "training": {**SCENARIO["training"], "loader": {"workers": 4, "gather": gather}}}
    return simulate(scenario_from_dict(data), sensitivity=False)


def test_the_training_process_copies_its_rows_at_the_pageable_rate():
    link = load_link("pcie3-x16")
    assert link.pageable_h2d_gbps == 5.5 and link.pageable_bytes_per_s < link.bytes_per_s
    main = _run("main")
    spans = [s for s in main.timeline.spans if s.stage == "h2d"]
    assert spans and all(s.resource.endswith("/staging0") for s in spans)
    for s in spans:  # capped by its own staging copy: size / 5.5 GB/s plus the copies' latencies
        assert s.end_s - s.start_s == pytest.approx(s.bytes / 5.5e9, rel=0.02)
    assert main.analysis.bottleneck["resource"] == "pageable copy"


def test_a_worker_pools_pinned_buffers_copy_at_the_link_rate():
    pool = _run("workers")
    spans = [s for s in pool.timeline.spans if s.stage == "h2d"]
    assert spans and all("/loader" in s.resource for s in spans)
    for s in spans:
        assert s.end_s - s.start_s < 0.6 * s.bytes / 5.5e9  # 12 GB/s pinned


def test_a_link_without_a_pageable_figure_copies_at_its_pinned_rate():
    link = load_link("nvlink3")
    assert link.pageable_h2d_gbps == 0 and link.pageable_bytes_per_s == link.bytes_per_s
