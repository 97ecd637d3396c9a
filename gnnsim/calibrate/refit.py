"""``gnnsim calibrate --refit``: fit a profile again from measurements already taken.

A calibration run with ``--samples`` writes every benchmarked shape and its measured
time next to the profile. Refitting reads them back and fits, with this version's
fitting code, every block they hold: the kernel classes, the framework cost per kernel,
the sampler, a GPU's host-device copies and its host's feature gather. The blocks that
the samples do not hold (a CPU's collectives, its cores' sharing, the oversubscribed
block) stay as the profile being refitted has them. Nothing is measured, so a profile
of a machine that is gone (a GPU lent for an hour) can follow a better fit, and two
fits can be judged on the same measurements.

The profile keeps the provenance of its measurements (host, models, versions, date) and
gains a ``refit`` entry that says when, and from which file, it was fitted again.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from gnnsim.calibrate import bench
from gnnsim.calibrate.profile_blocks import (GEMMS, HOST_GATHER_KEYS, device_block, fit_class, fit_copy, fit_framework,
                                             fit_sampler, fit_sweeps, profile_text)
from gnnsim.calibrate.timing import Samples
from gnnsim.errors import GnnsimError, ProfileError, read_text_file, read_yaml_mapping
from gnnsim.outputs import write_atomic
from gnnsim.workload.kernels import Kernel

KERNEL_KEYS = ("seconds", "flops", "bytes", "out_bytes", "items")


def _finite(value, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise GnnsimError(f"{where}: {what} must be a finite number, got {value!r}; the file is not what "
                          "`gnnsim calibrate --samples` writes (re-run the calibration with --samples)")
    return float(value)


def _number(row: dict, key: str, where: str) -> float:
    return _finite(row.get(key), f"'{key}'", where)


def _rows(samples: dict, key: str, path: Path) -> list[dict]:
    rows = samples[key]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise GnnsimError(f"{path}: samples.{key} must be a non-empty list of measured shapes")
    return rows


def kernel_samples(cls: str, rows: list[dict], path: Path, key: str = "") -> Samples:
    """The recorded sweep of one kernel class as the benchmark returned it. A GEMM's k and
    n come from the record, or, in samples written before they were recorded, from its
    ``MxKxN`` label (both GEMM benchmarks label their shapes so). ``key`` is the sweep's
    name in the file where it is not the class's."""
    out = Samples()
    for i, row in enumerate(rows):
        where = f"{path}: samples.{key or cls}[{i}]"
        seconds, flops, nbytes, out_bytes, items = (_number(row, key, where) for key in KERNEL_KEYS)
        if seconds <= 0:
            raise GnnsimError(f"{where}: 'seconds' must be positive, got {seconds!r}")
        k_dim, n_dim = float(row.get("k_dim", 0.0)), float(row.get("n_dim", 0.0))
        if cls in GEMMS and not (k_dim and n_dim):
            try:
                _, k_dim, n_dim = (float(x) for x in str(row.get("shape", "")).split("x"))
            except ValueError:
                raise GnnsimError(f"{where}: a GEMM needs 'k_dim' and 'n_dim' or an MxKxN 'shape', got "
                                  f"{row.get('shape')!r}") from None
        parts = tuple(float(x) for x in row.get("out_parts", ()))
        out.add(Kernel(cls, flops, nbytes, cls, out_bytes, items, k_dim, n_dim, parts), seconds,
                str(row.get("shape", i)), float(row.get("cv", 0.0)))
    return out


def load_samples(path: str | Path) -> tuple[dict, dict]:
    """The (provenance, samples) of a ``--samples`` file, checked."""
    path = Path(path)
    if not path.exists():
        raise GnnsimError(f"{path}: no such file; write one with `gnnsim calibrate ... --samples {path}`")
    try:
        data = json.loads(read_text_file(path, "samples", GnnsimError))
    except json.JSONDecodeError as exc:
        raise GnnsimError(f"{path}: not valid JSON ({exc}); it should be the file `gnnsim calibrate --samples` "
                          "wrote") from None
    if not isinstance(data, dict) or not isinstance(data.get("samples"), dict):
        raise GnnsimError(f"{path}: expected a mapping with 'samples' (and 'provenance'), as `gnnsim calibrate "
                          "--samples` writes it")
    classes = [cls for cls, _ in bench.KERNEL_BENCHMARKS]
    missing = [cls for cls in classes if cls not in data["samples"]]
    if missing:
        raise GnnsimError(f"{path}: samples lack the kernel classes {missing}; refitting needs every class "
                          f"({', '.join(classes)}): re-run the calibration with --samples")
    return dict(data.get("provenance") or {}), data["samples"]


