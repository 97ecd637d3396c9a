"""A busy host, told by its load and the spread of calibrate's repeats, with faked measurements:
a real calibration takes minutes, so none runs here."""

from pathlib import Path

import pytest

pytest.importorskip("torch")  # the calibration and the real ranks run torch
import yaml

from gnnsim.calibrate import host_load, run
from gnnsim.calibrate.host_load import (LOAD_PER_CORE_MAX, OTHERS_SLACK_CORES, SPREAD_CV_MAX, STEAL_SHARE_MAX,
                                        CpuTimes, HostLoad, assess, probe, read_cpu_times)
from gnnsim.cli import main
from gnnsim.errors import GnnsimError
from gnnsim.hardware.profiles import check_finite, device_from_mapping
from gnnsim.hardware.schema import DESCRIPTIVE_KEYS

ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = ROOT / "hwprofiles/calibrated/localhost.yaml"


def look(load=0.0, cores=2, others=0.0, cpu=None) -> HostLoad:
    return HostLoad(load_1min=load, cores=cores, others_cores=others, cpu=cpu)


QUIET = look()


# -- the thresholds ----------------------------------------------------------------------

def test_a_quiet_host_with_a_tight_spread_is_not_busy():
    q = assess(QUIET, QUIET, spread_cv=0.07, needed_cores=2)
    assert not q.busy_host and q.reasons == ()
    block = q.to_dict()
    assert block["busy_host"] is False and "reasons" not in block
    assert block["spread_cv"] == 0.07 and block["load_1min_per_core"] == {"before": 0.0, "after": 0.0}


@pytest.mark.parametrize("load, busy", [(2 * LOAD_PER_CORE_MAX, False), (2 * LOAD_PER_CORE_MAX + 0.02, True)])
def test_the_load_average_per_core_is_judged_before_measuring(load, busy):
    q = assess(look(load=load), QUIET, needed_cores=2)  # 2 cores: the load per core is half the average
    assert q.busy_host is busy
    if busy:
        assert q.reasons == (f"1-minute load average {load / 2:.2f} per core before measuring (over 1)",)
    # the load after measuring counts calibrate's own processes: never judged
    assert not assess(QUIET, look(load=4 * load), needed_cores=2).busy_host


def test_other_processes_may_take_only_the_cores_calibrate_leaves_free():
    # 8 cores, calibrate's 2 processes x 2 threads need 4: others may take 4 + the slack
    allowed = 8 - 4 + OTHERS_SLACK_CORES
    assert not assess(look(cores=8, others=allowed), needed_cores=4).busy_host
    q = assess(look(cores=8), look(cores=8, others=allowed + 0.1), needed_cores=4)
    assert q.reasons == ("other processes took 4.35 of 8 cores after measuring, calibrate needs 4 "
                         "(more than 4.25 leaves it too few)",)
    # on 2 cores with 2 needed, a third of a core of other work is too much
    assert assess(look(others=0.33), needed_cores=2).busy_host


def test_the_steal_share_is_taken_over_the_whole_run():
    before = look(cpu=CpuTimes(busy=500, steal=100, total=10_000, cores=2))
    after_ok = look(cpu=CpuTimes(busy=900, steal=100 + 50, total=11_000, cores=2))  # 50 of 1000 ticks: 5%
    after_bad = look(cpu=CpuTimes(busy=900, steal=100 + 60, total=11_000, cores=2))  # 6%
    assert assess(before, after_ok).steal_share == pytest.approx(STEAL_SHARE_MAX)
    assert not assess(before, after_ok).busy_host
    q = assess(before, after_bad)
    assert q.steal_share == pytest.approx(0.06)
    assert q.reasons == ("the hypervisor stole 6% of the CPU time (over 5%)",)


