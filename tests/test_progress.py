"""Progress on stderr (gnnsim.progress): quiet off a terminal and when asked, whole lines
when forced, a line rewritten in place on a terminal, and never a byte on stdout."""

import io
import json

import pytest

from gnnsim import progress as progress_module
from gnnsim.cli import main
from gnnsim.progress import SHOW_DONE_AFTER_S, abandon, fmt_seconds, progress, progress_enabled, quiet, tracked

SMALL = ["examples/quickstart.yaml", "--set", "graph.num_nodes=20000", "--set", "simulation.iterations=3",
         "--set", "cluster.profile=dgx-a100-80gb-1"]


@pytest.fixture(autouse=True)
def _no_progress_settings(monkeypatch):
    """The tests decide: neither variable from the environment that runs them."""
    monkeypatch.delenv("GNNSIM_PROGRESS", raising=False)
    monkeypatch.delenv("GNNSIM_QUIET", raising=False)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: each carriage return goes back to the line's start."""
    lines = []
    for raw in text.split("\n"):
        cells: list[str] = []
        col = 0
        for ch in raw:
            if ch == "\r":
                col = 0
                continue
            cells[col:col + 1] = [ch]
            col += 1
        lines.append("".join(cells).rstrip())
    return lines


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- through the CLI ---------------------------------------------------------------------

def test_simulate_is_quiet_on_stderr_off_a_terminal(tmp_path, capfd):
    assert main(["simulate", *SMALL, "--json", str(tmp_path / "r.json")]) == 0
    assert capfd.readouterr().err == ""


def test_forced_progress_names_every_stage_on_stderr_and_changes_no_output(tmp_path, capfd, monkeypatch):
    assert main(["simulate", *SMALL, "--json", str(tmp_path / "quiet.json")]) == 0
    quiet_out = capfd.readouterr().out
    monkeypatch.setenv("GNNSIM_PROGRESS", "1")
    assert main(["simulate", *SMALL, "--json", str(tmp_path / "loud.json")]) == 0
    loud = capfd.readouterr()
    done = [line.split(" done in ")[0] for line in loud.err.splitlines() if " done in " in line]
    assert done == ["graph", "partition: metis, 8 parts", "workload", "simulation",
                    "sensitivity: each resource class 2x faster"]
    assert loud.out == quiet_out.replace("quiet.json", "loud.json")  # stdout: not a byte of progress
    assert (tmp_path / "loud.json").read_bytes() == (tmp_path / "quiet.json").read_bytes()


@pytest.mark.parametrize("how", [["--quiet", "simulate", *SMALL], ["simulate", *SMALL, "-q"], "env"])
def test_quiet_wins_over_forced_progress(how, capfd, monkeypatch):
    monkeypatch.setenv("GNNSIM_PROGRESS", "1")
    if how == "env":
        monkeypatch.setenv("GNNSIM_QUIET", "1")
        how = ["simulate", *SMALL]
    assert main(how) == 0
    assert capfd.readouterr().err == ""
    assert not progress_module._quiet  # --quiet holds for its own command only


def test_an_error_starts_its_own_line_after_an_open_progress_line(capfd, monkeypatch, tmp_path):
    """A failed step's line is cleared before the one-line error (here: a missing partition file,
    read inside the pipeline's partition stage)."""
    terminal = Terminal()
    monkeypatch.setattr(progress_module.sys, "stderr", terminal)
    code = main(["simulate", *SMALL, "--set", f"partition.method=file:{tmp_path / 'missing.npy'}"])
    assert code == 2
    text = terminal.getvalue()
    assert text.count("gnnsim: error:") == 1
    shown = screen(text)
    assert shown[-2].startswith("gnnsim: error:") and shown[-1] == ""  # the error alone on its line


# -- the reporter ------------------------------------------------------------------------

def test_whole_lines_when_forced_off_a_terminal():
    out, clock = io.StringIO(), Clock()
    with progress("partition: metis", total=10, unit="nodes", stream=out, enabled=True, clock=clock) as p:
        for _ in range(10):
            clock.now += 0.5
            p.update()  # every 0.5 s; a log gets one line per 2 s
    assert out.getvalue().splitlines() == [
        "partition: metis 0/10 nodes, 0.0s",
        "partition: metis 4/10 nodes, 2.0s, about 3.0s left",
        "partition: metis 8/10 nodes, 4.0s, about 1.0s left",
        "partition: metis done in 5.0s",
    ]


