"""Where a GPU rank keeps the graph structure and the feature rows (``training.sampling.device``,
``training.features.placement``), as the simulator places them (:mod:`gnnsim.workload.loader`).

- structure ``gpu``: ``indptr`` and ``indices`` (int64) as CUDA tensors; ``uva``: the same
  in pinned host memory, read by the GPU's sampling kernels through a CUDA view of it
  (:func:`uva_view`); ``cpu``: the numpy arrays the host sampler reads, as today.
- features ``gpu``: every row a CUDA tensor, gathered by ``index_select`` on the device;
  ``uva``: the rows in pinned host memory, gathered by ``index_select`` on their CUDA
  view (zero copy: the kernel reads the rows over PCIe); ``host``: the rows gathered on
  the host into a pinned buffer, then one ``non_blocking`` copy.

A CUDA view of pinned memory: under CUDA's unified virtual addressing a pinned host
allocation (``cudaHostAlloc``, which torch's ``pin_memory`` uses) has the same address on
the device, so torch can wrap that address as a CUDA tensor through the
``__cuda_array_interface__`` protocol. Torch has no public call for it; when the wrapped
tensor's address is not the pinned one (torch copied it) or torch refuses, the run is
refused (:class:`~gnnsim.errors.RealRunError`) rather than timing a copy as UVA.

:func:`refusal` says what a rank cannot run: GPU or UVA placements on CPU ranks, and the
placed-loader features the real trainer does not have yet.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnsim.errors import RealRunError


def refusal(scenario, on_gpu: bool, num_trainers: int) -> str | None:
    """Why the real trainer cannot run ``scenario``'s loader placement (None when it can)."""
    t = scenario.training
    asked = [(k, v) for k, v, default in (("training.sampling.device", t.sampling.device, "cpu"),
                                          ("training.features.placement", t.features.placement, "host"))
             if v != default]
    if not on_gpu:
        if asked:
            key, value = asked[0]
            return (f"{key}: {value!r} needs GPU ranks, but the scenario's trainers are CPUs: a CPU rank has no "
                    f"device memory or GPU kernels. Use {key}: {'cpu' if 'sampling' in key else 'host'}, or a GPU "
                    "cluster.device_profile on a machine with one GPU per rank")
        return None
    from gnnsim.workload.loader import placed

    if not placed(t):
        return None
    if t.sampler_gpus:
        return "training.sampler_gpus is simulated only; the real trainer samples on each trainer's own GPU"
    if t.cache.policy != "none":
        return ("training.cache with a placed loader (training.sampling/features/loader) is simulated only; "
                "the real trainer caches rows only on the unplaced path (drop the placement keys, or cache policy none)")
    if t.features.placement != "host" and num_trainers > 1:
        return (f"training.features.placement: {t.features.placement!r} runs real on one GPU rank only (the rows "
                "of other ranks come through the host exchange); use placement host, or one trainer")
    if t.sampling.device != "cpu" and any(f is None or f < 0 for f in t.fanouts):
        return "training.sampling.device gpu/uva samples positive fan-outs only; full neighbourhoods run on the host"
    return None


def uva_view(pinned: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CUDA tensor over the pinned host tensor ``pinned``'s own memory (zero copy), for GPU
    kernels to read over PCIe; a :class:`RealRunError` when torch cannot give one."""
    if not pinned.is_pinned() or not pinned.is_contiguous():
        raise RealRunError("uva_view needs a contiguous pinned host tensor (tensor.pin_memory())")

    class _Interface:  # what torch.as_tensor reads: the address, shape and type, no copy
        __cuda_array_interface__ = {"shape": tuple(pinned.shape), "typestr": _typestr(pinned.dtype),
                                    "data": (pinned.data_ptr(), False), "version": 3, "strides": None}

    try:
        with torch.cuda.device(device):
            view = torch.as_tensor(_Interface(), device=device)
    except Exception as exc:  # torch refused the foreign pointer
        raise RealRunError(f"uva: torch {torch.__version__} will not view pinned host memory as a CUDA tensor "
                           f"({type(exc).__name__}: {exc}); plain torch has no other zero-copy path. Use "
                           "placement gpu or host (sampling.device gpu or cpu)") from exc
    if view.data_ptr() != pinned.data_ptr() or view.device.type != "cuda":
        raise RealRunError("uva: torch copied the pinned rows instead of viewing them; that would time a copy, not "
                           "UVA. Use placement gpu or host (sampling.device gpu or cpu)")
    view._gnnsim_pinned = pinned  # the view does not own the memory: keep the pinned tensor alive with it
    return view


def _typestr(dtype: torch.dtype) -> str:
    return {torch.float32: "<f4", torch.float16: "<f2", torch.int64: "<i8", torch.int32: "<i4"}[dtype]


def structure(indptr: np.ndarray, indices: np.ndarray, mode: str, device: torch.device):
    """The CSR the sampler reads: numpy arrays for ``cpu``, int64 CUDA tensors for ``gpu``,
    CUDA views of pinned int64 tensors for ``uva``."""
    if mode == "cpu":
        return indptr, indices
    host = (torch.from_numpy(np.ascontiguousarray(indptr, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64)))
    if mode == "gpu":
        return tuple(a.to(device) for a in host)
    return tuple(uva_view(a.pin_memory(), device) for a in host)


class FeatureRows:
    """The rank's feature rows where ``placement`` keeps them, and the batch's gather.

    ``host`` (any world size) gathers through :func:`gnnsim.realrun.features.fetch_features`
    (the host exchange; with one rank a plain gather) into a pinned matrix and copies it in
    :meth:`copy_in`; ``gpu`` and ``uva`` (one rank: every row is its own, row = node id)
    gather on the device in :meth:`gather` and need no copy.
    """

    def __init__(self, placement: str, local: torch.Tensor, device: torch.device):
        self.placement, self.device = placement, device
        self.rows = None
        if placement == "gpu":
            self.rows = local.to(device)
        elif placement == "uva":
            self.rows = uva_view(local.contiguous().pin_memory(), device)
        self.local = local

    def gather(self, input_nodes, store) -> tuple[torch.Tensor, int, int]:
        """The batch's rows (a CUDA tensor for gpu/uva, a pinned host matrix for host) and
        the local and remote row counts. ``input_nodes`` is a tensor on the device or a
        numpy array; ``store`` is ``(assignment, positions, rank, world)``."""
        if self.rows is not None:
            ids = input_nodes if isinstance(input_nodes, torch.Tensor) else torch.from_numpy(input_nodes)
            ids = ids.to(self.device, non_blocking=True)
            return self.rows.index_select(0, ids), int(ids.numel()), 0
        from gnnsim.realrun.features import fetch_features

        nodes = input_nodes.cpu().numpy() if isinstance(input_nodes, torch.Tensor) else input_nodes
        assignment, positions, rank, world = store
        if world == 1:  # gather straight into the pinned buffer
            out = torch.empty(nodes.size, self.local.shape[1], dtype=self.local.dtype, pin_memory=True)
            torch.index_select(self.local, 0, torch.from_numpy(positions[nodes]), out=out)
            return out, int(nodes.size), 0
        x, n_local, n_remote = fetch_features(nodes, assignment, positions, self.local, rank, world)
        return x.pin_memory(), n_local, n_remote

    def copy_in(self, x: torch.Tensor) -> torch.Tensor:
        """The ``h2d`` copy of host-gathered rows (asynchronous from pinned memory); device rows as they are."""
        return x.to(self.device, non_blocking=True) if x.device.type != "cuda" else x
