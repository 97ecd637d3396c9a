"""``gnnsim calibrate --refit``: a profile fitted again from recorded measurements."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from gnnsim.calibrate import bench
from gnnsim.calibrate.refit import kernel_samples, refit
from gnnsim.cli import main
from gnnsim.cost.model import kernel_time
from gnnsim.errors import GnnsimError, ProfileError
from gnnsim.hardware.profiles import KernelRate, device_from_mapping
from gnnsim.realrun.heap import MMAP_THRESHOLD_MAX_BYTES

ROOT = Path(__file__).resolve().parents[2]
H100_SAMPLES = ROOT / "validation/cuda/measured/calibration-samples.json"
LOCALHOST = ROOT / "hwprofiles/calibrated/localhost.yaml"

# the machine the synthetic measurements come from, timed with the heap in steady state:
# no cache tier, first touch on the outputs that glibc maps afresh (32 MiB and more)
TRUTH = KernelRate(launch_s=5e-6, flops_per_s=1e11, bytes_per_s=1e10, first_touch_s_per_byte=1e-10,
                   first_touch_above_bytes=MMAP_THRESHOLD_MAX_BYTES)
FRAMEWORK_S = 10e-6  # per kernel of a tiny step, beyond the kernels' own costs
SAMPLER = np.array([200e-6, 30e-9, 40e-9, 5e-9, 80e-6, 2e-6, 4e-9])  # per batch, node, edge, edge x doubling, hop, draw, check


def trimmed(rows: list, keep: int = 12) -> list:
    """``keep`` of a sweep's shapes spread over it (fits are slow; these keep every size class)."""
    return [rows[i] for i in np.linspace(0, len(rows) - 1, min(keep, len(rows))).round().astype(int)]


def synthetic_samples(path: Path) -> dict:
    """Shapes of the real sweeps (the committed H100 calibration's, a dozen of each) with
    the times TRUTH gives."""
    recorded = json.loads(H100_SAMPLES.read_text())["samples"]
    samples, fastest = {}, {}
    for cls, _ in bench.KERNEL_BENCHMARKS:
        s = kernel_samples(cls, trimmed(recorded[cls]), H100_SAMPLES)
        rows = []
        for shape, k in zip(s.shapes, s.kernels):
            rows.append({"shape": shape, "seconds": kernel_time(TRUTH, k), "cv": 0.0, "flops": k.flops,
                         "bytes": k.bytes, "out_bytes": k.out_bytes, "items": k.items})
        samples[cls] = rows
        fastest[cls] = min(r["seconds"] for r in rows)
    samples["framework"] = {}
    for name in bench.FRAMEWORK_MODELS:
        by = bench.framework_kernels(name)
        samples["framework"][name] = {stage: sum(max(kernel_time(TRUTH, k), fastest[k.cls]) + FRAMEWORK_S
                                                 for k in ks) for stage, ks in by.items()}
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(30), rng.uniform(1e3, 1e5, 30), rng.uniform(1e4, 1e6, 30), rng.uniform(0, 3e6, 30),
                         rng.integers(1, 4, 30), rng.integers(5, 40, 30), rng.uniform(0, 1e6, 30)])
    samples["sampler"] = [{"shape": f"b{i}", "seconds": float(x @ SAMPLER), "features": x.tolist()}
                          for i, x in enumerate(X)]
    data = {"provenance": {"host": "synthetic", "date": "2026-12-03T00:00:00+00:00", "heap": "steady"},
            "samples": samples}
    path.write_text(json.dumps(data))
    return data


@pytest.fixture
def profile(tmp_path):
    out = tmp_path / "localhost.yaml"
    shutil.copy(LOCALHOST, out)
    return out


