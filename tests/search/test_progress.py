import io
import types

from gnnsim.search import progress
from gnnsim.search.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_counts_failures_and_estimates_time_left(monkeypatch):
    clock = iter([100.0, 110.0, 110.0, 120.0, 120.0])
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    stream = Terminal()
    p = Progress(total=6, already=2, stream=stream, min_interval_s=0)  # starts at t=100, 2 points from a file
    p.point_done(ok=True)  # t=110: 1 point in 10 s, 3 left
    assert stream.getvalue().endswith("search: 3/6 points, 10s, about 30s left")
    p.point_done(ok=False)  # t=120: 2 points in 20 s, 2 left
    assert stream.getvalue().endswith("search: 4/6 points, 1 failed, 20s, about 20s left")
    p.close()
    assert stream.getvalue().endswith("\n")


def test_progress_is_quiet_when_not_a_terminal():
    stream = io.StringIO()
    p = Progress(total=2, stream=stream)
    p.point_done(ok=True)
    p.close()
    assert stream.getvalue() == ""
