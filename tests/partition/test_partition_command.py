"""``gnnsim partition``: outputs, the comparison table, and a bad input that writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gnnsim.cli import main


def test_partition_writes_assignment_and_metrics(tmp_path, capsys):
    edges = tmp_path / "e.txt"
    edges.write_text("# two triangles joined by one edge\n0 1\n1 2\n2 0\n2 3\n3 4\n4 5\n5 3\n")
    out, js = tmp_path / "parts.npy", tmp_path / "m.json"
    assert main(["partition", "--graph", str(edges), "--method", "metis", "--parts", "2",
                 "--out", str(out), "--json", str(js)]) == 0
    parts = np.load(out)
    assert parts.dtype == np.int32 and parts.shape == (6,)
    assert len(set(parts[:3])) == 1 and len(set(parts[3:])) == 1 and parts[0] != parts[3]
    data = json.loads(js.read_text())
    assert data["edge_cut"] == 1 and data["edge_cut_fraction"] == pytest.approx(2 / 14)
    assert data["comm_volume"] == 2 and data["halo_nodes"] == [1, 1]
    assert set(data["balance"]) == {"nodes", "edges", "train"} and data["time_s"] >= 0
    assert "metis" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_compare_prints_one_ranked_table(tmp_path, capsys):
    js = tmp_path / "cmp.json"
    assert main(["partition", "--graph", "sbm?num_nodes=2000&num_communities=4", "--parts", "4",
                 "--compare", "random,metis,ldg,fennel", "--json", str(js)]) == 0
    text = capsys.readouterr().out
    rows = [ln.split()[0] for ln in text.splitlines() if ln.split() and ln.split()[0] in
            {"random", "metis", "ldg", "fennel"}]
    assert rows[0] == "metis" and rows[-1] == "random"
    ranking = json.loads(js.read_text())["ranking"]
    volumes = [r["comm_volume"] for r in ranking]
    assert volumes == sorted(volumes) and ranking[0]["method"] == "metis"


def test_preset_spec_and_file_method(tmp_path, capsys):
    out = tmp_path / "p.npy"
    assert main(["partition", "--graph", "preset:ogbn-arxiv?scale=0.005", "--method", "fennel", "--parts", "3",
                 "--out", str(out)]) == 0
    assert main(["partition", "--graph", "preset:ogbn-arxiv?scale=0.005", "--method", f"file:{out}",
                 "--parts", "3"]) == 0
    assert "ogbn-arxiv@0.005: 847 nodes" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--graph", "sbm?num_nodes=100", "--method", "metsi", "--parts", "2"], "unknown partition method 'metsi'"),
    (["--graph", "sbm?num_nodes=100", "--method", "metis", "--parts", "0"], "--parts: expected a whole number >= 1"),
    (["--graph", "sbm?num_nodes=100", "--method", "metis", "--parts", "101"], "more parts than the graph's 100 nodes"),
    (["--graph", "missing.txt", "--method", "metis", "--parts", "2"], "no such file or folder"),
    (["--graph", "sbm?num_nodes=100", "--parts", "2"], "give --method"),
])
def test_bad_input_writes_nothing(tmp_path, capsys, args, message):
    out, js = tmp_path / "parts.npy", tmp_path / "m.json"
    try:
        code = main(["partition", *args, "--out", str(out), "--json", str(js)])
    except SystemExit as exc:  # argparse refuses a bad number itself
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_length_mismatch_names_file_and_lengths(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros(50, dtype=np.int32))
    js = tmp_path / "m.json"
    assert main(["partition", "--graph", "sbm?num_nodes=100", "--method", f"file:{tmp_path / 'a.npy'}",
                 "--parts", "2", "--json", str(js)]) == 2
    err = capsys.readouterr().err
    assert "a.npy: holds 50 part ids but the graph has 100 nodes" in err and not js.exists()


def test_corrupt_graph_file_is_named(tmp_path, capsys):
    (tmp_path / "e.csv").write_text("0,1\n1,2\n2,zz\n")
    assert main(["partition", "--graph", str(tmp_path / "e.csv"), "--method", "random", "--parts", "2",
                 "--out", str(tmp_path / "p.npy")]) == 2
    assert "e.csv: line 3" in capsys.readouterr().err and not (tmp_path / "p.npy").exists()