@pytest.mark.slow  # a whole refit with cross-validation, about a minute
def test_refit_recovers_the_machine_the_measurements_came_from_and_keeps_the_rest(tmp_path, profile):
    before = yaml.safe_load(profile.read_text())
    data = synthetic_samples(tmp_path / "samples.json")
    written = refit(tmp_path / "samples.json", profile, progress=lambda *a, **k: None)
    after = yaml.safe_load(profile.read_text())
    assert after == written
    device = device_from_mapping(after["device"], str(profile))
    # every recorded shape is priced again as the synthetic machine timed it
    for cls, _ in bench.KERNEL_BENCHMARKS:
        shapes = kernel_samples(cls, data["samples"][cls], tmp_path)
        predicted = np.array([kernel_time(device.kernel(cls), k) for k in shapes.kernels])
        assert predicted == pytest.approx(np.array(shapes.times_s), rel=0.03), cls
        assert after["residuals"][cls]["fit_mape"] < 0.01
    assert after["device"]["kernels"]["gemm"]["tflops"] == pytest.approx(0.1, rel=0.03)
    assert {k["first_touch_above_mb"] for k in after["device"]["kernels"].values()} == {32 * 2**20 / 1e6}
    assert after["device"]["framework_us_per_kernel"]["forward"] == pytest.approx(FRAMEWORK_S * 1e6, rel=0.05)
    assert after["device"]["framework_us_per_kernel"]["backward"] == pytest.approx(FRAMEWORK_S * 1e6, rel=0.05)
    sampler = after["sampler"]
    assert [sampler["per_batch_us"], sampler["per_node_ns"], sampler["per_edge_ns"], sampler["per_edge_doubling_ns"],
            sampler["per_hop_us"], sampler["per_draw_us"], sampler["per_check_ns"]] \
        == pytest.approx([200, 30, 40, 5, 80, 2, 4], rel=0.01)
    assert after["host_gather"]["gbps"] == after["device"]["kernels"]["gather"]["gbps"]  # a CPU's own gather
    # what the samples do not hold stays as it was
    for block in ("intra_link", "allreduce", "cpu_sharing", "oversubscribed"):
        assert after[block] == before[block], block
    assert after["provenance"]["host"] == "synthetic" and after["provenance"]["refit"]["samples"] == "samples.json"
    assert "refitted" in after["sources"][-1] and after["sources"][:-1] == before["sources"]


@pytest.mark.slow  # a whole refit with cross-validation, about a minute
def test_sampler_measurements_recorded_before_the_hop_terms_refit_without_them(tmp_path, profile):
    """Samples written before the sampler had hop, draw and check features hold 4 features:
    they refit as before, the new terms 0 (the simulator then charges none)."""
    data = synthetic_samples(tmp_path / "samples.json")
    for row in data["samples"]["sampler"]:
        row["features"] = row["features"][:4]
        row["seconds"] = float(np.array(row["features"]) @ SAMPLER[:4])
    (tmp_path / "samples.json").write_text(json.dumps(data))
    sampler = refit(tmp_path / "samples.json", profile, progress=lambda *a, **k: None)["sampler"]
    assert [sampler["per_batch_us"], sampler["per_edge_ns"]] == pytest.approx([200, 40], rel=0.01)
    assert sampler["per_hop_us"] == sampler["per_draw_us"] == sampler["per_check_ns"] == 0


def test_the_committed_cpu_calibration_prices_held_out_shapes_within_15_percent(tmp_path, profile):
    """Issue 6's mark on real measurements: every kernel class of the committed CPU
    calibration (`localhost-samples.json`, one full `gnnsim calibrate --device cpu` run),
    fitted without one shape in five, prices those shapes within 15% of their measured
    times. The data are fixed, so this guards the fit: a change that fits these sweeps
    worse fails here. (Held out: 13.2% worst, gather; 5-fold cross-validated: 12.8%.)"""
    written = refit(LOCALHOST.with_name("localhost-samples.json"), profile, progress=lambda *a, **k: None)
    for cls, _ in bench.KERNEL_BENCHMARKS:
        residual = written["residuals"][cls]
        assert residual["samples"] >= 15 and residual["holdout_mape"] < 0.15, (cls, residual)


