"""Data types: what ``model.dtype`` and ``graph.feature_dtype`` change in the prices.

``model.dtype`` is the type the GNN computes in, as a user turns it on in PyTorch:

- ``float32``: everything in 32-bit floats; GEMMs on the device's FP32 (non-tensor)
  peak, as PyTorch runs fp32 matmuls by default.
- ``tf32``: ``torch.backends.cuda.matmul.allow_tf32 = True``: tensors stay 32-bit, the
  GEMMs run on the tensor cores at the device's ``tf32`` peak.
- ``float16`` / ``bfloat16``: mixed precision as ``torch.autocast`` runs it: GEMMs on
  the tensor cores at that dtype's peak, activations (and so every kernel's bytes and
  the saved activations in the memory report) in 2 bytes, while the parameters, their
  gradients (the all-reduce's bytes) and the optimizer state stay float32
  (:data:`gnnsim.workload.kernels.PARAM_BYTES`).

Only the GEMM classes (``gemm``, ``gemm_tn``) change their FLOP rate: each is the
class's rate times ``peak[dtype] / peak[float32]`` of the device profile, so a fitted
or datasheet efficiency carries over. The other classes (aggregation, gather,
elementwise) are memory bound on GNN shapes and change through their bytes. A device
whose profile has no peak for the dtype cannot run it: a :class:`ScenarioError` names
the device, the dtype and the fix.

``graph.feature_dtype`` is how the input feature rows are stored (host memory, the
cache, the GPU): every gather, copy and cache of rows moves ``feature_dim x`` its bytes,
and where it differs from the compute dtype's storage the forward pass starts with a
cast of the input rows (:func:`gnnsim.workload.kernels.feature_cast`; ``int8``
features are dequantized there).
"""

from __future__ import annotations

from dataclasses import replace

from gnnsim.errors import ScenarioError
from gnnsim.hardware.profiles import Cluster, Device

MODEL_DTYPES = ("float32", "tf32", "float16", "bfloat16")
FEATURE_DTYPES = ("float32", "float16", "bfloat16", "int8")
TENSOR_CORE_CLASSES = ("gemm", "gemm_tn")  # the kernel classes a dtype's peak speeds up


def dtype_speedup(device: Device, dtype: str) -> float:
    """``peak[dtype] / peak[float32]`` of ``device``: how much faster its GEMMs run.

    >>> from gnnsim.hardware.profiles import load_device
    >>> dtype_speedup(load_device("a100-sxm4-80gb"), "bfloat16"), dtype_speedup(load_device("a100-sxm4-80gb"), "tf32")
    (16.0, 8.0)
    """
    if dtype == "float32":
        return 1.0
    peak = device.peak_tflops.get(dtype)
    if peak is None:
        have = ", ".join(sorted(device.peak_tflops))
        raise ScenarioError(
            f"model.dtype: {dtype!r} is priced from the device's {dtype} peak, but device '{device.name}' has no "
            f"peak_tflops.{dtype} (its profile gives {have}). Use a dtype it lists (float32 always works), or add "
            f"peak_tflops.{dtype} with its datasheet source to the device profile")
    return float(peak) / float(device.peak_tflops["float32"])


def device_for_dtype(device: Device, dtype: str) -> Device:
    """``device`` with its GEMM classes' FLOP rates at ``dtype``'s peak (see the module
    docstring); ``float32`` returns ``device`` itself."""
    factor = dtype_speedup(device, dtype)
    if factor == 1.0:
        return device
    kernels = {cls: (replace(rate, flops_per_s=rate.flops_per_s * factor) if cls in TENSOR_CORE_CLASSES else rate)
               for cls, rate in device.kernels.items()}
    return replace(device, kernels=kernels)


def cluster_for_dtype(cluster: Cluster, dtype: str) -> Cluster:
    """``cluster`` with its trainer device priced for ``model.dtype`` ``dtype``."""
    device = device_for_dtype(cluster.node.trainer_device, dtype)
    if device is cluster.node.trainer_device:
        return cluster
    return replace(cluster, node=replace(cluster.node, trainer_device=device))