@pytest.mark.parametrize("spread, busy", [(SPREAD_CV_MAX, False), (SPREAD_CV_MAX + 0.01, True), (None, False)])
def test_the_spread_of_the_repeats(spread, busy):
    q = assess(QUIET, QUIET, spread_cv=spread)
    assert q.busy_host is busy
    assert q.to_dict()["spread_cv"] == spread


def test_every_reason_is_listed_and_written():
    q = assess(look(load=5.0, others=1.5), look(others=1.8), spread_cv=0.3, needed_cores=2)
    assert len(q.reasons) == 4  # load, others before, others after, spread
    block = q.to_dict()
    assert block["busy_host"] is True and block["reasons"] == list(q.reasons)
    assert block["others_cores"] == {"before": 1.5, "after": 1.8}
    assert block["thresholds"]["spread_cv"] == SPREAD_CV_MAX


# -- the measurement ---------------------------------------------------------------------

def test_probe_counts_other_processes_cores_while_it_sleeps(monkeypatch):
    monkeypatch.setattr(host_load.os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    counters = iter([CpuTimes(busy=1000, steal=0, total=5000, cores=4),
                     CpuTimes(busy=1300, steal=0, total=5400, cores=4)])
    slept = []
    h = probe(seconds=0.5, sleep=slept.append, read=lambda: next(counters))
    assert slept == [0.5]
    # 300 of 400 ticks busy on 4 cores: 3 cores' worth
    assert h.others_cores == pytest.approx(3.0) and h.cores == 4
    assert h.load_1min == 3.0 and h.load_per_core == 0.75


def test_probe_without_proc_stat_measures_what_it_can(monkeypatch):
    monkeypatch.setattr(host_load.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    h = probe(seconds=0.0, sleep=lambda s: None, read=lambda: None)
    assert h.others_cores is None and h.cpu is None and h.load_1min == 1.0
    assert not assess(h, h, spread_cv=None).busy_host


def test_read_cpu_times_sums_the_busy_fields(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 5 20 800 10 1 3 12 7 0\ncpu0 1 2 3 4\ncpu1 1 2 3 4\ncpu2 1 2 3 4\nintr 5\n")
    assert read_cpu_times(stat) == CpuTimes(busy=100 + 5 + 20 + 1 + 3, steal=12,
                                            total=100 + 5 + 20 + 800 + 10 + 1 + 3 + 12, cores=3)
    assert read_cpu_times(tmp_path / "missing") is None


# -- calibrate with the measurement faked --------------------------------------------------

def fake_measurement(jitter_cv: float, calls: list):
    """A stand-in for measure.measure_cpu: the committed localhost profile's blocks, with
    ``jitter_cv`` as the spread of the repeats, after one narrated step."""
    profile = yaml.safe_load(LOCALHOST.read_text())
    device = {k: v for k, v in profile["device"].items() if k not in ("name", "sources")}
    device["jitter_cv"] = jitter_cv
    blocks = {k: profile[k] for k in ("sampler", "host_gather", "intra_link", "allreduce")}

    def measure(quick, repeats, threads, world, progress, samples, twin_load=False):
        calls.append(world)
        progress("calibrate: faked ...", end=" ", flush=True)
        progress("done")
        progress.step()
        samples["gemm"] = []
        return blocks, device, {"gemm": {"fit_mape": 0.1}}, "a fake CPU"
    return measure


@pytest.fixture
def probes(monkeypatch):
    """host_load.probe answers from the list this returns (before, after)."""
    looks: list[HostLoad] = []
    monkeypatch.setattr(host_load, "probe", lambda *a, **k: looks.pop(0))
    return looks


def test_strict_refuses_a_busy_host_before_measuring(tmp_path, capsys, monkeypatch, probes):
    calls: list = []
    monkeypatch.setattr(run, "measure_cpu", fake_measurement(0.05, calls))
    probes += [look(load=9.0, others=1.9), QUIET]
    out = tmp_path / "busy.yaml"
    code = main(["calibrate", "--strict", "--out", str(out), "--samples", str(tmp_path / "s.json")])
    captured = capsys.readouterr()
    assert code == 2 and calls == []  # nothing measured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith("gnnsim: error: calibrate --strict: the host is busy (1-minute load average 4.50 per core")
    assert "measured nothing" in lines[0]
    assert not out.exists() and not (tmp_path / "s.json").exists()


def test_strict_refuses_a_spread_found_while_measuring_and_writes_nothing(tmp_path, capsys, monkeypatch, probes):
    calls: list = []
    monkeypatch.setattr(run, "measure_cpu", fake_measurement(0.4, calls))
    probes += [QUIET, QUIET]
    out = tmp_path / "spread.yaml"
    assert main(["calibrate", "--strict", "--out", str(out), "--samples", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert calls == [2]
    assert err.count("\n") == 1 and "repeats of the same kernel spread 40%" in err and "wrote nothing" in err
    assert not out.exists() and not (tmp_path / "s.json").exists()


def test_a_busy_host_is_warned_about_and_marked_in_the_profile(tmp_path, capsys, monkeypatch, probes):
    calls: list = []
    monkeypatch.setattr(run, "measure_cpu", fake_measurement(0.05, calls))
    probes += [look(others=1.2), QUIET]
    out = tmp_path / "marked.yaml"
    assert main(["calibrate", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("gnnsim: warning:")]
    assert len(warnings) == 2  # when it starts (Ctrl-C to stop) and when it has written the profile
    assert "measuring anyway" in warnings[0] and "the profile is marked quality.busy_host: true" in warnings[1]
    assert "calibrate: faked ... done" in captured.out  # the narrative stays on stdout
    data = yaml.safe_load(out.read_text())
    q = data["quality"]
    assert q["busy_host"] is True and q["others_cores"] == {"before": 1.2, "after": 0.0}
    assert q["reasons"] == ["other processes took 1.2 of 2 cores before measuring, calibrate needs 2 "
                            "(more than 0.25 leaves it too few)"]
    # the profile still loads: quality is descriptive, its device reads as before
    assert "quality" in DESCRIPTIVE_KEYS
    check_finite(data, out)
    assert device_from_mapping(data["device"], str(out)).jitter_cv == 0.05


def test_a_quiet_host_writes_a_clean_quality_block_and_no_warning(tmp_path, capsys, monkeypatch, probes):
    monkeypatch.setattr(run, "measure_cpu", fake_measurement(0.05, []))
    probes += [QUIET, QUIET]
    out = tmp_path / "quiet.yaml"
    assert main(["calibrate", "--strict", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert yaml.safe_load(out.read_text())["quality"]["busy_host"] is False


def test_check_host_names_what_to_do():
    busy = assess(QUIET, QUIET, spread_cv=0.5)
    with pytest.raises(GnnsimError, match="Calibrate on an idle host"):
        run.check_host(busy, strict=True, measured=True)
    said: list[str] = []
    run.check_host(busy, strict=False, measured=True, warn=said.append)
    assert len(said) == 1 and "--strict refuses" in said[0]
    run.check_host(assess(QUIET), strict=True, measured=False, warn=said.append)  # quiet: nothing
    assert len(said) == 1


def test_the_planned_steps_are_the_steps_narrated(tmp_path, capsys, monkeypatch, probes):
    """calibrate's step count on stderr (forced on) for the faked one-step measurement."""
    monkeypatch.setenv("GNNSIM_PROGRESS", "1")
    monkeypatch.delenv("GNNSIM_QUIET", raising=False)
    monkeypatch.setattr(run, "measure_cpu", fake_measurement(0.05, []))
    probes += [QUIET, QUIET]
    assert main(["calibrate", "--quick", "--out", str(tmp_path / "p.yaml")]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0].startswith(f"calibrate 0/{run.planned_steps('cpu', True, 2, False)} steps, ")
    assert err[-1].startswith("calibrate done in ")
    assert "calibrate 0/" not in captured.out
