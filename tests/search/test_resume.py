"""A search stopped part way resumes from its results file and loses nothing."""

import json

import pytest

from gnnsim.search import SearchError, search
from gnnsim.search import runners

from .conftest import GRID


def interrupt_after(monkeypatch, n):
    real = runners.run_point
    calls = []

    def run_point(*args):
        if len(calls) == n:
            raise KeyboardInterrupt
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(runners, "run_point", run_point)
    return calls


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_interrupted_search_resumes_and_loses_nothing(tiny, tmp_path, monkeypatch):
    out = tmp_path / "sweep.jsonl"
    whole = search(tiny, GRID, workers=0)
    calls = interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        search(tiny, GRID, workers=0, out=out)
    head, *done = lines(out)
    assert head["format"] == "gnnsim-search/1" and len(done) == 3 == len(calls)
    with open(out, "a") as fh:
        fh.write('{"index": 7, "settings": {"partition.me')  # the line being written when it stopped
    monkeypatch.undo()
    resumed = search(tiny, GRID, workers=0, out=out, resume=True)
    assert resumed.resumed == 3 and resumed.simulated == 5
    assert resumed.points == whole.points
    assert [r.index for r in resumed.table] == [r.index for r in whole.table]
    _, *records = lines(out)  # the cut-short line is gone; every point is there once
    assert sorted(r["index"] for r in records) == list(range(8))
    again = search(tiny, GRID, workers=0, out=out, resume=True)
    assert again.simulated == 0 and again.points == whole.points


def test_failed_points_run_again_on_resume(tiny, tmp_path):
    out = tmp_path / "sweep.jsonl"
    first = search(tiny, ["partition.method=random,nosuch"], workers=0, out=out)
    assert first.simulated == 2
    second = search(tiny, ["partition.method=random,nosuch"], workers=0, out=out, resume=True)
    assert second.resumed == 1 and second.simulated == 1


def test_an_existing_file_needs_resume_and_the_same_scenario(tiny, tmp_path):
    out = tmp_path / "sweep.jsonl"
    search(tiny, ["training.batch_size=32"], workers=0, out=out)
    before = out.read_text()
    with pytest.raises(SearchError, match="the file exists; add --resume"):
        search(tiny, ["training.batch_size=32"], workers=0, out=out)
    with pytest.raises(SearchError, match="another scenario or other --set"):
        search(tiny, ["training.batch_size=32"], workers=0, out=out, resume=True, overrides=["simulation.seed=1"])
    assert out.read_text() == before
    other = tmp_path / "other.jsonl"
    other.write_text('{"not": "a search"}\n')
    with pytest.raises(SearchError, match="not a gnnsim search results file"):
        search(tiny, ["training.batch_size=32"], workers=0, out=other, resume=True)


def test_a_resumed_file_reranks_with_new_limits_without_running(tiny, tmp_path):
    out = tmp_path / "sweep.jsonl"
    first = search(tiny, ["training.batch_size=32,64"], workers=0, out=out)
    slow = max(r.epoch_time_s for r in first.table)
    again = search(tiny, ["training.batch_size=64,32"], workers=0, out=out, resume=True, max_epoch_s=slow * 0.999)
    assert again.simulated == 0 and again.chosen.epoch_time_s < slow