def _framework_steps(samples: dict, path: Path) -> dict:
    """Per model and stage, the recorded tiny step's seconds and the kernels it ran."""
    recorded = samples.get("framework")
    if recorded is None:
        return {}
    if not isinstance(recorded, dict) or not all(isinstance(by, dict) for by in recorded.values()):
        raise GnnsimError(f"{path}: samples.framework must map each model to its forward and backward seconds")
    unknown = sorted(set(recorded) - set(bench.FRAMEWORK_MODELS))
    if unknown:
        raise GnnsimError(f"{path}: samples.framework has models {unknown} that the framework benchmark does not "
                          f"run (it runs {', '.join(bench.FRAMEWORK_MODELS)})")
    return {name: {stage: (_number(by, stage, f"{path}: samples.framework.{name}"), bench.framework_kernels(name)[stage])
                   for stage in ("forward", "backward")} for name, by in recorded.items()}


def _copy_rows(samples: dict, path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per recorded copy direction, its (bytes, seconds)."""
    out = {}
    for direction in bench.COPY_DIRECTIONS:
        key = f"copy_{direction}"
        if key in samples:
            rows = _rows(samples, key, path)
            out[direction] = tuple(np.array([_number(r, what, f"{path}: samples.{key}[{i}]") for i, r in enumerate(rows)])
                                   for what in ("bytes", "seconds"))
    return out


def _sampler_rows(samples: dict, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The recorded sampler batches' features (1, nodes, edges, edges x doublings, hops,
    draws, checks) and seconds; measurements recorded before the last three have 4
    features, and their fit leaves those terms out (0)."""
    if "sampler" not in samples:
        return None
    rows = _rows(samples, "sampler", path)
    X = []
    for i, row in enumerate(rows):
        features = row.get("features")
        if not isinstance(features, list) or len(features) not in (4, bench.SAMPLER_FEATURES):
            raise GnnsimError(f"{path}: samples.sampler[{i}]: 'features' must be {bench.SAMPLER_FEATURES} numbers (1, sampled "
                              "nodes, sampled edges, edges x graph doublings, hops, draws, checks; or the first 4 "
                              "as older calibrations wrote them), as `gnnsim calibrate --samples` writes them")
        features = features + [0.0] * (bench.SAMPLER_FEATURES - len(features))
        X.append([_finite(v, f"features[{j}]", f"{path}: samples.sampler[{i}]") for j, v in enumerate(features)])
    y = np.array([_number(r, "seconds", f"{path}: samples.sampler[{i}]") for i, r in enumerate(rows)])
    X = np.array(X)
    return X, y


def refit(samples_path: str | Path, out: str | Path, progress=print) -> dict:
    """Fit the profile at ``out`` again from the measurements in ``samples_path`` and
    write it back (atomically; a bad file leaves the profile as it was).

    The profile must exist: the blocks the samples do not hold are kept from it. Its
    device kind (cpu or gpu) decides how kernels are fitted, as the calibration did: a
    CPU's outputs pay first touch and its ``host_gather`` is its own gather, a GPU's
    host gather is the ``host_gather`` sweep with first touch above glibc's mmap
    threshold.
    """
    samples_path, out = Path(samples_path), Path(out)
    if not out.exists():
        raise ProfileError(f"{out}: no such profile; --refit rewrites the profile the samples were measured for "
                           "and keeps what they do not hold (collectives, CPU sharing): point --out at it")
    profile = read_yaml_mapping(out, ProfileError)
    device = profile.get("device")
    if not isinstance(device, dict) or device.get("kind") not in ("cpu", "gpu"):
        raise ProfileError(f"{out}: 'device.kind' must be cpu or gpu for a refit, got "
                           f"{(device or {}).get('kind') if isinstance(device, dict) else device!r}")
    provenance, samples = load_samples(samples_path)
    cpu = device["kind"] == "cpu"
    if ("host_gather" in samples) == cpu:
        raise GnnsimError(f"{samples_path}: these samples were measured on a "
                          f"{'GPU' if 'host_gather' in samples else 'CPU'}, but {out} is a {device['kind']} profile; "
                          "refit the profile the samples came from")

    if cpu and provenance.get("heap") != "steady":
        raise GnnsimError(f"{samples_path}: these CPU kernels were timed with a cold heap (every output on fresh "
                          "pages, as older calibrations did), which the fits no longer read; calibrate "
                          "again to refit this profile")
    # every record is read and checked before the first (slow) fit
    sweeps = {cls: kernel_samples(cls, _rows(samples, cls, samples_path), samples_path) for cls, _ in bench.KERNEL_BENCHMARKS}
    if not cpu:  # a GPU host's feature gather, a gather sweep of its own
        sweeps["host_gather"] = kernel_samples("gather", _rows(samples, "host_gather", samples_path), samples_path,
                                               "host_gather")
    framework_steps = _framework_steps(samples, samples_path)
    copy_rows = {} if cpu else _copy_rows(samples, samples_path)
    sampler_rows = _sampler_rows(samples, samples_path)

    def announced():
        for cls, _ in bench.KERNEL_BENCHMARKS:
            progress(f"refit: {cls}:", end=" ", flush=True)
            yield cls, sweeps[cls]
    kernels, fitted_residuals, jitter_cv = fit_sweeps(announced(), cpu, progress)
    residuals = {**(profile.get("residuals") or {}), **fitted_residuals}
    framework = device.get("framework_us_per_kernel")
    if framework_steps:
        framework = fit_framework(kernels, "cpu" if cpu else "cuda", framework_steps, samples)
        progress(f"refit: framework: forward {framework['forward']:g} us, backward {framework['backward']:g} us "
                 "per kernel")
    block = device_block(device["kind"], int(device.get("threads", 1)), int(device.get("memory_bytes", 0)),
                          kernels, jitter_cv, framework)
    profile["device"] = {**device, **block}

    if cpu:  # (the small-table sweep, where the profile has one, is kept as measured)
        kept = {k: v for k, v in (profile.get("host_gather") or {}).items() if k in ("table_rows", "small_table")}
        profile["host_gather"] = {**{k: kernels["gather"][k] for k in HOST_GATHER_KEYS}, **kept}
    else:
        fitted, residuals["host_gather"] = fit_class("gather", sweeps["host_gather"], cpu=True)
        profile["host_gather"] = {k: fitted[k] for k in HOST_GATHER_KEYS}
        progress(f"refit: host gather: 5-fold cross-validated {residuals['host_gather']['kfold_mape']:.1%}")
        copies = dict(profile.get("copies") or {})
        for direction, (size, seconds) in copy_rows.items():
            copies[direction] = fit_copy(direction, size, seconds, residuals)
        if copies:
            profile["copies"] = copies
            if "h2d_pageable" in copies:  # what the trainer copies (see the calibration)
                profile["h2d_link"] = dict(copies["h2d_pageable"])
    if sampler_rows is not None:
        X, y = sampler_rows
        profile["sampler"] = fit_sampler(X, y, residuals)
        progress(f"refit: sampler: {y.size} batches, fit error {residuals['sampler']['fit_mape']:.1%}")

    old_pyg = (profile.get("frameworks") or {}).get("pyg")
    if samples.get("pyg_layers") and samples.get("pyg_loader") and isinstance(old_pyg, dict):
        from gnnsim.calibrate.pyg import fit_layers, fit_loader, fit_sampler_scale, pyg_block

        models, layer_res = fit_layers(samples["pyg_layers"])
        loader, loader_res = fit_loader(samples["pyg_loader"])
        scales, sampler_res = fit_sampler_scale(samples["pyg_loader"], profile.get("sampler"))
        residuals.update({**layer_res, **loader_res, **sampler_res})
        text = (old_pyg.get("sources") or [{}])[0].get("text", "gnnsim calibrate")
        profile["frameworks"] = {**profile["frameworks"],
                                 "pyg": pyg_block(models, loader, str(old_pyg.get("version", "")), text, scales)}
        progress(f"refit: PyG: loader +{loader['per_iteration_us']:g} us per batch")

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    profile["residuals"] = residuals
    profile["provenance"] = {**(profile.get("provenance") or {}), **provenance,
                             "refit": {"date": now, "samples": samples_path.name, "python": platform.python_version()}}
    measured_on = f"{provenance.get('host', '?')} on {provenance.get('date', '?')}"
    profile["sources"] = [*(profile.get("sources") or []),
                          f"refitted by `gnnsim calibrate --refit {samples_path.name}` on {now} from the "
                          f"measurements taken on {measured_on}"]
    write_atomic(out, profile_text(profile, f"on {now} from the recorded measurements ({samples_path.name})"))
    progress(f"refit: wrote {out}")
    return profile