@pytest.mark.slow  # a whole refit with cross-validation, about a minute
def test_refit_of_the_committed_h100_measurements_writes_a_profile_the_simulator_loads(tmp_path):
    out = tmp_path / "h100.yaml"
    shutil.copy(ROOT / "hwprofiles/calibrated/h100-80gb-hbm3.yaml", out)
    data = json.loads(H100_SAMPLES.read_text())
    data["samples"] = {key: trimmed(rows) if isinstance(rows, list) else rows for key, rows in data["samples"].items()}
    (tmp_path / "h100.json").write_text(json.dumps(data))
    lines = []
    refit(tmp_path / "h100.json", out, progress=lambda *a, **k: lines.append(a[0]))
    after = yaml.safe_load(out.read_text())
    device = device_from_mapping(after["device"], str(out))
    assert device.kind == "gpu"
    assert after["h2d_link"] == after["copies"]["h2d_pageable"]
    assert after["host_gather"]["first_touch_above_mb"] == pytest.approx(32 * 2**20 / 1e6)
    assert set(after["residuals"]) >= {"gemm", "host_gather", "copy_h2d_pageable"}
    assert any(line.startswith("refit: host gather") for line in lines)


def test_gemm_dims_come_from_the_label_in_samples_written_before_they_were_recorded():
    s = kernel_samples("gemm", [{"shape": "256x128x8", "seconds": 1e-5, "flops": 1.0, "bytes": 1.0,
                                 "out_bytes": 0.0, "items": 0.0}], Path("s.json"))
    assert (s.kernels[0].k_dim, s.kernels[0].n_dim) == (128.0, 8.0)
    with pytest.raises(GnnsimError, match=r"s.json: samples.gemm\[0\].*MxKxN"):
        kernel_samples("gemm", [{"shape": "relu10", "seconds": 1e-5, "flops": 1.0, "bytes": 1.0,
                                 "out_bytes": 0.0, "items": 0.0}], Path("s.json"))


def test_bad_samples_name_the_file_and_the_entry_and_leave_the_profile_alone(tmp_path, profile):
    original = profile.read_bytes()
    samples = tmp_path / "samples.json"
    data = synthetic_samples(samples)
    data["samples"]["gather"][3]["seconds"] = "fast"
    samples.write_text(json.dumps(data))
    with pytest.raises(GnnsimError, match=r"samples.json: samples.gather\[3\]: 'seconds' must be a finite number"):
        refit(samples, profile, progress=lambda *a, **k: None)
    samples.write_text("{not json")
    with pytest.raises(GnnsimError, match="samples.json: not valid JSON"):
        refit(samples, profile, progress=lambda *a, **k: None)
    del data["samples"]["optimizer"]
    samples.write_text(json.dumps(data))
    with pytest.raises(GnnsimError, match=r"lack the kernel classes \['optimizer'\]"):
        refit(samples, profile, progress=lambda *a, **k: None)
    assert profile.read_bytes() == original
    data = synthetic_samples(samples)
    del data["provenance"]["heap"]
    samples.write_text(json.dumps(data))
    with pytest.raises(GnnsimError, match="timed with a cold heap .* calibrate again"):
        refit(samples, profile, progress=lambda *a, **k: None)
    with pytest.raises(GnnsimError, match="measured on a GPU, but .* is a cpu profile"):
        refit(H100_SAMPLES, profile, progress=lambda *a, **k: None)
    with pytest.raises(ProfileError, match="missing.yaml: no such profile; --refit rewrites"):
        refit(H100_SAMPLES, tmp_path / "missing.yaml", progress=lambda *a, **k: None)
    assert profile.read_bytes() == original


def test_the_cli_refits_and_reports_bad_input_without_a_traceback(tmp_path, profile, capsys, monkeypatch):
    import gnnsim.calibrate.refit as refit_module

    calls = []
    monkeypatch.setattr(refit_module, "refit", lambda samples, out: calls.append((samples, out)))
    assert main(["calibrate", "--refit", "s.json", "--out", str(profile)]) == 0
    assert calls == [("s.json", str(profile))]
    monkeypatch.undo()
    assert main(["calibrate", "--refit", str(tmp_path / "nope.json"), "--out", str(profile)]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err
