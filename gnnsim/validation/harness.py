"""The validation harness: run every scenario for real and simulated, and write the accuracy table.

The scenarios and their ``validation:`` block are read by :mod:`gnnsim.validation.suite`.
The harness first calibrates this machine from micro-benchmarks
(:func:`gnnsim.calibrate.run.calibrate`) into a temporary copy of ``hwprofiles``
(``GNNSIM_HWPROFILES`` points there for the whole run) as ``calibrated/validation``, the
device profile every scenario names. Each shaped link is measured the same way
(:mod:`gnnsim.validation.links`): the calibration's gloo benchmark, run inside the
namespaces, replaces the link profile's nominal rate and latency in that copy. Nothing
from the end-to-end runs feeds a prediction. Then each scenario is run real
(:func:`gnnsim.realrun.launch.run_real`) and simulated (:func:`gnnsim.pipeline.simulate`)
and compared (:func:`gnnsim.validation.compare.compare`). A scenario that fails, hangs or
cannot be set up is recorded with its error and the harness goes on.

The results: per scenario the measured and predicted time of each stage and of the
iteration with the relative error ``(predicted - measured) / measured``; the mean
absolute percentage error (MAPE) of the iteration time over the suite; and, for each
ranking group, whether the predicted order of the members equals the measured order,
with Spearman's rank correlation (:mod:`gnnsim.validation.figures`), written as
``results.json`` and ``RESULTS.md`` (:mod:`gnnsim.validation.markdown`).
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gnnsim.config import Scenario, scenario_from_dict
from gnnsim.errors import GnnsimError, RealRunError, ScenarioError
from gnnsim.measured import MeasuredRun
from gnnsim.outputs import write_atomic
from gnnsim.realrun.procs import leftover_children
from gnnsim.validation.figures import (TARGET_ITERATION_MAPE, TARGET_STAGE_ERROR, accuracy, measured_twice, own_rows,
                                       rankings, repeat_figures, trainer_blocks)
from gnnsim.validation.links import link_shape_for, measure_shaped_links
from gnnsim.validation.markdown import cuda_results, limits_text, results_markdown
from gnnsim.validation.suite import ValidationScenario, load_suite
CALIBRATED_NAME = "validation"  # scenarios name cluster.device_profile: calibrated/validation


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


class _Skip(Exception):
    """The scenario cannot run real here (the reason is the message)."""


def realrun_unsupported(scenario: Scenario, trainer: str = "torch") -> str | None:
    """Why the real ``trainer`` cannot run ``scenario`` (None when it can): such rows are skipped."""
    if trainer == "pyg":
        from gnnsim.realrun.pyg_worker import unsupported as pyg_unsupported

        reason = pyg_unsupported(scenario)
        if reason is None:
            try:
                import torch_geometric  # noqa: F401
            except ImportError:
                return "the PyG trainer needs torch-geometric, which does not import here"
        return reason
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
    from gnnsim.variants import whatif
    from gnnsim.calibrate.capacity import reference_step_s
    from gnnsim.pipeline import simulate
    from gnnsim.realrun.launch import scenario_for_ranks
    from gnnsim.realrun.netns import NetnsUnavailable, gnnsim_namespaces
    from gnnsim.validation.compare import compare

    row: dict[str, Any] = {"name": vs.name, "file": vs.path.name, "description": vs.description, "ranks": vs.ranks,
                           "groups": vs.groups, "expect": vs.expect, "cluster": vs.scenario.cluster.profile,
                           "shaped_link": None, "trainer": vs.trainer}
    started = time.perf_counter()
    try:
        scenario = scenario_for_ranks(vs.scenario, vs.ranks)
        reason = realrun_unsupported(scenario, vs.trainer)
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
    row["leftover_processes"] = leftover_children()
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
            return run_real(scenario, ranks=vs.ranks, timeout_s=vs.timeout_s, progress=quiet, trainer=vs.trainer)
        with shaped_link(shape, vs.ranks) as net:
            return run_real(scenario, ranks=vs.ranks, timeout_s=vs.timeout_s, progress=quiet, netns=net,
                            trainer=vs.trainer)

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
    # (the PyG trainer keeps every row on every rank: nothing remote, no count)
    remote = sum(it.get("rows_remote", 0) for r in measured.ranks for it in r["iterations"])
    total = sum(it["input_nodes"] for r in measured.ranks for it in r["iterations"])
    return remote / total if total else 0.0


def host_description() -> dict[str, Any]:
    """The machine the suite ran on, named in RESULTS.md."""
    import torch

    from gnnsim.calibrate.measure import cpu_model

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
              progress: Callable = print, repeat: bool = False, trainer: str | None = None) -> dict[str, Any]:
    """Calibrate, run every scenario real and simulated, write ``RESULTS.md`` and ``results.json``.

    With ``repeat`` every scenario that ran is run real once more after the first pass,
    in reverse order (so the two runs of a job sit minutes apart, the first and last ones
    furthest), against the same prediction (:func:`measure_again`)."""
    from gnnsim.realrun.netns import cleanup_stale, netem_available

    suite = load_suite(folder, quick=quick, only=only)
    if trainer:
        suite = [vs for vs in suite if vs.trainer == trainer]
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
        "command": "python validation/run.py" + (" --quick" if quick else "") + (f" --trainer {trainer}" if trainer else "")
                   + (" --repeat" if quick and repeat else " --no-repeat" if not quick and not repeat else ""),
        "quick": quick,
        "host": {**host_description(), "load_average_start": load_start, "load_average_end": list(os.getloadavg())},
        "netem_available": netem_available() if os.geteuid() == 0 else False,
        "calibration": {"profile": f"calibrated/{CALIBRATED_NAME}", "quick": quick,
                        "provenance": calibration.get("provenance"), "residuals": calibration.get("residuals"),
                        "allreduce": calibration.get("allreduce"), "intra_link": calibration.get("intra_link"),
                        "sampler": calibration.get("sampler"), "cpu_sharing": calibration.get("cpu_sharing"),
                        "frameworks": calibration.get("frameworks")},
        "shaped_links": links,
        "targets": {"iteration_mape": TARGET_ITERATION_MAPE, "stage_error": TARGET_STAGE_ERROR},
        # the headline figures are gnnsim's own trainer's; another trainer's have their own block
        "accuracy": accuracy(own_rows(rows)),
        "accuracy_drift_corrected": accuracy(own_rows(rows), "report_drift_corrected"),
        "rankings": rankings(own_rows(rows)),
        **({"repeat": repeat_figures(own_rows(rows))} if measured_twice(own_rows(rows)) else {}),
        **({"trainers": trainer_blocks(rows)} if trainer_blocks(rows) else {}),
        "scenarios": rows,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_atomic(out_dir / "results.json", json.dumps(results, indent=2, sort_keys=True, default=_plain) + "\n")
    write_atomic(out_dir / "RESULTS.md", results_markdown(results, cuda_results(folder), limits_text(folder)))
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
