"""Shaped links: the ``tc`` shape of a scenario's network link, and the link measured as shaped.

A ``shaped_link`` scenario's ranks talk over a veth between network namespaces
(:mod:`gnnsim.realrun.netns`) shaped to the cluster network's nominal rate. Before the
runs, each such link is measured with the calibration's gloo benchmark inside the
namespaces, and the measurement replaces the link profile's nominal numbers in the
harness's temporary profile folder: the prediction then uses the link as measured, never
the end-to-end runs.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gnnsim.calibrate.collectives import run_collectives
from gnnsim.calibrate.fit import fit_linear_nonneg
from gnnsim.config import Scenario
from gnnsim.errors import GnnsimError, RealRunError, ScenarioError
from gnnsim.hardware.profiles import load_link, read_profile
from gnnsim.realrun.netns import TBF_BURST_BYTES, LinkShape, NetnsSetup, NetnsUnavailable, shaped_link
from gnnsim.validation.suite import ValidationScenario

# The link benchmark's regimes: transfers of at least 16 tbf bursts show the shaped rate;
# messages of at most 16 KiB (well within one burst) show the per-message latency.
LARGE_TRANSFER_BYTES = 16 * TBF_BURST_BYTES
SMALL_MESSAGE_BYTES = 16 * 1024


def _network_link_name(scenario: Scenario) -> str:
    """The name of the link profile that joins the nodes of ``scenario``'s cluster."""
    data, path = read_profile("clusters", scenario.cluster.profile)
    if not data.get("network"):
        raise ScenarioError(f"{path}: a shaped_link scenario needs a cluster with a 'network' link")
    return str(data["network"])


def link_shape_for(vs: ValidationScenario) -> LinkShape:
    """The ``tc`` shape of a scenario's link: the cluster network's nominal rate (GB/s -> Mbit/s)."""
    link = load_link(_network_link_name(vs.scenario))
    gbps = link.nominal_bw_gbps or link.bw_gbps
    return LinkShape(rate_mbit=round(gbps * 8e3, 3), delay_ms=vs.delay_ms)


def measure_link(net: NetnsSetup, quick: bool = True, timeout_s: float = 300.0) -> dict:
    """Measure the shaped link with gloo: the calibration's collective benchmark, run in the namespaces.

    Runs :mod:`gnnsim.calibrate.collectives` (the same all-reduce and all-to-all
    benchmark ``gnnsim calibrate`` runs on loopback) with one process per namespace, and
    fits one alpha-beta pair to both collectives in the calibration's forms: the rate
    from the transfers well past the token bucket's burst, alpha from small messages. Returns
    ``latency_us``, ``bw_gbps``, the fit error and the raw rows.
    """
    world = len(net.namespaces)
    rows = run_collectives(world, quick, timeout_s, netns=net)
    # One alpha and one rate for both collectives, in the calibration's forms: ring
    # all-reduce 2(n-1) alpha + 2(n-1)/n S / B, pairwise all-to-all (n-1) alpha + bytes / B.
    # A token bucket has two regimes: messages within its burst pass at the veth's own
    # speed, longer transfers at the shaped rate. So the rate comes from the transfers
    # well past the burst, and alpha from the small messages.
    ar, a2a = np.array(rows["allreduce"]), np.array(rows["alltoall"])
    alphas = np.concatenate([np.full(len(ar), 2.0 * (world - 1)), np.full(len(a2a), float(world - 1))])
    wire = np.concatenate([2.0 * (world - 1) / world * ar[:, 0], a2a[:, 0]])  # bytes each rank sends
    times = np.concatenate([ar[:, 1], a2a[:, 1]])
    large = wire >= LARGE_TRANSFER_BYTES
    if large.sum() < 2:
        raise RealRunError(f"gloo link benchmark over {net.shape.describe()}: fewer than two transfers of "
                           f"{LARGE_TRANSFER_BYTES} bytes or more; cannot fit the rate")
    small = wire <= SMALL_MESSAGE_BYTES
    alpha_s = float(np.median(times[small] / alphas[small])) if small.any() else 0.0
    fit = fit_linear_nonneg(np.column_stack([alphas[large], wire[large]]), times[large])
    bytes_per_s = 1.0 / max(fit.coef[1], 1e-18)
    predicted = alphas * alpha_s + wire / bytes_per_s
    fit_mape = float(np.mean(np.abs(predicted - times) / times))
    return {"latency_us": float(alpha_s * 1e6), "bw_gbps": float(bytes_per_s / 1e9), "fit_mape": fit_mape,
            "alltoall": rows["alltoall"], "allreduce": rows["allreduce"]}


def measure_shaped_links(suite: list[ValidationScenario], root: Path, quick: bool,
                         progress: Callable = print) -> dict[str, dict[str, Any]]:
    """Measure each shaped link the suite uses and write the result into ``root/links/NAME.yaml``.

    Returns, per link name, the measurement or ``{"error": ...}`` (the link then keeps
    its nominal numbers, and its scenarios will most likely be skipped for the same reason).
    """
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
