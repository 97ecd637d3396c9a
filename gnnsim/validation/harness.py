"""The validation harness: run every scenario for real and simulated, and write the accuracy table.

A validation scenario is an ordinary gnnsim scenario with one more top-level block,
``validation:``, that only the harness reads (it is removed before the scenario is
validated)::

    validation:
      description: "SBM 8k nodes, METIS, 2 ranks"
      ranks: 2                 # real processes (default: the cluster's trainers)
      groups: [partitioner-sbm]  # ranking groups: same job, one thing varied
      quick: true              # part of the --quick subset (CI)
      shaped_link: true        # ranks in network namespaces joined by a veth shaped
                               # to the cluster network's rate (tc); skipped where not permitted
      delay_ms: 1              # add a delay on the shaped link (needs the kernel's netem)
      timeout_s: 120           # the real run's limit; the whole group is killed past it
      expect: failure          # the real run is meant to fail (robustness check)

The harness first calibrates this machine from micro-benchmarks
(:func:`gnnsim.calibrate.run.calibrate`) into a temporary copy of ``hwprofiles``
(``GNNSIM_HWPROFILES`` points there for the whole run) as ``calibrated/validation``, the
device profile every scenario names. Each shaped link is measured the same way: the
calibration's gloo benchmark, run inside the namespaces, replaces the link profile's
nominal rate and latency in that copy. Nothing from the end-to-end runs feeds a
prediction. Then each scenario is run real (:func:`gnnsim.realrun.launch.run_real`)
and simulated (:func:`gnnsim.pipeline.simulate`) and compared
(:func:`gnnsim.validation.compare.compare`). A scenario that fails, hangs or cannot be
set up is recorded with its error and the harness goes on.

The results: per scenario the measured and predicted time of each stage and of the
iteration with the relative error ``(predicted - measured) / measured``; the mean
absolute percentage error (MAPE) of the iteration time over the suite; and, for each
ranking group, whether the predicted order of the members equals the measured order,
with Spearman's rank correlation.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gnnsim.config import Scenario, scenario_from_dict
from gnnsim.errors import GnnsimError, RealRunError, ScenarioError, read_yaml_mapping

CALIBRATED_NAME = "validation"  # scenarios name cluster.device_profile: calibrated/validation
VALIDATION_KEYS = {"description", "ranks", "groups", "quick", "shaped_link", "delay_ms", "timeout_s", "expect"}
DEFAULT_TIMEOUT_S = 180.0
# Acceptance targets of the suite (issue 7).
TARGET_ITERATION_MAPE = 0.10
TARGET_STAGE_ERROR = 0.20
STAGES = ("sample", "fetch", "h2d", "forward", "backward", "halo", "allreduce", "optimizer")


@dataclass
class ValidationScenario:
    """One scenario file: the gnnsim scenario and how the harness runs it."""

    path: Path
    scenario: Scenario
    description: str = ""
    ranks: int = 2
    groups: list[str] = field(default_factory=list)
    quick: bool = False
    shaped_link: bool = False
    delay_ms: float = 0.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    expect: str = "success"

    @property
    def name(self) -> str:
        return self.scenario.name


def load_validation_scenario(path: str | Path) -> ValidationScenario:
    """Read a scenario file with its ``validation:`` block (see the module docstring)."""
    path = Path(path)
    data = read_yaml_mapping(path, ScenarioError)
    block = data.pop("validation", None) or {}
    unknown = set(block) - VALIDATION_KEYS
    if unknown:
        raise ScenarioError(f"{path}: validation: unknown key(s) {', '.join(sorted(unknown))}; "
                            f"allowed: {', '.join(sorted(VALIDATION_KEYS))}")
    if block.get("expect", "success") not in ("success", "failure"):
        raise ScenarioError(f"{path}: validation.expect must be success or failure, got {block['expect']!r}")
    data.setdefault("name", path.stem)
    scenario = scenario_from_dict(data, str(path), str(path.parent.resolve()))
    return ValidationScenario(
        path=path, scenario=scenario, description=str(block.get("description", "")),
        ranks=int(block.get("ranks", 2)), groups=[str(g) for g in block.get("groups", [])],
        quick=bool(block.get("quick", False)), shaped_link=bool(block.get("shaped_link", False)),
        delay_ms=float(block.get("delay_ms", 0.0)), timeout_s=float(block.get("timeout_s", DEFAULT_TIMEOUT_S)),
        expect=str(block.get("expect", "success")))


def load_suite(folder: str | Path, quick: bool = False, only: list[str] | None = None) -> list[ValidationScenario]:
    """Every ``*.yaml`` scenario in ``folder`` (sorted by file name).

    ``only`` picks scenarios by name from the whole suite; otherwise ``quick`` keeps the
    quick subset.
    """
    suite = [load_validation_scenario(p) for p in sorted(Path(folder).glob("*.yaml"))]
    if quick and not only:
        suite = [s for s in suite if s.quick]
    if only:
        missing = set(only) - {s.name for s in suite}
        if missing:
            raise ScenarioError(f"--only: no scenario named {', '.join(sorted(missing))} in {folder}; "
                                f"known: {', '.join(s.name for s in suite)}")
        suite = [s for s in suite if s.name in only]
    return suite


# -- calibration into a temporary profile folder ----------------------------------------

@contextmanager
def calibrated_profiles(quick: bool, progress: Callable = print, keep: str | Path | None = None,
                        device: str = "cpu", name: str = CALIBRATED_NAME, samples_out: str | Path | None = None):
    """A temporary copy of ``hwprofiles`` with ``calibrated/NAME.yaml`` measured now on ``device``.

    ``GNNSIM_HWPROFILES`` points at the copy inside the ``with`` block (and is restored
    after). With ``keep``, the calibrated profile is also copied there.
    """
    from gnnsim.calibrate.run import calibrate
    from gnnsim.hardware.profiles import profile_root

    old = os.environ.get("GNNSIM_HWPROFILES")
    with tempfile.TemporaryDirectory(prefix="gnnsim-validation-") as tmp:
        root = Path(tmp) / "hwprofiles"
        shutil.copytree(profile_root(), root)
        os.environ["GNNSIM_HWPROFILES"] = str(root)
        try:
            out = root / "calibrated" / f"{name}.yaml"
            calibrate(device=device, out=out, quick=quick, progress=lambda *a, **k: None, samples_out=samples_out)
            progress(f"calibrated this machine ({'quick' if quick else 'full'}) into {out}")
            if keep:
                shutil.copy(out, keep)
            yield root
        finally:
            if old is None:
                os.environ.pop("GNNSIM_HWPROFILES", None)
            else:
                os.environ["GNNSIM_HWPROFILES"] = old


def _network_link_name(scenario: Scenario) -> str:
    from gnnsim.hardware.profiles import read_profile

    data, path = read_profile("clusters", scenario.cluster.profile)
    if not data.get("network"):
        raise ScenarioError(f"{path}: a shaped_link scenario needs a cluster with a 'network' link")
    return str(data["network"])


def link_shape_for(vs: ValidationScenario):
    """The ``tc`` shape of a scenario's link: the cluster network's nominal rate (GB/s -> Mbit/s)."""
    from gnnsim.hardware.profiles import load_link
    from gnnsim.realrun.netns import LinkShape

    link = load_link(_network_link_name(vs.scenario))
    gbps = link.nominal_bw_gbps or link.bw_gbps
    return LinkShape(rate_mbit=round(gbps * 8e3, 3), delay_ms=vs.delay_ms)


def measure_shaped_links(suite: list[ValidationScenario], root: Path, quick: bool,
                         progress: Callable = print) -> dict[str, dict[str, Any]]:
    """Measure each shaped link the suite uses and write the result into ``root/links/NAME.yaml``.

    Returns, per link name, the measurement or ``{"error": ...}`` (the link then keeps
    its nominal numbers, and its scenarios will most likely be skipped for the same reason).
    """
    from gnnsim.realrun.netns import NetnsUnavailable, measure_link, shaped_link

    done: dict[str, dict[str, Any]] = {}
    for vs in suite:
        if not vs.shaped_link:
            continue
        name = _network_link_name(vs.scenario)
        if name in done:
            continue
        shape = link_shape_for(vs)
        try:
            with shaped_link(shape, vs.ranks) as net:
                m = measure_link(net, quick=quick)
        except (NetnsUnavailable, GnnsimError) as exc:
            done[name] = {"error": str(exc), "shape": shape.describe()}
            progress(f"link {name}: not measured ({exc}); its nominal numbers stay")
            continue
        path = root / "links" / f"{name}.yaml"
        data = yaml.safe_load(path.read_text())
        bw, lat = float(f"{m['bw_gbps']:.4g}"), float(f"{m['latency_us']:.4g}")
        data.update({"bw_gbps": bw, "bw_basis": "measured", "measured_bw_gbps": bw, "latency_us": lat})
        data["sources"] = list(data.get("sources") or []) + [{
            "text": f"validation/run.py: gloo all-reduce and all-to-all benchmark (gnnsim.calibrate.collectives) inside network "
                    f"namespaces joined by a veth shaped to {shape.describe()} on {socket.gethostname()}, "
                    f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}; alpha-beta fit error "
                    f"{m['fit_mape']:.0%}",
            "basis": "measured", "confidence": "medium", "covers": ["bw_gbps", "measured_bw_gbps", "latency_us"]}]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        done[name] = {"shape": shape.describe(), "bw_gbps": bw, "latency_us": lat, "fit_mape": m["fit_mape"],
                      "nominal_bw_gbps": data.get("nominal_bw_gbps"), "allreduce": m["allreduce"],
                      "alltoall": m["alltoall"]}
        progress(f"link {name} ({shape.describe()}): measured {bw * 1e3:.1f} MB/s, {lat:.0f} us "
                 f"(fit error {m['fit_mape']:.0%})")
    return done


# -- one scenario -------------------------------------------------------------------------

class _Skip(Exception):
    """The scenario cannot run real here (the reason is the message)."""


def _leftover_children() -> list[int]:
    """Processes whose parent is this one and that are still alive (a leak after a run)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def realrun_unsupported(scenario: Scenario) -> str | None:
    """Why the real trainer cannot run ``scenario`` (None when it can): such rows are skipped."""
    from gnnsim.realrun.worker import unsupported

    return unsupported(scenario)


