"""The oversubscribed collective benchmark: its processes share the cores, its fit recovers alpha-beta."""

from __future__ import annotations

import os

import pytest

from gnnsim.calibrate import measure


def test_oversubscribed_block_recovers_alpha_beta_on_shared_cores(monkeypatch):
    alpha_ar, alpha_a2a, bw = 450e-6, 1000e-6, 1e9
    seen = {}

    def fake_collectives(world, quick, crowded=False):
        seen["world"], seen["crowded"] = world, crowded
        seen["cores"] = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        sizes = [2.0**e for e in (10, 14, 18, 22)]
        ar = [[s, 2 * (world - 1) * alpha_ar + 2 * (world - 1) / world * s / bw] for s in sizes]
        a2a = [[s, (world - 1) * alpha_a2a + s / bw] for s in sizes]
        return {"allreduce": [r + [r[1]] for r in ar], "alltoall": [r + [r[1]] for r in a2a], "wakeup": []}

    monkeypatch.setattr(measure, "run_collectives", fake_collectives)
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    residuals = {}
    block = measure._oversubscribed(2, quick=True, residuals=residuals, progress=lambda *a, **k: None)
    assert seen["world"] == 4 and seen["crowded"] and block["processes"] == 4 and block["cores"] == 2
    if before is not None:  # the benchmark ran on the first 2 cores, and this process got its own back
        assert len(seen["cores"]) == min(2, len(before)) and os.sched_getaffinity(0) == before
    assert block["allreduce"]["alpha_us"] == pytest.approx(450.0, rel=1e-3)
    assert block["intra_link"]["latency_us"] == pytest.approx(1000.0, rel=1e-3)
    assert block["intra_link"]["bw_gbps"] == pytest.approx(1.0, rel=1e-3)
    assert set(residuals) == {"allreduce_oversubscribed", "alltoall_oversubscribed"}
