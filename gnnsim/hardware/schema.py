"""The profile files' schema: the keys each kind may hold, where the catalog is, reading a file.

Profiles are looked up by name in the ``hwprofiles`` folder (``GNNSIM_HWPROFILES``
overrides where that folder is), one folder per kind (:data:`PROFILE_KINDS`). Unknown
keys are errors (a misspelt ``mem_bw_gpbs`` would otherwise be silently ignored), and so
is any number that is not finite or out of its range (:func:`read_number`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError, did_you_mean, read_yaml_mapping


KERNEL_CLASSES = ("gemm", "aggregate", "gather", "elementwise")
# Optional classes a profile may fit separately, and the class they default to:
# gemm_tn is a GEMM with a transposed, long-k operand (weight gradients, x^T @ dy),
# which CPU BLAS runs well below the forward GEMM's rate;
# optimizer is one parameter tensor's whole optimizer step (framework overhead included).
OPTIONAL_KERNEL_CLASSES = {"gemm_tn": "gemm", "optimizer": "elementwise"}
LINK_KINDS = ("pcie", "nvlink", "nvswitch", "ethernet", "infiniband", "loopback", "memory")
DTYPES = ("float64", "float32", "tf32", "float16", "bfloat16", "fp8", "int8")
PROFILE_KINDS = ("clusters", "nodes", "devices", "links", "software", "calibrated")
# The keys each kind of profile may hold, by dotted place in the file ("*" = any name).
# Other modules that read extra optional keys register them with :func:`allow_keys`;
# the topology keys are listed here already so files that use them always load.
ALLOWED_KEYS: dict[str, set[str]] = {
    "devices": {"name", "kind", "threads", "jitter_cv", "memory_bytes", "mem_bw_gbps", "peak_tflops", "kernels",
                "sources", "tdp_w", "memory_type", "form_factor", "notes", "framework_us_per_kernel",
                "random_read_gbps"},
    "devices.framework_us_per_kernel": {"forward", "backward"},
    "devices.peak_tflops": set(DTYPES),
    "devices.kernels": set(KERNEL_CLASSES) | set(OPTIONAL_KERNEL_CLASSES),
    "devices.kernels.*": {"launch_us", "compute_eff", "memory_eff", "tflops", "gbps", "cache_mb", "cache_gbps",
                          "first_touch_us_per_mb", "per_item_ns", "k_half", "n_half", "m_half",
                          "shape_power", "first_touch_above_mb"},
    "links": {"name", "kind", "bw_gbps", "latency_us", "duplex", "sources", "nominal_bw_gbps",
              "measured_bw_gbps", "bw_basis", "notes", "uva_read_gbps", "pageable_h2d_gbps"},
    "nodes": {"name", "trainer_device", "trainers", "host_cpu_cores", "intra_link", "h2d_link", "nic",
              "nic_count", "price_per_hour", "host", "sources", "notes", "cpu", "host_memory_gib",
              "instance_type",
              # read by gnnsim/hardware/topology.py (intra-node topology)
              "gpus_per_pcie_switch", "gpus_per_nic", "numa_nodes", "pcie_switches", "topology",
              # read by gnnsim/sim/loader.py (host DRAM shared by a placed loader's gathers and copies)
              "host_mem_bw_gbps"},
    "nodes.host": {"sampler_workers", "sampler", "gather"},
    "nodes.host.sampler": {"per_batch_us", "per_node_ns", "per_edge_ns", "per_edge_doubling_ns", "reference_nodes",
                           "per_hop_us", "per_draw_us", "per_check_ns"},
    "nodes.host.gather": {"launch_us", "gbps", "cache_mb", "cache_gbps", "first_touch_us_per_mb", "per_item_ns",
                          "first_touch_above_mb"},
    "clusters": {"name", "node", "num_nodes", "network", "nic", "nic_count", "sources", "notes",
                 # read by gnnsim/hardware/topology.py (inter-node topology)
                 "fat_tree", "oversubscription", "topology", "switch", "rails",
                 # nodes that are namespaces of one machine share its CPU (gnnsim/sim/cpu.py)
                 "nodes_per_host"},
    # framework overheads, read by gnnsim/hardware/software.py
    "software": {"name", "framework", "version", "overheads", "sampler", "sources", "notes"},
    "software.overheads": {"per_iteration_us", "per_layer_forward_us", "per_layer_backward_us"},
    "software.sampler": {"per_batch_us", "node_scale", "edge_scale"},
    # a calibrated profile's measured compute capacity (gnnsim/calibrate/capacity.py)
    "calibrated.cpu_sharing": {"effective_cores", "demand_cores", "processes", "threads", "alone_ms", "together_ms",
                               "time_slice_ms", "turn_slowdown", "turn_speed", "warmup_us", "warmup_idle_ms",
                               "warmup_ramp_ms"},
    "calibrated.oversubscribed": {"processes", "cores", "intra_link", "allreduce"},
}


def allow_keys(place: str, *keys: str) -> None:
    """Let profiles hold extra optional ``keys`` at ``place`` (e.g. ``"nodes"``, ``"clusters"``).

    For modules that read keys this one does not know about.

    >>> allow_keys("clusters", "spine_switches")
    >>> "spine_switches" in ALLOWED_KEYS["clusters"]
    True
    """
    ALLOWED_KEYS.setdefault(place, set()).update(keys)


def profile_root() -> Path:
    """The folder that holds the profile catalog."""
    env = os.environ.get("GNNSIM_HWPROFILES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "hwprofiles"


def profile_path(kind: str, name: str) -> Path:
    """The file that holds profile ``name`` of ``kind`` (one of :data:`PROFILE_KINDS`)."""
    return profile_root() / kind / f"{name}.yaml"


def list_profiles() -> dict[str, list[str]]:
    """Profile names by kind (clusters, nodes, devices, links, software, calibrated)."""
    root = profile_root()
    return {kind: sorted(p.stem for p in (root / kind).glob("*.yaml"))
            for kind in ("clusters", "nodes", "devices", "links", "software", "calibrated") if (root / kind).is_dir()}


_KIND_LABEL = {"clusters": "cluster", "nodes": "node", "devices": "device", "links": "link"}


def existing_profile_path(kind: str, name: str) -> Path:
    """:func:`profile_path`, checked: an unknown profile raises the catalog's message (what
    exists, the closest name)."""
    path = profile_path(kind, name)
    folder = path.parent
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise ProfileError(
            f"unknown {_KIND_LABEL.get(kind, kind)} profile '{name}' (looked for {path}).{did_you_mean(name, known)} "
            f"Known: {', '.join(known) or 'none'}. Run 'gnnsim hw list' to see the catalog."
        )
    return path


def read_yaml(kind: str, name: str) -> tuple[dict[str, Any], Path]:
    path = existing_profile_path(kind, name)
    data = read_yaml_mapping(path, ProfileError)
    check_finite(data, path)
    return data, path


# Top-level blocks that describe a profile (fit quality, the host's load while calibrating,
# provenance) and that the model never reads: a calibration writes NaN there for "not measured".
DESCRIPTIVE_KEYS = ("residuals", "quality", "provenance", "sources", "notes")


def check_finite(data: dict[str, Any], path: Path) -> None:
    """Raise :class:`ProfileError` naming the first NaN or infinite number in a profile
    (outside its descriptive blocks, :data:`DESCRIPTIVE_KEYS`).

    >>> check_finite({"bw_gbps": float("nan")}, Path("links/x.yaml"))
    Traceback (most recent call last):
    ...
    gnnsim.errors.ProfileError: links/x.yaml: 'bw_gbps' is nan; every number in a profile must be finite. Fix the profile.
    """
    from gnnsim.config import non_finite_paths

    for key, value in data.items():
        if key in DESCRIPTIVE_KEYS:
            continue
        for at in non_finite_paths(value, str(key)):
            got = value
            for part in at.replace("[", ".[").split(".")[1:]:
                got = got[int(part[1:-1])] if part.startswith("[") else got[part]
            raise ProfileError(f"{path}: '{at}' is {got}; every number in a profile must be finite. Fix the profile.")


def read_profile(kind: str, name: str) -> tuple[dict[str, Any], Path]:
    """The raw mapping of a profile file and its path, keys checked (numbers not converted).

    >>> data, path = read_profile("links", "pcie4-x16")
    >>> data["kind"], path.name
    ('pcie', 'pcie4-x16.yaml')
    """
    if kind not in PROFILE_KINDS:
        raise ProfileError(f"unknown profile kind '{kind}'.{did_you_mean(kind, PROFILE_KINDS)} "
                           f"Kinds: {', '.join(PROFILE_KINDS)}")
    data, path = read_yaml(kind, name)
    if kind in ALLOWED_KEYS:
        check_keys(data, kind, path)
    return data, path


def check_keys(data: dict[str, Any], place: str, path: Path, where: str = "") -> None:
    """Raise :class:`ProfileError` for a key that :data:`ALLOWED_KEYS` does not list at ``place``.

    Nested mappings are checked where ``ALLOWED_KEYS`` has an entry for them
    (``place.key`` or ``place.*``).
    """
    allowed = ALLOWED_KEYS.get(place)
    if allowed is None:
        return
    for key, value in data.items():
        key = str(key)
        at = f"{where}.{key}" if where else key
        if key not in allowed:
            raise ProfileError(
                f"{path}: unknown key '{at}'.{did_you_mean(key, allowed)} "
                f"Allowed here: {', '.join(sorted(allowed))}. Fix the spelling or remove the key."
            )
        for sub in (f"{place}.{key}", f"{place}.*"):
            if sub in ALLOWED_KEYS and isinstance(value, dict):
                check_keys(value, sub, path, at)
                break


def read_number(data: dict[str, Any], key: str, path: Path, *, positive: bool = True, default: Any = None) -> float:
    if key not in data:
        if default is not None:
            return float(default)
        raise ProfileError(f"{path}: missing key '{key}'. Add it with a value and a source.")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"{path}: '{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ProfileError(f"{path}: '{key}' is {value}; it must be a finite number. Fix the profile.")
    if value < 0 or (positive and value == 0):
        raise ProfileError(f"{path}: '{key}' must be {'> 0' if positive else '>= 0'}, got {value}. Fix the profile.")
    return float(value)


def read_fraction(data: dict[str, Any], key: str, path: Path, default: float) -> float:
    value = read_number(data, key, path, default=default)
    if value > 1:
        raise ProfileError(f"{path}: '{key}' is a share of peak and must be in (0, 1], got {value}. Fix the profile.")
    return value


def read_count(data: dict[str, Any], key: str, path: Path, default: int | None = None) -> int:
    value = read_number(data, key, path, default=default)
    if value != int(value):
        raise ProfileError(f"{path}: '{key}' must be a whole number, got {value}. Fix the profile.")
    return int(value)