DRIFT_KNOBS = ("gpu.compute", "cpu.sampling", "cpu.gather")  # the CPU work a reference load speaks for


def speed_factor(reference_s: float, probes_s: list[float]) -> float:
    """How many times faster the machine runs now than at calibration: the calibration's
    reference step time over the mean of the probes taken around a run.

    >>> speed_factor(3e-3, [2.9e-3, 3.1e-3])
    1.0
    """
    return round(reference_s / float(np.mean(probes_s)), 4)


def run_scenario(vs: ValidationScenario, progress: Callable = print,
                 sharing: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one scenario real and simulated; never raises for a failed run (the row says why).

    With ``sharing`` (the calibration's ``cpu_sharing`` block) its reference load
    (``alone_ms``) is timed again before and after the real run, and the row also gets the
    prediction re-simulated with the CPU's work scaled by the machine's speed then
    (``report_drift_corrected``, ``speed``): what the error is once the host's drift
    between calibration and run is taken out. The plain ``report`` stays the headline.
    The node's effective cores are probed too, a few alone/together round pairs before and after the run
    (``capacity.capacity_rounds``), and the correction scales them as well (``cpu.cores``).
    """
    from gnnsim.analysis.whatif import whatif
    from gnnsim.calibrate.capacity import reference_step_s
    from gnnsim.pipeline import simulate
    from gnnsim.realrun.launch import scenario_for_ranks
    from gnnsim.realrun.netns import NetnsUnavailable, gnnsim_namespaces
    from gnnsim.validation.compare import compare

    row: dict[str, Any] = {"name": vs.name, "file": vs.path.name, "description": vs.description, "ranks": vs.ranks,
                           "groups": vs.groups, "expect": vs.expect, "cluster": vs.scenario.cluster.profile,
                           "shaped_link": None}
    started = time.perf_counter()
    try:
        scenario = scenario_for_ranks(vs.scenario, vs.ranks)
        reason = realrun_unsupported(scenario)
        if reason:
            raise _Skip(reason)
        shape = link_shape_for(vs) if vs.shaped_link else None
        row["shaped_link"] = shape.describe() if shape else None
        reference_s = sharing["alone_ms"] / 1e3 if sharing and sharing.get("alone_ms") else None
        probes = [reference_step_s()] if reference_s else []
        cores_probe = _capacity_probe(sharing) if reference_s else []
        measured = _measure(vs, scenario, row, progress)
        real_s = time.perf_counter() - started
        predicted = simulate(scenario, sensitivity=False)
        report = compare(predicted, measured)
        row.update(status="ok", real_wall_s=round(real_s, 2), report=report.to_dict(),
                   measured_iteration_times_s=measured.iteration_times_s,
                   measured_page_faults=measured.page_faults(),
                   rows_remote_fraction=_remote_fraction(measured))
        if reference_s:
            probes.append(reference_step_s())
            factor = speed_factor(reference_s, probes)
            row["speed"] = {"reference_ms": reference_s * 1e3, "probes_ms": [p * 1e3 for p in probes],
                            "factor": factor}
            knobs = {knob: factor for knob in DRIFT_KNOBS}
            if cores_probe:
                row["capacity"] = _capacity_row(sharing, cores_probe + _capacity_probe(sharing))
                knobs["cpu.cores"] = row["capacity"]["factor"]
            corrected = whatif(predicted, knobs)
            row["report_drift_corrected"] = compare(corrected, measured).to_dict()
    except (NetnsUnavailable, _Skip) as exc:
        row.update(status="skipped", error=str(exc))
    except GnnsimError as exc:
        row.update(status="failed", error=str(exc))
    except Exception as exc:  # a bug in a run must not stop the suite; the row keeps it
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row["wall_s"] = round(time.perf_counter() - started, 2)
    row["leftover_processes"] = _leftover_children()
    row["leftover_namespaces"] = [n for n in gnnsim_namespaces() if n.startswith(f"gnnsim-{os.getpid()}-")]
    row["as_expected"] = (row["status"] == "ok") == (vs.expect == "success") or row["status"] == "skipped"
    return row


def _measure(vs: ValidationScenario, scenario: Scenario, row: dict[str, Any], progress: Callable):
    """The scenario's real run (over its shaped link, if any), retried once where a run
    meant to succeed failed without timing out: a rare start-up race of the gloo
    rendezvous must not cost a scenario. The first error goes into ``row``, and a real
    failure fails again."""
    from gnnsim.realrun.launch import run_real
    from gnnsim.realrun.netns import shaped_link

    quiet = lambda *a, **k: None  # noqa: E731
    shape = link_shape_for(vs) if vs.shaped_link else None

    def attempt():
        if shape is None:
            return run_real(scenario, ranks=vs.ranks, timeout_s=vs.timeout_s, progress=quiet)
        with shaped_link(shape, vs.ranks) as net:
            return run_real(scenario, ranks=vs.ranks, timeout_s=vs.timeout_s, progress=quiet, netns=net)

    try:
        return attempt()
    except RealRunError as exc:
        if vs.expect != "success" or "timed out" in str(exc):
            raise
        row["first_attempt_error"] = str(exc)
        progress(f"(retrying after: {str(exc)[:120]})", end=" ", flush=True)
        return attempt()


def measure_again(vs: ValidationScenario, progress: Callable = print) -> dict[str, Any]:
    """The scenario's real run once more, later in the suite, against the same prediction:
    ``{"report", "measured_iteration_times_s", "wall_s"}``, or ``{"error"}`` where it
    failed. The two measurements of one job say how far apart this host measures it
    minutes apart, the noise floor below which no model's error can be told."""
    from gnnsim.pipeline import simulate
    from gnnsim.realrun.launch import scenario_for_ranks
    from gnnsim.validation.compare import compare

    started = time.perf_counter()
    scenario = scenario_for_ranks(vs.scenario, vs.ranks)
    try:
        measured = _measure(vs, scenario, {}, progress)
    except GnnsimError as exc:
        return {"error": str(exc)}
    return {"report": compare(simulate(scenario, sensitivity=False), measured).to_dict(),
            "measured_iteration_times_s": measured.iteration_times_s,
            "wall_s": round(time.perf_counter() - started, 2)}


def _capacity_probe(sharing: dict[str, Any] | None) -> list[tuple[float, float]]:
    """(alone, together) round pairs of the calibration's capacity measurement, a quick
    few (none without a calibrated ``cpu_sharing`` block)."""
    if not sharing or not sharing.get("effective_cores"):
        return []
    from gnnsim.calibrate.capacity import capacity_rounds

    return capacity_rounds(int(sharing["processes"]) - 1, int(sharing["threads"]), quick=True)


def _capacity_row(sharing: dict[str, Any], pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """The probed effective cores against the calibrated ones: ``factor`` is their ratio
    (the ``cpu.cores`` what-if knob).

    >>> _capacity_row({"effective_cores": 1.6, "processes": 2, "threads": 1}, [(1.0, 1.25), (2.0, 2.5)])
    {'calibrated_cores': 1.6, 'probed_cores': 1.6, 'factor': 1.0, 'pairs': 2}
    """
    from gnnsim.calibrate.capacity import effective_cores, pooled

    probed = effective_cores(int(sharing["processes"]), int(sharing["threads"]), *pooled(pairs))
    return {"calibrated_cores": sharing["effective_cores"], "probed_cores": round(probed, 3),
            "factor": round(probed / sharing["effective_cores"], 4), "pairs": len(pairs)}


def _remote_fraction(measured) -> float:
    remote = sum(it["rows_remote"] for r in measured.ranks for it in r["iterations"])
    total = sum(it["input_nodes"] for r in measured.ranks for it in r["iterations"])
    return remote / total if total else 0.0


# -- the suite's figures --------------------------------------------------------------------

def accuracy(rows: list[dict[str, Any]], report: str = "report") -> dict[str, Any]:
    """Iteration-time MAPE, per-stage errors and their counts over the successful runs
    (their ``report``, or another comparison of the rows such as ``report_drift_corrected``)."""
    ok = [r for r in rows if r["status"] == "ok" and r["expect"] == "success" and report in r]
    it_err = [r[report]["relative_error"]["iteration_time"] for r in ok]
    stage_err = [(r["name"], s, e) for r in ok for s, e in r[report]["relative_error"].items() if s != "iteration_time"]
    by_stage: dict[str, list[float]] = {}
    for _, s, e in stage_err:
        by_stage.setdefault(s, []).append(e)
    within = sum(abs(e) <= TARGET_STAGE_ERROR for _, _, e in stage_err)
    return {
        "scenarios_ok": len(ok),
        "iteration_mape": float(np.mean(np.abs(it_err))) if it_err else None,
        "iteration_mean_signed_error": float(np.mean(it_err)) if it_err else None,
        "iteration_max_abs_error": float(np.max(np.abs(it_err))) if it_err else None,
        "stage_mape": {s: float(np.mean(np.abs(v))) for s, v in by_stage.items()},
        "stage_mean_signed_error": {s: float(np.mean(v)) for s, v in by_stage.items()},
        "stage_errors_within_target": within,
        "stage_errors_total": len(stage_err),
        "worst_stage_errors": [{"scenario": n, "stage": s, "error": float(e)}
                               for n, s, e in sorted(stage_err, key=lambda t: -abs(t[2]))[:5]],
    }


def rankings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each ranking group: measured vs predicted order of iteration time, Spearman's rho."""
    from scipy.stats import spearmanr

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for g in r["groups"]:
            groups.setdefault(g, []).append(r)
    out = []
    for g, members in sorted(groups.items()):
        ok = [m for m in members if m["status"] == "ok"]
        missing = [m["name"] for m in members if m["status"] != "ok"]
        entry: dict[str, Any] = {"group": g, "members": [m["name"] for m in members], "missing": missing}
        if len(ok) < 2:
            why = f"only {len(ok)} member(s) ran" + (f"; not run: {', '.join(missing)}" if missing else
                                                      " (the others are not in this subset)")
            entry.update(compared=False, reason=why)
            out.append(entry)
            continue
        meas = np.array([m["report"]["measured"]["iteration_time_s"] for m in ok])
        pred = np.array([m["report"]["predicted"]["iteration_time_s"] for m in ok])
        names = [m["name"] for m in ok]
        meas_order = [names[i] for i in np.argsort(meas, kind="stable")]
        pred_order = [names[i] for i in np.argsort(pred, kind="stable")]
        rho = float(spearmanr(meas, pred).statistic) if len(ok) > 1 else float("nan")
        entry.update(compared=True, measured_order=meas_order, predicted_order=pred_order,
                     measured_s=dict(zip(names, meas.tolist())), predicted_s=dict(zip(names, pred.tolist())),
                     spearman_rho=None if np.isnan(rho) else rho, order_kept=meas_order == pred_order,
                     gaps_resolved=_gaps_resolved([ok[i] for i in np.argsort(meas, kind="stable")]))
        out.append(entry)
    return out


def repeat_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a suite whose jobs were measured twice (``results["repeat"]``): the
    model against the second pass and against the mean of both, and the passes against
    each other; all derived from the rows, so ``--render`` can compute them again."""
    second, between, mean = second_pass_rows(rows), between_passes_rows(rows), mean_of_passes_rows(rows)
    return {"accuracy": accuracy(second), "rankings": rankings(second),
            "between_passes": accuracy(between), "rankings_between_passes": rankings(between),
            "accuracy_mean": accuracy(mean), "rankings_mean": rankings(mean)}


def _measured_twice(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(r, r["repeat"]) for r in rows if r["status"] == "ok" and "report" in (r.get("repeat") or {})]


def second_pass_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows measured twice, their ``report`` the prediction against the second run."""
    return [{**r, "report": again["report"], "measured_iteration_times_s": again.get("measured_iteration_times_s")}
            for r, again in _measured_twice(rows)]


def between_passes_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows measured twice, their ``report`` the first measurement in the place of a
    prediction of the second: :func:`accuracy` and :func:`rankings` of these say how far
    apart the host measured the same jobs (the noise floor of the model's figures).

    >>> row = {"name": "a", "status": "ok", "expect": "success", "groups": [],
    ...        "report": {"measured": {"iteration_time_s": 10.0, "breakdown": {"fetch": {"time_s": 4.0}}}},
    ...        "repeat": {"report": {"measured": {"iteration_time_s": 12.5, "breakdown": {"fetch": {"time_s": 5.0}}}}}}
    >>> between_passes_rows([row])[0]["report"]["relative_error"]
    {'fetch': -0.2, 'iteration_time': -0.2}
    """
    from gnnsim.validation.compare import relative_errors

    out = []
    for r, again in _measured_twice(rows):
        first, second = r["report"]["measured"], again["report"]["measured"]
        out.append({**r, "report": {"measured": second, "predicted": first,
                                    "relative_error": relative_errors(first, second)},
                    "measured_iteration_times_s": again.get("measured_iteration_times_s")})
    return out


def mean_of_passes_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows measured twice, their ``report`` the prediction against the mean of the two
    measurements (per stage and per iteration): the model's error with half the variance
    of the host's run-to-run noise in the reference.

    >>> row = {"name": "a", "status": "ok", "expect": "success", "groups": [],
    ...        "report": {"predicted": {"iteration_time_s": 11.0, "breakdown": {"fetch": {"time_s": 4.4}}},
    ...                   "measured": {"iteration_time_s": 10.0, "breakdown": {"fetch": {"time_s": 4.0}}}},
    ...        "repeat": {"report": {"measured": {"iteration_time_s": 12.0, "breakdown": {"fetch": {"time_s": 4.8}}}}}}
    >>> {k: round(v, 3) for k, v in mean_of_passes_rows([row])[0]["report"]["relative_error"].items()}
    {'fetch': 0.0, 'iteration_time': 0.0}
    """
    from gnnsim.validation.compare import relative_errors

    out = []
    for r, again in _measured_twice(rows):
        first, second, predicted = r["report"]["measured"], again["report"]["measured"], r["report"]["predicted"]
        stages = set(first["breakdown"]) | set(second["breakdown"])
        mean = {"iteration_time_s": (first["iteration_time_s"] + second["iteration_time_s"]) / 2,
                "breakdown": {st: {"time_s": (first["breakdown"].get(st, {}).get("time_s", 0.0)
                                              + second["breakdown"].get(st, {}).get("time_s", 0.0)) / 2}
                              for st in sorted(stages)}}
        out.append({**r, "report": {"measured": mean, "predicted": predicted,
                                    "relative_error": relative_errors(predicted, mean)},
                    "measured_iteration_times_s": None})
    return out


def _stderr_s(row: dict[str, Any]) -> float | None:
    """Standard error of a run's mean iteration time (from its per-iteration times)."""
    times = row.get("measured_iteration_times_s")
    if not times or len(times) < 2:
        return None
    return float(np.std(times, ddof=1) / np.sqrt(len(times)))


def _gaps_resolved(ordered: list[dict[str, Any]]) -> list[bool] | None:
    """For each neighbouring pair in measured order: is the gap more than twice its standard error?

    A pair whose measured times differ by less than that is within run-to-run noise, so
    a swapped prediction there says little about the model.
    """
    out = []
    for a, b in zip(ordered, ordered[1:]):
        ea, eb = _stderr_s(a), _stderr_s(b)
        if ea is None or eb is None:
            return None
        gap = b["report"]["measured"]["iteration_time_s"] - a["report"]["measured"]["iteration_time_s"]
        out.append(bool(gap > 2.0 * np.hypot(ea, eb)))
    return out


def host_description() -> dict[str, Any]:
    """The machine the suite ran on, named in RESULTS.md."""
    import torch

    from gnnsim.calibrate.run import cpu_model

    return {"host": socket.gethostname(), "cpu_model": cpu_model(), "cpu_cores": os.cpu_count(),
            "machine": platform.machine(), "kernel": platform.release(), "python": platform.python_version(),
            "torch": str(torch.__version__), "numpy": str(np.__version__)}


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def run_suite(folder: str | Path, out_dir: str | Path, quick: bool = False, only: list[str] | None = None,
              progress: Callable = print, repeat: bool = False) -> dict[str, Any]:
    """Calibrate, run every scenario real and simulated, write ``RESULTS.md`` and ``results.json``.

    With ``repeat`` every scenario that ran is run real once more after the first pass,
    in reverse order (so the two runs of a job sit minutes apart, the first and last ones
    furthest), against the same prediction (:func:`measure_again`)."""
    from gnnsim.realrun.netns import cleanup_stale, netem_available

    suite = load_suite(folder, quick=quick, only=only)
    if not suite:
        raise ScenarioError(f"{folder}: no validation scenarios (*.yaml){' marked quick: true' if quick else ''}")
    started = time.perf_counter()
    stale = cleanup_stale() if os.geteuid() == 0 else []
    if stale:
        progress(f"removed {len(stale)} namespace(s) left by a crashed run: {', '.join(stale)}")
    out_dir = Path(out_dir)
    load_start = list(os.getloadavg())
    with calibrated_profiles(quick, progress) as root:
        calibration = yaml.safe_load((root / "calibrated" / f"{CALIBRATED_NAME}.yaml").read_text())
        sharing = calibration.get("cpu_sharing") or {}
        links = measure_shaped_links(suite, root, quick, progress)
        rows = []
        for i, vs in enumerate(suite, 1):
            progress(f"[{i}/{len(suite)}] {vs.name}: {vs.description} ...", end=" ", flush=True)
            row = run_scenario(vs, progress, sharing)
            rows.append(row)
            if row["status"] == "ok":
                rep = row["report"]
                progress(f"measured {rep['measured']['iteration_time_s'] * 1e3:.2f} ms, predicted "
                         f"{rep['predicted']['iteration_time_s'] * 1e3:.2f} ms "
                         f"({rep['relative_error']['iteration_time']:+.1%})  [{row['wall_s']:.0f} s]")
            else:
                progress(f"{row['status']}{' (expected)' if row['as_expected'] else ''}: {row['error'][:160]}")
        again = [(vs, row) for vs, row in zip(suite, rows) if row["status"] == "ok"][::-1] if repeat else []
        for i, (vs, row) in enumerate(again, 1):
            progress(f"[again {i}/{len(again)}] {vs.name} ...", end=" ", flush=True)
            row["repeat"] = measure_again(vs, progress)
            if "report" in row["repeat"]:
                first, second = (rep["measured"]["iteration_time_s"] for rep in (row["report"], row["repeat"]["report"]))
                progress(f"measured {second * 1e3:.2f} ms (first {first * 1e3:.2f} ms, {second / first - 1:+.1%})")
            else:
                progress(f"failed: {row['repeat']['error'][:160]}")
    results = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python validation/run.py" + (" --quick" if quick else "")
                   + (" --repeat" if quick and repeat else " --no-repeat" if not quick and not repeat else ""),
        "quick": quick,
        "host": {**host_description(), "load_average_start": load_start, "load_average_end": list(os.getloadavg())},
        "netem_available": netem_available() if os.geteuid() == 0 else False,
        "calibration": {"profile": f"calibrated/{CALIBRATED_NAME}", "quick": quick,
                        "provenance": calibration.get("provenance"), "residuals": calibration.get("residuals"),
                        "allreduce": calibration.get("allreduce"), "intra_link": calibration.get("intra_link"),
                        "sampler": calibration.get("sampler"), "cpu_sharing": calibration.get("cpu_sharing")},
        "shaped_links": links,
        "targets": {"iteration_mape": TARGET_ITERATION_MAPE, "stage_error": TARGET_STAGE_ERROR},
        "accuracy": accuracy(rows),
        "accuracy_drift_corrected": accuracy(rows, "report_drift_corrected"),
        "rankings": rankings(rows),
        **({"repeat": repeat_figures(rows)} if _measured_twice(rows) else {}),
        "scenarios": rows,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    from gnnsim.report.files import write_atomic

    write_atomic(out_dir / "results.json", json.dumps(results, indent=2, sort_keys=True, default=_plain) + "\n")
    write_atomic(out_dir / "RESULTS.md", results_markdown(results, cuda_results(folder)))
    progress(f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'} in {results['wall_s']:.0f} s")
    return results


def compare_measured_runs(scenarios: str | Path, measured: str | Path) -> dict[str, Any]:
    """Runs measured elsewhere (``validation/run_cuda.py --measure`` on a GPU machine)
    against simulations made now: one row per ``NAME.json`` in ``measured`` whose scenario
    is in ``scenarios``, with the suite's accuracy figures and ranking groups.

    Each run's own scenario (stored in its JSON, device profile included) is simulated,
    so a calibrated profile committed with the runs is what predicts them.
    """
    from gnnsim.pipeline import simulate
    from gnnsim.validation.compare import compare
    from gnnsim.validation.measured import MeasuredRun

    suite = {vs.name: vs for vs in load_suite(scenarios)}
    rows, devices = [], set()
    for path in sorted(Path(measured).glob("*.json")):
        if path.stem not in suite:
            continue
        vs = suite[path.stem]
        run = MeasuredRun.from_json(path.read_text())
        scenario = scenario_from_dict(run.scenario, str(path), str(vs.path.parent.resolve()))
        report = compare(simulate(scenario, sensitivity=False), run)
        if len(run.ranks) == 1:  # a lone rank runs no all-reduce: runs older than the trainer's
            for part in (report.measured["breakdown"], report.relative_error):  # skipping it timed the boundary
                part.pop("allreduce", None)
        devices.add(str(run.meta.get("device", "cpu")))
        rows.append({"name": vs.name, "file": vs.path.name, "description": vs.description, "ranks": vs.ranks,
                     "groups": vs.groups, "expect": "success", "status": "ok", "shaped_link": None,
                     "device": run.meta.get("device"), "device_profile": scenario.cluster.device_profile,
                     "measured_on": run.meta.get("date"), "report": report.to_dict(),
                     "measured_iteration_times_s": run.iteration_times_s})
    if not rows:
        raise ScenarioError(f"{measured}: no measured run (*.json) of a scenario in {scenarios}")
    return {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "devices": sorted(devices), "accuracy": accuracy(rows), "rankings": rankings(rows), "scenarios": rows}


# -- RESULTS.md ---------------------------------------------------------------------------

def _speed(row: dict[str, Any]) -> str:
    """The host-speed cells of a scenario row: the factor and the drift-corrected error."""
    if "speed" not in row:
        return " | "
    corrected = row["report_drift_corrected"]["relative_error"]["iteration_time"]
    cores = f", cores x{row['capacity']['factor']:.2f}" if "capacity" in row else ""
    return f"x{row['speed']['factor']:.2f}{cores} | {_pct(corrected)}"


def _drift_accuracy(results: dict[str, Any]) -> dict[str, Any] | None:
    """The drift-corrected figures, or None (results written before the host-speed probe)."""
    acc = results.get("accuracy_drift_corrected") or {}
    return acc if acc.get("scenarios_ok") else None


def host_stability(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """How steady the host ran over a suite: the reference load's probes, taken before
    and after every real run (``speed.probes_ms``), as their slowest over their fastest
    and their coefficient of variation; None where no run was probed.

    The model cannot be judged more finely than the host holds still: on an AMD EPYC VM
    (session 8) the same load took 5.2-12.0 ms within one suite run, on the Intel VM
    of the earlier runs 3.1-3.8 ms.

    >>> host_stability([{"speed": {"probes_ms": [4.0, 6.0]}}, {"speed": {"probes_ms": [5.0]}}, {}])
    {'fastest_ms': 4.0, 'slowest_ms': 6.0, 'spread': 1.5, 'cv': 0.1633, 'probes': 3}
    """
    probes = np.array([p for r in rows for p in (r.get("speed") or {}).get("probes_ms", [])], dtype=float)
    if probes.size == 0:
        return None
    return {"fastest_ms": float(probes.min()), "slowest_ms": float(probes.max()),
            "spread": round(float(probes.max() / probes.min()), 4), "cv": round(float(probes.std() / probes.mean()), 4),
            "probes": int(probes.size)}


def _stability_summary(results: dict[str, Any]) -> list[str]:
    """The summary-table row of the host's own steadiness (none for results without probes)."""
    steady = host_stability(results["scenarios"])
    if steady is None:
        return []
    target = results["targets"]["iteration_mape"]
    noisy = steady["cv"] > target
    return [f"| host speed over the run (a fixed reference load, {steady['probes']} probes) | "
            f"{steady['fastest_ms']:.2f}-{steady['slowest_ms']:.2f} ms (x{steady['spread']:.2f}, CV "
            f"{steady['cv']:.0%}) | CV <= {target:.0%} | "
            + ("**too noisy**: the host's own speed varied more than the target, so errors of that size cannot "
               "be told from its noise |" if noisy else "steady enough |")]


def _drift_summary(results: dict[str, Any]) -> list[str]:
    """Summary-table rows of the drift-corrected comparison (none for older results)."""
    acc = _drift_accuracy(results)
    if acc is None:
        return []
    mape = acc["iteration_mape"]
    return [f"| iteration time MAPE with the host's drift taken out (see below) | {mape:.1%} | "
            f"<= {results['targets']['iteration_mape']:.0%} | {_verdict(mape <= results['targets']['iteration_mape'])} |",
            f"| mean signed iteration error, drift taken out | {_pct(acc['iteration_mean_signed_error'])} | | |",
            f"| stage errors within {results['targets']['stage_error']:.0%}, drift taken out | "
            f"{acc['stage_errors_within_target']} of {acc['stage_errors_total']} | all | "
            f"{_verdict(acc['stage_errors_within_target'] == acc['stage_errors_total'])} |"]


def _drift_note(results: dict[str, Any]) -> list[str]:
    acc = _drift_accuracy(results)
    if acc is None:
        return []
    return ["", "*Host speed* (scenario table): the calibration's reference load (the training-like step of "
            "`calibrate/capacity.py`, alone on core 0) timed again before and after each real run; x1.10 means the "
            "machine ran 10% faster than when it was calibrated. *Drift taken out* re-simulates the run with the "
            "CPU's kernels, sampler and gathers scaled by that factor (`gnnsim whatif` knobs gpu.compute, "
            "cpu.sampling, cpu.gather): a micro-benchmark, never the run's own times. It separates the model's error "
            "from the host's speed changing between calibration and run; the headline figures above are without it. "
            "Where the row says *cores*, the node's effective cores for busy ranks were probed too (a few alone/"
            "together round pairs of the calibration's capacity load before and after the run; cores x0.90: 10% "
            "fewer than calibrated) and the re-simulation also scales them (knob cpu.cores). "
            "Per-stage MAPE with the drift taken out: " + _stage_mapes(acc) + "."]


def _repeat_summary(results: dict[str, Any]) -> list[str]:
    """Summary-table rows of the second pass (none where the jobs were measured once)."""
    rep = results.get("repeat")
    if not rep:
        return []
    floor, second, target = rep["between_passes"], rep["accuracy"], results["targets"]
    stable = [g for g in rep["rankings_between_passes"] if g.get("compared")]
    kept = [g for g in rep["rankings"] if g.get("compared")]
    return [f"| the same jobs measured again later in the run (see *Measured twice*): iteration time, first "
            f"pass against the second (MAPE) | {floor['iteration_mape']:.1%} | | the host's own noise floor: "
            f"model errors below it cannot be told apart |",
            f"| stages within {target['stage_error']:.0%} between the two passes | {floor['stage_errors_within_target']} "
            f"of {floor['stage_errors_total']} | | |",
            f"| ranking groups in the same measured order in both passes | {sum(g['order_kept'] for g in stable)} of "
            f"{len(stable)} | | |",
            f"| iteration time MAPE against the second pass | {second['iteration_mape']:.1%} | "
            f"<= {target['iteration_mape']:.0%} | {_verdict(second['iteration_mape'] <= target['iteration_mape'])} |",
            f"| ranking groups in the second pass's measured order | {sum(g['order_kept'] for g in kept)} of "
            f"{len(kept)} | all | {_verdict(all(g['order_kept'] for g in kept))} |",
            *_mean_summary(rep, target)]


def _mean_summary(rep: dict[str, Any], target: dict[str, float]) -> list[str]:
    """Summary-table rows of the model against the mean of both passes."""
    acc, kept = rep["accuracy_mean"], [g for g in rep["rankings_mean"] if g.get("compared")]
    return [f"| iteration time MAPE against the mean of both passes | {acc['iteration_mape']:.1%} "
            f"({_pct(acc['iteration_mean_signed_error'])} signed) | <= {target['iteration_mape']:.0%} | "
            f"{_verdict(acc['iteration_mape'] <= target['iteration_mape'])} |",
            f"| stage errors within {target['stage_error']:.0%} against the mean of both passes | "
            f"{acc['stage_errors_within_target']} of {acc['stage_errors_total']} | all | "
            f"{_verdict(acc['stage_errors_within_target'] == acc['stage_errors_total'])} |",
            f"| ranking groups in the order of the mean of both passes | {sum(g['order_kept'] for g in kept)} of "
            f"{len(kept)} | all | {_verdict(all(g['order_kept'] for g in kept))} |"]


def _repeat_section(results: dict[str, Any]) -> list[str]:
    """The *Measured twice* section: each job's two measurements against the one prediction."""
    rep = results.get("repeat")
    if not rep:
        return []
    lines = ["", "## Measured twice", "",
             "After the first pass every job that ran was run real once more, in reverse order (a job's two runs "
             "sit minutes apart). The prediction is the same for both; how far apart the two measurements are is "
             "the host's run-to-run noise. *Stage furthest apart*: the stage whose two measurements differ most "
             "(first against second).", "",
             "| scenario | first ms | second ms | first vs second | predicted ms | error vs first | error vs second | "
             "stage furthest apart |",
             "|---|---|---|---|---|---|---|---|"]
    between = {r["name"]: r["report"]["relative_error"] for r in between_passes_rows(results["scenarios"])}
    for r in results["scenarios"]:
        again = r.get("repeat")
        if r["status"] != "ok" or not again:
            continue
        if "report" not in again:
            lines.append(f"| {r['name']} | {_ms(r['report']['measured']['iteration_time_s'])} | failed: "
                         f"`{again['error'].splitlines()[0][:120]}` | | | | | |")
            continue
        first, second = r["report"], again["report"]
        apart = {s: e for s, e in between[r["name"]].items() if s != "iteration_time"}
        far = max(apart, key=lambda s: abs(apart[s])) if apart else ""
        lines.append(f"| {r['name']} | {_ms(first['measured']['iteration_time_s'])} | "
                     f"{_ms(second['measured']['iteration_time_s'])} | {_pct(between[r['name']]['iteration_time'])} | "
                     f"{_ms(first['predicted']['iteration_time_s'])} | {_pct(first['relative_error']['iteration_time'])} | "
                     f"{_pct(second['relative_error']['iteration_time'])} | {far} {_pct(apart.get(far))} |")
    lines += ["", "Per-stage, first pass against the second (MAPE, signed in brackets): "
              + _stage_mapes(rep["between_passes"]) + ". The model against the second pass: "
              + _stage_mapes(rep["accuracy"]) + ". Against the mean of both: "
              + _stage_mapes(rep["accuracy_mean"]) + ".", "",
              "| group | first pass order | second pass order | same order | predicted order |",
              "|---|---|---|---|---|"]
    for g in rep["rankings_between_passes"]:
        if g.get("compared"):
            predicted = next((x for x in results["rankings"] if x["group"] == g["group"]), {}).get("predicted_order", [])
            lines.append(f"| {g['group']} | {' < '.join(g['predicted_order'])} | {' < '.join(g['measured_order'])} | "
                         f"{'yes' if g['order_kept'] else '**no**'} | {' < '.join(predicted)} |")
    return lines


def _stage_mapes(acc: dict[str, Any]) -> str:
    """``stage MAPE (signed)`` for each stage, in pipeline order (results.json, read back
    for ``--render``, may hold them in any order)."""
    mape, signed = acc["stage_mape"], acc.get("stage_mean_signed_error", {})
    order = [s for s in STAGES if s in mape] + sorted(s for s in mape if s not in STAGES)
    return ", ".join(f"{s} {mape[s]:.0%} ({signed.get(s, 0.0):+.0%})" for s in order)


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x * 1e3:.2f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


LIMITS = """\
- **Shared, noisy CPU.** All ranks, the sampler and gloo share this machine's cores with
  whatever else runs; a 2-core VM also steals time (vCPU wake-ups after idling at a
  collective are modelled only through the calibrated wake-up cost). The machine's
  speed drifts between the calibration and the runs (the same fixed load took 3.1 to
  7 ms from minute to minute on the Intel dev VM, 4.1 to 12 ms on an AMD EPYC VM; the
  summary says how steady the host was in this run), which moves every
  stage's error together; so does the node's effective capacity for two busy ranks,
  which the calibration measures (1.15 and 1.98 cores in two calibrations of one
  afternoon, before it pooled round pairs from two moments; the suite came out +23%
  and -24% signed after them):
  the sampler, whose model is the same in every run, came out -15% to +12% between
  suite runs. Each scenario measures 150 iterations: gloo stalls of 3-10 ms hit about
  a third of the iterations' feature exchanges, and 20 iterations left the mean of a
  stage 30-80% apart between runs.
- **Micro-benchmarks vs a training step.** Kernels are calibrated one shape at a time,
  alone, with the heap in steady state and the data streamed out of the caches before
  each run (code warm), as an op runs inside a step; first touch is charged only to
  allocations of 32 MiB and more, which glibc maps afresh. Counted in a training loop,
  the step's outputs fault on 2.5-7% of their pages (all in the aggregation's gathered
  rows), which the model does not charge; between 32 and 64 MiB an output reuses the
  heap's free top or not depending on what came before. Full-batch steps fault far more
  (the trainer counts every stage's faults, the last column of the per-stage tables):
  about 1,600 pages in the forward and as many in the backward of sbm-metis-fullbatch,
  some 3 ms each at ~2 us a fault. glibc raises its mmap threshold to the largest block
  freed so far and trims the heap's top once more than twice that lies free; a step
  whose transient peak exceeds it gives the memory back after every step and faults it
  in again. Timed alone, that layer stack's forward took 8.5-10 ms with 4,100 faults a
  step (time and faults correlated 0.86-0.93) and 5.0 ms with none when the heap was
  held (`MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1000000000`; setting the
  trim threshold alone turns the dynamic mmap threshold off and made it 16.5 ms with
  10,700). The model has no step-level heap, so it charges none of this; since session
  10 the real trainer's ranks run with glibc's heap held steady
  (`realrun.launch.STEADY_HEAP_ENV`: the 32 MiB mmap threshold fixed, no trimming; what
  jemalloc or tcmalloc give CPU training setups), as the calibration and the model
  assume. On sbm-metis-fullbatch that took the forward from 7.5-9.0 ms (CV 0.33 per
  rank, uncorrelated between the ranks, each waiting ~4.5 ms at the halo for the other)
  to 4.7-5.0 ms (CV 0.05-0.12). How much of a step's data
  really sits in the last-level cache depends on its size, which a per-kernel
  benchmark cannot see; autograd's bookkeeping between kernels is in no kernel class.
- **Collective stalls.** gloo's small collectives on this VM stall for a scheduler
  time slice (2-4 ms) now and then: each rank's gloo event-loop thread shares the
  rank's one core and spins in `epoll_wait`, and the worker that must finish the
  collective waits out its slice. The all-to-all stalls mostly when the ranks enter it
  under ~20 us apart (1 KB: 1.1-1.6 ms on average then, 0.2-0.3 ms further apart), the
  all-reduce at any skew (1.1-2.1 ms). The calibration measures every call's entry skew
  and cost on the host's shared clock and fits alpha's factor against the skew, per
  collective; the simulator scales each collective's alpha by the spread it sees there.
  Both stall more after longer compute since the previous collective (a 68 KB
  all-reduce: 1.4-1.7 ms right after one, 2.6 ms after 4 ms of compute), which the
  calibration measures too (the busy-gap factor). How often they stall drifts within
  minutes: the calibrated all-to-all alpha ranged 0.7-1.6 ms and the all-reduce's
  busy rise 0.18-1.67 between calibrations of one afternoon, so fetch and all-reduce
  carry most of the run-to-run error (suite MAPE 12.6-21.5% over runs of nearly the
  same code in session 9). Measured directly since session 12 (*Measured twice*): the
  same jobs run again minutes later came out 10-12% MAPE apart, 14-25 of 101 stages
  more than 20% apart, and 2-4 of the 9 ranking groups reversed their measured order,
  so on this host no model can be shown to meet the suite's targets. Full-batch training's per-layer compute varies by
  36-39% from iteration to iteration, independently on each rank (correlation -0.02;
  mini-batch stages: 0.5-0.8 between ranks), so the halo exchange waits far longer for
  the later rank than the simulator's calibrated jitter (CV 0.11) makes it.
- **Shaped links.** `tc tbf` limits the rate of a veth; TCP over a token bucket has
  slow-start and burst effects that the alpha-beta link model (one latency, one rate)
  does not capture, so mid-sized messages (tens of KB to a few MB) take longer than
  the fit predicts (see the link fit error above). No delay could be added where the
  kernel has no `netem` qdisc. The ranks wait ~30 ms in every fetch over a slow link,
  and a core that sat idle computes slower for a while: the calibration measures that
  warm-up on a training-like step and the simulator charges it, which accounts for
  about half of why those runs' compute stages are slower than on loopback (the rest
  is unexplained; the step's working set is not every stage's).
- **Waiting is timed as the next stage.** The real trainer times each stage on each
  rank from the end of the previous one, so a rank that finished backward early spends
  its wait for the slower rank inside `allreduce` (and inside `fetch`, whose
  all-to-alls are also synchronising). Those two stages therefore carry the ranks'
  imbalance and jitter; the simulator models them (barriers, calibrated jitter and
  wake-up cost) but any misfit of either shows there first.
- **4 ranks on 2 cores.** Their collectives take the numbers the calibration measured
  with two processes per core (every gloo message waits for its receiver's next time
  slice: a small all-to-all 3 ms there against 0.6 ms between two ranks), and two
  ranks that share a core take it in turns (a rank keeps it while it computes, up to
  the calibrated time slice, 4 ms here). The real ranks' compute stages each stretch
  by 1.25-1.4x; in the model the second rank on a core waits for the first's whole
  forward and backward, so its forward comes out too long and its backward short,
  and the all-reduce short; the iteration, their sum, is close.
- **Only what the real trainer runs.** Scenarios the real trainer (gnnsim/realrun)
  cannot run yet are skipped with its reason (see above), not compared.
"""


def _calibration_figures(cal: dict[str, Any]) -> str:
    """The calibrated communication and sampler figures, to tell a disturbed calibration at a glance."""
    parts = []
    ar, link, smp = cal.get("allreduce") or {}, cal.get("intra_link") or {}, cal.get("sampler") or {}
    if ar:
        parts.append(f"gloo all-reduce alpha {ar.get('alpha_us', 0):.0f} us, {ar.get('gbps', 0):.2f} GB/s, "
                     f"wake-up {ar.get('wakeup_us', 0):.0f} us")
    if link:
        parts.append(f"loopback all-to-all {link.get('latency_us', 0):.0f} us, {link.get('bw_gbps', 0):.2f} GB/s")
    if smp:
        parts.append(f"sampler {smp.get('per_batch_us', 0):.0f} us/batch + {smp.get('per_node_ns', 0):.0f} ns/node + "
                     f"{smp.get('per_edge_ns', 0):.0f} ns/edge")
    sharing = cal.get("cpu_sharing") or {}
    if sharing:
        parts.append(f"kernels timed alone; node capacity {sharing.get('effective_cores', 0):.2f} effective cores "
                     f"for {sharing.get('demand_cores', 0)} busy cores"
                     + (f", time slice {sharing['time_slice_ms']:.2f} ms" if "time_slice_ms" in sharing else ""))
    wall = (cal.get("provenance") or {}).get("wall_s")
    return (" Calibrated: " + "; ".join(parts) + (f" (calibration took {wall:.0f} s)" if wall else "") + ".") if parts else ""


def cuda_results(scenarios: str | Path) -> dict[str, Any] | None:
    """The GPU runs' comparison (``cuda/results.json`` beside the scenarios folder,
    written by ``validation/run_cuda.py``), or None where there is none."""
    path = Path(scenarios).resolve().parent / "cuda" / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _cuda_markdown(cuda: dict[str, Any]) -> list[str]:
    """The CUDA section of RESULTS.md: runs measured on a GPU machine, predicted now."""
    acc = cuda["accuracy"]
    devices = ", ".join(cuda["devices"])
    lines = ["", f"## CUDA runs ({devices})", "",
             f"One GPU ({devices}), measured by `python validation/run_cuda.py --measure` on a machine lent for it "
             "(the runs and the calibration's raw samples are in `validation/cuda/measured/`), predicted from the "
             "calibrated profile measured on the same machine in the same session, from micro-benchmarks only "
             f"(`hwprofiles/calibrated/`). Compared by `python validation/run_cuda.py` on {cuda['generated']}. "
             "The host is a 16-core VM; each GPU run is one rank with one host thread.",
             "",
             f"Iteration time MAPE {acc['iteration_mape']:.1%} over {acc['scenarios_ok']} runs (mean signed "
             f"{_pct(acc['iteration_mean_signed_error'])}); {acc['stage_errors_within_target']} of "
             f"{acc['stage_errors_total']} stage errors within {TARGET_STAGE_ERROR:.0%}; "
             f"{sum(g.get('order_kept', False) for g in cuda['rankings'])} of "
             f"{sum(bool(g.get('compared')) for g in cuda['rankings'])} ranking groups in measured order. "
             "Per-stage MAPE: " + _stage_mapes(acc) + ".",
             "",
             "| scenario | measured | predicted | error | " + " | ".join(s for s in STAGES if s != "halo") + " |",
             "|---|---|---|---|" + "---|" * (len(STAGES) - 1)]
    for r in cuda["scenarios"]:
        rep = r["report"]
        cells = []
        for s in STAGES:
            if s == "halo":
                continue
            m = rep["measured"]["breakdown"].get(s, {}).get("time_s")
            p = rep["predicted"]["breakdown"].get(s, {}).get("time_s")
            cells.append("" if m is None else f"{_ms(m)} / {_ms(p or 0.0)}")
        lines.append(f"| {r['name']} | {_ms(rep['measured']['iteration_time_s'])} | "
                     f"{_ms(rep['predicted']['iteration_time_s'])} | {_pct(rep['relative_error']['iteration_time'])} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Stage cells: measured / predicted ms per iteration. " + CUDA_NOTES, "",
              "| group | measured order | predicted order | order kept |", "|---|---|---|---|"]
    for g in cuda["rankings"]:
        if g.get("compared"):
            lines.append(f"| {g['group']} | {' < '.join(g['measured_order'])} | {' < '.join(g['predicted_order'])} | "
                         f"{'yes' if g['order_kept'] else '**no**'} |")
    return lines


CUDA_NOTES = (
    "A single rank runs no all-reduce; the runs measured before the trainer stopped timing one for a lone "
    "rank timed 14-20 us of stage boundary there, which the comparison leaves out (the iteration keeps it). "
    "`fetch` with cached rows is mostly host bookkeeping on the batch's ids "
    "(which rows are cached, where they go), which the model does not charge; "
    "`forward` and `backward` on a GPU are host-bound (about 40-60 us per kernel on this host), "
    "and the host's speed varied by up to 2x between the machines lent for the measurements.")


def results_markdown(results: dict[str, Any], cuda: dict[str, Any] | None = None) -> str:
    """RESULTS.md: the accuracy table of one harness run (and the GPU runs', if given)."""
    h, acc = results["host"], results["accuracy"]
    cal = results["calibration"]
    lines = [
        "# Validation results",
        "",
        f"Generated by `{results['command']}` on {results['generated']} in {results['wall_s']:.0f} s. "
        "Regenerate with the same command; do not edit by hand.",
        "",
        f"- **Machine:** `{h['host']}`, {h['cpu_model']}, {h['cpu_cores']} CPU cores ({h['machine']}, Linux "
        f"{h['kernel']}), Python {h['python']}, torch {h['torch']}, numpy {h['numpy']}. Real runs: gloo on CPU, "
        "one thread per rank."
        + (f" Load average (1 min) {h['load_average_start'][0]:.2f} at the start, {h['load_average_end'][0]:.2f} at "
           f"the end: it counts this suite's own processes too, so only a value well above the ranks it runs (2-4) means other work shared the cores." if "load_average_start" in h else ""),
        f"- **Calibration:** `{cal['profile']}`, measured in the same run from micro-benchmarks only "
        f"(`gnnsim.calibrate.run.calibrate(device='cpu', quick={cal['quick']})`), never from the runs below."
        + _calibration_figures(cal),
    ]
    for name, link in (results.get("shaped_links") or {}).items():
        if "error" in link:
            lines.append(f"- **Link `{name}`** ({link['shape']}): not measured ({link['error']}); nominal numbers used.")
        else:
            lines.append(f"- **Link `{name}`**: a veth between two network namespaces shaped by `tc` to {link['shape']}; "
                         f"measured in this run with the gloo all-reduce/all-to-all benchmark inside the namespaces: "
                         f"{link['bw_gbps'] * 1e3:.1f} MB/s, {link['latency_us']:.0f} us "
                         f"(nominal {link['nominal_bw_gbps'] * 1e3:.0f} MB/s; alpha-beta fit error {link['fit_mape']:.0%}).")
    lines.append(f"- **netem (link delay):** {'available' if results['netem_available'] else 'not in this kernel; delayed-link scenarios are skipped'}.")
    rows = results["scenarios"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "failed", "skipped")}
    ranks = results["rankings"]
    compared = [g for g in ranks if g.get("compared")]
    kept = sum(g["order_kept"] for g in compared)
    mape = acc["iteration_mape"]
    lines += [
        "",
        "## Summary",
        "",
        f"{len(rows)} scenarios: {counts['ok']} ran, {counts['failed']} failed, {counts['skipped']} skipped "
        f"({sum(r['expect'] == 'failure' for r in rows)} meant to fail).",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
        f"| iteration time MAPE | {'n/a' if mape is None else f'{mape:.1%}'} | <= {results['targets']['iteration_mape']:.0%} | "
        f"{'' if mape is None else _verdict(mape <= results['targets']['iteration_mape'])} |",
        f"| mean signed iteration error | {_pct(acc['iteration_mean_signed_error'])} | | "
        f"{'' if acc['iteration_mean_signed_error'] is None else ('under-predicts' if acc['iteration_mean_signed_error'] < 0 else 'over-predicts')} |",
        f"| stage errors within {results['targets']['stage_error']:.0%} | {acc['stage_errors_within_target']} of "
        f"{acc['stage_errors_total']} | all | {_verdict(acc['stage_errors_within_target'] == acc['stage_errors_total'])} |",
        f"| ranking groups in measured order | {kept} of {len(compared)} | all | {_verdict(kept == len(compared))} |",
        *_drift_summary(results),
        *_stability_summary(results),
        *_repeat_summary(results),
        "",
        "Per-stage MAPE over the suite (mean signed error in brackets; negative = the model is too fast): "
        + _stage_mapes(acc) + ".",
        *_drift_note(results),
        "",
        "## Scenarios",
        "",
        "Times are per iteration (ms): a stage is the mean over ranks and iterations, the iteration the mean of the "
        "slowest rank's time. Error = (predicted - measured) / measured. *Measured page faults*: minor faults per "
        "iteration and rank in the stage (fresh 4 KiB pages, ~2 us each here; the model charges first touch only "
        "to allocations of 32 MiB and more; a full-batch step's large peak makes glibc give freed memory back to "
        "the OS and fault it in again every step).",
        "",
        "| scenario | ranks | link | measured | spread (CV) | predicted | error | worst stage | host speed | "
        "error, drift out |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        link = r["shaped_link"] or "loopback"
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | {r['ranks']} | {link} | {r['status']} | | | | | | |")
            continue
        rep = r["report"]
        stage_errs = {s: e for s, e in rep["relative_error"].items() if s != "iteration_time"}
        worst = max(stage_errs, key=lambda s: abs(stage_errs[s])) if stage_errs else ""
        times = r.get("measured_iteration_times_s") or []
        cv = f"{np.std(times, ddof=1) / np.mean(times):.0%}" if len(times) > 1 else ""
        lines.append(f"| {r['name']} | {r['ranks']} | {link} | {_ms(rep['measured']['iteration_time_s'])} | {cv} | "
                     f"{_ms(rep['predicted']['iteration_time_s'])} | {_pct(rep['relative_error']['iteration_time'])} | "
                     f"{worst} {_pct(stage_errs.get(worst))} | {_speed(r)} |")
    lines += ["", "### Per stage", ""]
    for r in rows:
        if r["status"] != "ok":
            continue
        rep = r["report"]
        faults = r.get("measured_page_faults") or {}
        lines += [f"**{r['name']}** ({r['file']}): {r['description']}", "",
                  "| stage | measured ms | predicted ms | error | measured page faults |", "|---|---|---|---|---|"]
        stages = [s for s in STAGES if s in rep["measured"]["breakdown"] or rep["predicted"]["breakdown"].get(s, {}).get("time_s")]
        for s in stages:
            m = rep["measured"]["breakdown"].get(s, {}).get("time_s")
            p = rep["predicted"]["breakdown"].get(s, {}).get("time_s")
            counted = f"{faults[s]:.0f}" if s in faults else ""
            lines.append(f"| {s} | {_ms(m)} | {_ms(p)} | {_pct(rep['relative_error'].get(s))} | {counted} |")
        total = f"{sum(faults.values()):.0f}" if faults else ""
        lines += [f"| **iteration** | {_ms(rep['measured']['iteration_time_s'])} | "
                  f"{_ms(rep['predicted']['iteration_time_s'])} | {_pct(rep['relative_error']['iteration_time'])} | "
                  f"{total} |", ""]
    lines += ["## Ranking groups", "",
              "Same job with one thing varied; the order is by iteration time, fastest first. *Measured gaps "
              "resolved*: of the neighbouring pairs in measured order, how many differ by more than twice the "
              "standard error of their difference (the rest are within run-to-run noise, where a swap says little).",
              "",
              "| group | measured order | predicted order | Spearman rho | order kept | measured gaps resolved |",
              "|---|---|---|---|---|---|"]
    for g in ranks:
        if not g.get("compared"):
            lines.append(f"| {g['group']} | {g['reason']} | | | | |")
            continue
        rho = "n/a" if g["spearman_rho"] is None else f"{g['spearman_rho']:+.2f}"
        gaps = g.get("gaps_resolved")
        resolved = "n/a" if gaps is None else f"{sum(gaps)} of {len(gaps)}"
        lines.append(f"| {g['group']} | {' < '.join(g['measured_order'])} | {' < '.join(g['predicted_order'])} | "
                     f"{rho} | {'yes' if g['order_kept'] else '**no**'} | {resolved} |")
    lines += _repeat_section(results)
    problems = [r for r in rows if r["status"] != "ok"]
    if problems:
        lines += ["", "## Failed and skipped runs", "",
                  "A failed rank is reported with its error; a timeout kills the whole process group; the suite goes on.",
                  ""]
        for r in problems:
            expected = " (expected: this scenario checks robustness)" if r["expect"] == "failure" else ""
            leak = (f" Left behind: processes {r['leftover_processes']}, namespaces {r['leftover_namespaces']}."
                    if r["leftover_processes"] or r["leftover_namespaces"] else " Nothing left behind.")
            lines.append(f"- **{r['name']}** {r['status']}{expected}: `{r['error'].splitlines()[0][:300]}`.{leak}")
    retried = [r for r in rows if r.get("first_attempt_error")]
    if retried:
        lines += ["", "## Retried runs", "",
                  "These runs failed once without timing out and were run again (the numbers above are the retry's):", ""]
        lines += [f"- **{r['name']}**: `{r['first_attempt_error'].splitlines()[0][:300]}`" for r in retried]
    if cuda:
        lines += _cuda_markdown(cuda)
    lines += ["", "## What limits accuracy", "", LIMITS]
    return "\n".join(lines) + "\n"
