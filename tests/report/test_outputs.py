"""Outputs: Chrome trace of the quickstart, CSV, plot, and the compare / whatif commands."""

import csv
import io
import json
from collections import defaultdict

import pytest

from gnnsim.cli import main

SMALL = """
graph: {source: sbm, num_nodes: 6000, num_communities: 4, avg_degree: 8, feature_dim: 32, num_classes: 4}
partition: {method: metis}
model: {hidden_dim: 32}
training: {batch_size: 128, fanouts: [5, 3]}
cluster: {profile: localhost-cpu}
simulation: {iterations: 3, seed: 0}
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_quickstart_trace_csv_and_plot(tmp_path, capsys):
    trace, table, plot = tmp_path / "t.json", tmp_path / "b.csv", tmp_path / "b.png"
    assert main(["simulate", "examples/quickstart.yaml", "--set", "simulation.iterations=2",
                 "--trace", str(trace), "--csv", str(table), "--plot", str(plot)]) == 0
    data = json.loads(trace.read_text())
    slices = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert slices and all({"ts", "dur", "pid", "tid", "name"} <= set(e) for e in slices)
    assert all(e["dur"] >= 0 for e in slices)
    # one process per node (plus none for the network on a single switch), named
    procs = {e["args"]["name"] for e in data["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"}
    assert {"node 0", "node 1"} <= procs
    # link tracks are there and carry bytes
    assert any(e["cat"] == "link" and e["args"]["bytes"] > 0 for e in slices)
    tracks = defaultdict(list)
    for e in slices:
        tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    for spans in tracks.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end <= start + 1e-6  # microseconds
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [r["stage"] for r in rows][:2] == ["sample", "fetch"]
    assert sum(float(r["share"]) for r in rows) == pytest.approx(1.0, abs=1e-5)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "critical path" in out and "if 2x faster" in out


def test_json_keeps_the_contract_keys_and_adds_analysis(small, tmp_path):
    out = tmp_path / "r.json"
    assert main(["simulate", str(small), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    for key in ("epoch_time_s", "iteration_time_s", "iterations_per_epoch", "breakdown", "bottleneck",
                "critical_path", "utilization", "sensitivity", "epoch_time_ci95_s", "cost_per_epoch_usd"):
        assert key in d
    assert {"stage", "resource", "share"} <= set(d["bottleneck"])
    assert all({"time_s", "share", "busy_s", "exposed_s"} <= set(v) for v in d["breakdown"].values())


def test_plot_without_matplotlib_is_a_clear_error(small, tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    out = tmp_path / "r.json"
    assert main(["simulate", str(small), "--plot", str(tmp_path / "p.png"), "--json", str(out)]) == 2
    assert "pip install matplotlib" in capsys.readouterr().err
    assert not out.exists()


def test_compare_grid_sorted_by_epoch_time(small, tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["compare", str(small), "--vary", "partition.method=random,metis",
                 "--vary", "training.fanouts=[5,3],[2,2]", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 4
    times = [r["epoch_time_s"] for r in rows]
    assert times == sorted(times)
    assert {r["settings"]["training.fanouts"] for r in rows} == {"[5,3]", "[2,2]"}
    assert "partition.method" in capsys.readouterr().out


def test_whatif_side_by_side(small, tmp_path, capsys):
    out = tmp_path / "w.json"
    assert main(["whatif", str(small), "--scale", "gpu.compute=2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "baseline" in text and "what-if" in text
    d = json.loads(out.read_text())
    assert d["whatif"]["epoch_time_s"] < d["baseline"]["epoch_time_s"]
    assert main(["whatif", str(small), "--scale", "warp.drive=2"]) == 2
