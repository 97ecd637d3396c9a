"""RESULTS.md: the suite's results as Markdown, the GPU runs' section, and what limits accuracy.

:func:`results_markdown` renders one harness run's ``results.json`` (and, given one,
the GPU runs' comparison). The closing section, *What limits accuracy*, is prose about
the host the suite ran on: it is read from ``LIMITS.md`` beside the scenarios folder
(:func:`limits_text`) and left out where there is none. The *Measured twice* section
(:mod:`gnnsim.validation.repeat_markdown`) and each other trainer's
(:mod:`gnnsim.validation.trainer_markdown`) have modules of their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gnnsim.validation.figures import TARGET_STAGE_ERROR, host_stability
from gnnsim.validation.formatting import STAGES, TRAINER_NAMES
from gnnsim.validation.formatting import ms as _ms
from gnnsim.validation.formatting import pct as _pct
from gnnsim.validation.formatting import stage_mapes as _stage_mapes
from gnnsim.validation.formatting import verdict as _verdict
from gnnsim.validation.repeat_markdown import repeat_section, repeat_summary
from gnnsim.validation.trainer_markdown import trainer_sections


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


def _named(row: dict[str, Any]) -> str:
    """A scenario's name, marked with its real trainer where that is not gnnsim's own."""
    trainer = row.get("trainer", "torch")
    return row["name"] if trainer == "torch" else f"{row['name']} *({TRAINER_NAMES.get(trainer, trainer)})*"


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
    pyg = (cal.get("frameworks") or {}).get("pyg")
    if pyg:
        over, sage = pyg.get("overheads") or {}, (pyg.get("models") or {}).get("graphsage") or {}
        parts.append(f"PyG {pyg.get('version', '')} against plain torch: GraphSAGE +{sage.get('per_layer_forward_us', 0):.0f} "
                     f"us per layer forward, +{sage.get('per_layer_backward_us', 0):.0f} us backward; NodeLoader "
                     f"+{over.get('per_iteration_us', 0):.0f} us per batch")
    wall = (cal.get("provenance") or {}).get("wall_s")
    return (" Calibrated: " + "; ".join(parts) + (f" (calibration took {wall:.0f} s)" if wall else "") + ".") if parts else ""


def limits_text(scenarios: str | Path) -> str | None:
    """The *What limits accuracy* section's text (``LIMITS.md`` beside the scenarios
    folder), or None where there is none."""
    path = Path(scenarios).resolve().parent / "LIMITS.md"
    return path.read_text() if path.is_file() else None


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
             "Each GPU run is one rank with one host thread.",
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


def results_markdown(results: dict[str, Any], cuda: dict[str, Any] | None = None, limits: str | None = None) -> str:
    """RESULTS.md: the accuracy table of one harness run (and the GPU runs', if given),
    closed by ``limits``, the prose of what limits accuracy on its host (:func:`limits_text`)."""
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
        *repeat_summary(results),
        "",
        "Per-stage MAPE over the suite (mean signed error in brackets; negative = the model is too fast): "
        + _stage_mapes(acc) + ".",
        *_drift_note(results),
        *trainer_sections(results),
        "",
        "## Scenarios",
        "",
        "Times are per iteration (ms): a stage is the mean over ranks and iterations, the iteration the mean time "
        "until its last rank finished it (with a barrier, the slowest rank's time for it; without one, as in DDP, "
        "the rank furthest behind at its cumulative time). Error = (predicted - measured) / measured. *Measured page faults*: minor faults per "
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
        r = {**r, "name": _named(r)}
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
        lines += [f"**{_named(r)}** ({r['file']}): {r['description']}", "",
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
    lines += repeat_section(results)
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
    if limits:
        lines += ["", "## What limits accuracy", "", limits]
    return "\n".join(lines) + "\n"