def test_a_terminal_line_is_rewritten_in_place_and_ends_with_the_time():
    term, clock = Terminal(), Clock()
    with progress("workload: sampling", total=2, unit="trainers", stream=term, clock=clock) as p:
        clock.now = 1.0
        p.update()
        clock.now = 3.0
        p.update()
    longer = "workload: sampling 1/2 trainers, 1.0s, about 1.0s left"
    last = "workload: sampling 2/2 trainers, 3.0s"
    assert term.getvalue() == ("\rworkload: sampling 0/2 trainers, 0.0s"
                               f"\r{longer}"
                               f"\r{last.ljust(len(longer))}"  # blanks over the end of the longer line
                               f"\r{'workload: sampling done in 3.0s'.ljust(len(last))}\n")


def test_a_quick_step_leaves_no_line_on_a_terminal():
    term, clock = Terminal(), Clock()
    with progress("graph", stream=term, clock=clock):
        clock.now = SHOW_DONE_AFTER_S / 2
    assert term.getvalue() == "\rgraph ..., 0.0s\r" + " " * len("graph ..., 0.0s") + "\r"
    assert screen(term.getvalue()) == [""]


def test_an_inner_step_borrows_the_line_and_gives_it_back():
    term, clock = Terminal(), Clock()
    with progress("workload", stream=term, clock=clock):
        with progress("workload: sampling", total=1, unit="trainers", stream=term, clock=clock) as inner:
            clock.now = 2.0
            inner.update()
        clock.now = 2.5
    inner_line = "workload: sampling 1/1 trainers, 2.0s"
    assert term.getvalue() == ("\rworkload ..., 0.0s"
                               "\rworkload: sampling 0/1 trainers, 0.0s"
                               f"\r{inner_line}"
                               f"\r{'workload ..., 2.0s'.ljust(len(inner_line))}"  # no done line of its own
                               f"\r{'workload done in 2.5s'.ljust(len('workload ..., 2.0s'))}\n")
    assert screen(term.getvalue()) == ["workload done in 2.5s", ""]


def test_an_error_inside_clears_the_line_and_closes_inner_reporters(monkeypatch):
    term = Terminal()
    monkeypatch.setattr(progress_module.sys, "stderr", term)
    with pytest.raises(KeyError):
        with progress("graph"):
            for _ in tracked([1, 2], "graph: drawing edges"):  # left open by the error
                raise KeyError("x")
    drawn = term.getvalue()
    assert "\rgraph: drawing edges 0/2, 0.0s" in drawn
    assert screen(drawn) == [""]  # blank, no done line: the error message gets the line
    assert progress_module._stack() == []


def test_abandon_clears_what_is_open():
    term = Terminal()
    p = progress("simulation", total=4, stream=term).__enter__()
    abandon()
    assert term.getvalue().endswith("\r" + " " * len(p.text(p.start)) + "\r") and progress_module._stack() == []
    p.update()  # the step that raised never ends it: nothing more is drawn
    p.__exit__(None, None, None)
    assert term.getvalue().count("simulation") == 1


def test_tracked_counts_what_it_hands_out():
    out, clock = io.StringIO(), Clock()
    assert list(tracked(range(3), "sampling", unit="trainers")) == [0, 1, 2]
    with progress("x", stream=out, enabled=True, clock=clock) as p:
        p.update(4)
        clock.now = 3.0
        p.update()
    assert out.getvalue().splitlines()[1] == "x 5, 3.0s"  # no total: the count and the time


def test_quiet_block_and_a_broken_stream():
    with quiet():
        assert not progress_enabled(Terminal())
    assert progress_enabled(Terminal())

    class Broken(Terminal):
        def write(self, text):
            raise BrokenPipeError

    with progress("graph", stream=Broken()) as p:  # no error: the work goes on without progress
        p.update()
    assert not p.enabled


def test_fmt_seconds():
    assert [fmt_seconds(x) for x in (0.04, 9.94, 9.96, 61.0, 3725.0)] == ["0.0s", "9.9s", "10s", "1m01s", "1h02m05s"]


def test_the_module_examples_run():
    import doctest

    assert doctest.testmod(progress_module).failed == 0


def test_json_is_the_same_with_progress_drawn(tmp_path, monkeypatch):
    """The pipeline through the API, with every reporter drawing: byte-identical JSON."""
    from gnnsim.config import load_scenario
    from gnnsim.pipeline import simulate

    scenario = load_scenario("examples/quickstart.yaml", SMALL[2::2])
    plain = simulate(scenario, sensitivity=False).to_json()
    term = Terminal()
    monkeypatch.setattr(progress_module.sys, "stderr", term)
    monkeypatch.setenv("GNNSIM_CACHE", str(tmp_path / "fresh"))  # sampled again, not read back: every step draws
    drawn = simulate(scenario, sensitivity=False).to_json()
    assert "\rworkload: sampling 0/8 trainers" in term.getvalue() and "\rsimulation 0/" in term.getvalue()
    assert drawn == plain and json.loads(drawn)["simulated_iterations"] > 0
