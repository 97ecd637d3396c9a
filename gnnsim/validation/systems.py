"""What the framework release a run record names does by default, read from its ``system``.

Each predicate maps one text such as "DGL 0.8 (pre-release, old NodeDataLoader)" or
"PyG 2.0.2" to one behaviour of that release's loader or examples (where it gathers
feature rows, which sampler it runs, where the features live); the docstrings name the
source each follows. :mod:`gnnsim.validation.record_scenario` turns them into scenario keys.
"""

from __future__ import annotations

import re


def distributed_store(system: str | None) -> bool:
    """Whether the system keeps the graph and features partitioned across machines (DistDGL and
    GraphStorm, which runs on it): gnnsim's ``minibatch`` mode."""
    text = (system or "").lower()
    return "distdgl" in text or "graphstorm" in text


def main_process_gather(system: str | None) -> bool:
    """Whether the loader generation a record names gathers feature rows in the training
    process: DGL's examples up to 0.7 (``load_subtensor``) and 0.8's old NodeDataLoader,
    PyG 1.x and 2.0's NeighborSampler examples (``x[n_id]``); DGL's DataLoader from 0.8
    (``prefetch_node_feats``), GraphBolt and PyG's NeighborLoader gather in the workers.

    >>> main_process_gather("DGL 0.4.3 (pre-0.5 sampling API)"), main_process_gather("DGL 1.0")
    (True, False)
    >>> main_process_gather("PyG 2.0.2"), main_process_gather("DGL 0.8 (pre-release, old NodeDataLoader)")
    (True, True)
    """
    text = system or ""
    if "old NodeDataLoader" in text:
        return True
    dgl = version_of("DGL", text)
    if dgl is not None and "graphbolt" not in text.lower():
        return dgl < (0, 8)
    return _older_pyg(text)


def loader_gather(system: str | None, sampling: str = "cpu") -> str:
    """``training.loader.gather`` for the loader generation a record names: ``main`` for
    :func:`main_process_gather`; ``prefetch`` for DGL's DataLoader from 0.8 with CPU
    sampling (its prefetch thread in the training process slices the rows:
    ``_PrefetchingIter``, ``use_prefetch_thread``) and GraphBolt (its ``FeatureFetcher``
    runs in the main process after the workers' sampling stages); with GPU or UVA
    sampling DGL's DataLoader gathers in the training loop's own thread (``main``);
    ``workers`` otherwise (PyG's NeighborLoader filters in its workers).

    >>> loader_gather("DGL 0.7.1"), loader_gather("DGL 1.1"), loader_gather("DGL 1.1", "uva"), loader_gather("PyG 2.5")
    ('main', 'prefetch', 'main', 'workers')
    """
    if main_process_gather(system):
        return "main"
    text = system or ""
    if "graphbolt" in text.lower():
        return "prefetch"
    if version_of("DGL", text) is not None:
        return "prefetch" if sampling == "cpu" else "main"
    return "workers"


def data_on_gpu_by_default(system: str | None) -> bool:
    """Whether a DGL record's loader generation keeps the features on the GPU unless told
    otherwise: DGL 0.6 to 0.7's ``examples/pytorch/graphsage/train_sampling.py`` moves
    ``nfeat`` to the GPU unless ``--data-cpu`` (0.5 has no such flag; 0.8 rewrote the script).

    >>> data_on_gpu_by_default("DGL 0.7.1"), data_on_gpu_by_default("DGL 0.5.3"), data_on_gpu_by_default("PyG 2.0.2")
    (True, False, False)
    """
    dgl = version_of("DGL", system or "")
    return dgl is not None and (0, 6) <= dgl < (0, 8) and "graphbolt" not in (system or "").lower()


def pre_3274_dgl_sampler(system: str | None) -> bool:
    """Whether a DGL record samples on the CPU with the sampler before dgl PR 3274 (DGL 0.4.3
    to 0.7.1; the PR is in 0.7.2 and 0.8.0): ``training.dgl_sampler: pre_0_7_2``. A version
    without its patch number ("DGL 0.7") counts as before 0.7.2; GraphBolt is later.

    >>> [pre_3274_dgl_sampler(s) for s in ("DGL 0.4.3 (pre-0.5 sampling API)", "DGL 0.6", "DGL 0.7.2", "DGL 0.8")]
    [True, True, False, False]
    """
    text = system or ""
    found = re.search(r"DGL (\d+)\.(\d+)(?:\.(\d+))?", text)
    if found is None or "graphbolt" in text.lower():
        return False
    return (int(found[1]), int(found[2]), int(found[3] or 0)) < (0, 7, 2)


def legacy_pyg_sampler(system: str | None) -> bool:
    """Whether a PyG-based record trains with bipartite per-layer ``adjs``: PyG up to 2.0's
    ``NeighborSampler`` examples, and Quiver's samplers, which return the same ``adjs``.

    >>> legacy_pyg_sampler("PyG 2.0.2"), legacy_pyg_sampler("torch-quiver 0.1.0 (PyG)"), legacy_pyg_sampler("PyG 2.5")
    (True, True, False)
    """
    text = system or ""
    return "quiver" in text.lower() or _older_pyg(text)


def version_of(name: str, text: str) -> tuple[int, int] | None:
    """(major, minor) of ``name`` as a record's ``system`` states it ("DGL 0.7.1" -> (0, 7)).

    >>> version_of("PyG", "PyG 2.0.2"), version_of("DGL", "PyG 2.0.2")
    ((2, 0), None)
    """
    found = re.search(rf"{name} (\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else None


def _older_pyg(text: str) -> bool:
    """PyG before 2.1, whose examples loaded batches with the legacy NeighborSampler."""
    pyg = version_of("PyG", text)
    return pyg is not None and pyg < (2, 1)
