"""Bad hardware and software profiles of every kind: ``gnnsim simulate`` (and ``gnnsim hw
show``) end with exit code 2, no traceback, a message naming the file and the key, and
no output file. Each case writes a minimal catalog (the files the tiny scenario reads)
into a temporary folder, spoils one file, and points ``GNNSIM_HWPROFILES`` at it."""

from __future__ import annotations

import time

import pytest
import yaml

from .conftest import CATALOG_FILES, assert_user_error, minimal_catalog, run_cli

# Numbers each kind of profile holds, by dotted path in its file.
NUMBER_KEYS = {
    "devices": ["mem_bw_gbps", "kernels.gemm.launch_us", "peak_tflops.float32", "memory_bytes"],
    "links": ["bw_gbps", "latency_us"],
    "nodes": ["host_cpu_cores", "host.sampler.per_edge_ns", "host.gather.gbps", "trainers"],
    "clusters": ["num_nodes"],
    "software": ["overheads.per_iteration_us", "sampler.edge_scale", "sampler.per_batch_us"],
    "calibrated": ["device.kernels.gemm.tflops", "allreduce.alpha_us", "cpu_sharing.effective_cores",
                   "sampler.per_edge_ns", "host_gather.gbps"],
}
BAD_VALUES = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "bool": True, "text": "fast",
              "negative": -1}
# A key each kind cannot do without.
REQUIRED = {"devices": "mem_bw_gbps", "links": "bw_gbps", "nodes": "host_cpu_cores", "clusters": "node",
            "software": "framework", "calibrated": "device"}
BROKEN_FILES = {"binary": bytes(range(256)), "bad yaml": b"name: [x,\n", "a list": b"- 1\n- 2\n",
                "nul": b"name: x\x00\n"}


def _set(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[key]
    assert last in data, f"{dotted} is not in the profile"
    data[last] = value


def _simulate(tmp_path, monkeypatch, capsys, out_dir, kind: str):
    monkeypatch.setenv("GNNSIM_HWPROFILES", str(tmp_path / "hw"))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({
        "graph": {"num_nodes": 200, "avg_degree": 4}, "training": {"batch_size": 8, "fanouts": [2]},
        "cluster": {"profile": "localhost-cpu", **({"device_profile": "calibrated/localhost"}
                                                   if kind == "calibrated" else {})},
        "simulation": {"iterations": 1}}))
    started = time.monotonic()
    result = run_cli(["simulate", str(scenario), "--json", str(out_dir / "r.json")], capsys, out_dir)
    assert time.monotonic() - started < 10, "a bad profile took more than 10 s to refuse"
    return result


NUMBER_CASES = [(kind, key, label) for kind, keys in NUMBER_KEYS.items() for key in keys for label in BAD_VALUES
                if not (label == "negative" and key == "sampler.edge_scale")]


@pytest.mark.parametrize("kind,key,label", NUMBER_CASES, ids=[f"{k}:{p}={v}" for k, p, v in NUMBER_CASES])
def test_bad_profile_number(tmp_path, monkeypatch, capsys, out_dir, kind, key, label):
    root = minimal_catalog(tmp_path / "hw")
    path = root / kind / f"{CATALOG_FILES[kind]}.yaml"
    data = yaml.safe_load(path.read_text())
    _set(data, key, BAD_VALUES[label])
    path.write_text(yaml.safe_dump(data))
    result = _simulate(tmp_path, monkeypatch, capsys, out_dir, kind)
    assert_user_error(result, path.name)
    assert key.split(".")[-1] in result.err, result.err


STRUCTURE_CASES = [(kind, what) for kind in CATALOG_FILES for what in [*BROKEN_FILES, "missing key", "unknown key"]]


@pytest.mark.parametrize("kind,what", STRUCTURE_CASES, ids=[f"{k}:{w}" for k, w in STRUCTURE_CASES])
def test_broken_profile_file(tmp_path, monkeypatch, capsys, out_dir, kind, what):
    root = minimal_catalog(tmp_path / "hw")
    path = root / kind / f"{CATALOG_FILES[kind]}.yaml"
    if what in BROKEN_FILES:
        path.write_bytes(BROKEN_FILES[what])
    else:
        data = yaml.safe_load(path.read_text())
        if what == "missing key":
            del data[REQUIRED[kind]]
        else:
            (data["device"] if kind == "calibrated" else data)["bandwidth_gbps"] = 3
        path.write_text(yaml.safe_dump(data))
    result = _simulate(tmp_path, monkeypatch, capsys, out_dir, kind)
    assert_user_error(result, path.name)


SHOW_CASES = [(kind, label) for kind in CATALOG_FILES for label in ("nan", "inf", "binary", "bad yaml")]


@pytest.mark.parametrize("kind,label", SHOW_CASES, ids=[f"{k}:{v}" for k, v in SHOW_CASES])
def test_hw_show_bad_profile(tmp_path, monkeypatch, capsys, kind, label):
    root = minimal_catalog(tmp_path / "hw")
    monkeypatch.setenv("GNNSIM_HWPROFILES", str(root))
    path = root / kind / f"{CATALOG_FILES[kind]}.yaml"
    if label in BROKEN_FILES:
        path.write_bytes(BROKEN_FILES[label])
    else:
        data = yaml.safe_load(path.read_text())
        _set(data, NUMBER_KEYS[kind][0], BAD_VALUES[label])
        path.write_text(yaml.safe_dump(data))
    name = f"calibrated/{CATALOG_FILES[kind]}" if kind == "calibrated" else CATALOG_FILES[kind]
    result = run_cli(["hw", "show", name], capsys)
    assert_user_error(result, path.name)
