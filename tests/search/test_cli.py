"""gnnsim search from the command line: the answer and its files, and the errors that
stop it (one line, exit 2, nothing written)."""

import csv
import json
import socket

import pytest

from gnnsim.cli import main


def test_search_on_two_local_workers_writes_its_files(tiny, tmp_path, capsys):
    files = {k: tmp_path / f"s.{k}" for k in ("json", "csv", "png", "jsonl")}
    code = main(["search", str(tiny), "--vary", "partition.method=random,metis", "--vary", "training.batch_size=32,64",
                 "--workers", "2", "--epochs", "5", "--json", str(files["json"]), "--csv", str(files["csv"]),
                 "--plot", str(files["png"]), "--out", str(files["jsonl"])])
    out = capsys.readouterr().out
    assert code == 0
    assert "chosen: method=" in out and "Pareto front" in out and "$/5 epochs" in out
    data = json.loads(files["json"].read_text())
    assert data["points"] == 4 and data["chosen"] == data["table"][0]["index"] and data["table"][0]["rank"] == 1
    assert set(data["front"]) == {r["index"] for r in data["table"] if r["on_front"]}
    rows = list(csv.DictReader(files["csv"].open()))
    assert [int(r["point"]) for r in rows] == [r["index"] for r in data["table"]]
    assert files["png"].read_bytes()[:4] == b"\x89PNG"
    assert len(files["jsonl"].read_text().splitlines()) == 1 + 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, words", [
    (["--vary", "training.batchsize=32,64"], ["unknown key 'batchsize'", "Did you mean 'batch_size'"]),
    (["--vary", "training.batch_size="], ["no values for training.batch_size"]),
    (["--vary", "training.batch_size=32,-1"], ["--vary training.batch_size=-1: training.batch_size"]),
    (["--vary", "training.batch_size=32,64", "--max-epoch-s", "1e-9"], ["no point meets --max-epoch-s 1e-09"]),
    (["--vary", "training.batch_size=32", "--scheduler", "tcp://127.0.0.1:{port}", "--connect-timeout-s", "1"],
     ["--scheduler tcp://127.0.0.1:", "cannot connect within 1 s"]),
    (["--vary", "training.batch_size=32", "--resume"], ["--resume: give the results file"]),
    (["--vary", "training.batch_size=32", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
     ["--workers and --scheduler: give one"]),
])
def test_errors_are_one_line_exit_2_and_write_nothing(tiny, tmp_path, capsys, args, words):
    outputs = [tmp_path / "s.json", tmp_path / "s.csv", tmp_path / "s.png"]
    args = [a.replace("{port}", str(free_port())) for a in args]
    extra = [] if "--resume" in args or "--scheduler" in args else ["--workers", "0"]
    code = main(["search", str(tiny), *args, *extra, "--json", str(outputs[0]), "--csv", str(outputs[1]),
                 "--plot", str(outputs[2])] + ([] if "--resume" in args else ["--out", str(tmp_path / "s.jsonl")]))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err
    assert not any(p.exists() for p in outputs)
    if "no point meets" not in err:  # the points that ran stay in --out (that is what it is for)
        assert not (tmp_path / "s.jsonl").exists()
