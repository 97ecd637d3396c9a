"""What the real trainer refuses for placed loaders (gnnsim.realrun.placement), and the
parts of a placed GPU rank that run without a GPU."""

import numpy as np
import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.errors import RealRunError

torch = pytest.importorskip("torch")

BASE = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16, "num_classes": 4},
        "training": {"batch_size": 64, "fanouts": [4, 2]},
        "cluster": {"profile": "dgx-h100-1", "trainers_per_node": 1}}


def scenario(cluster=None, **training):
    return scenario_from_dict({**BASE, "cluster": cluster or BASE["cluster"],
                               "training": {**BASE["training"], **training}})


@pytest.mark.parametrize("training, key, fix", [
    ({"sampling": {"device": "gpu"}}, "training.sampling.device: 'gpu'", "training.sampling.device: cpu"),
    ({"sampling": {"device": "uva"}}, "training.sampling.device: 'uva'", "training.sampling.device: cpu"),
    ({"features": {"placement": "uva"}}, "training.features.placement: 'uva'", "placement: host"),
    ({"features": {"placement": "gpu"}}, "training.features.placement: 'gpu'", "placement: host"),
])
def test_cpu_ranks_refuse_gpu_and_uva(training, key, fix):
    from gnnsim.realrun.worker import unsupported

    reason = unsupported(scenario({"profile": "localhost-cpu"}, **training))
    assert reason.startswith(key) and "needs GPU ranks" in reason and fix in reason


def test_cpu_ranks_keep_running_unplaced_and_worker_only_loaders():
    from gnnsim.realrun.worker import unsupported

    assert unsupported(scenario({"profile": "localhost-cpu"})) is None
    assert unsupported(scenario({"profile": "localhost-cpu"}, loader={"workers": 0})) is None


def test_gpu_ranks_run_every_placement_on_one_trainer():
    from gnnsim.realrun.worker import unsupported

    for device in ("cpu", "gpu", "uva"):
        for placement in ("host", "uva", "gpu"):
            assert unsupported(scenario(sampling={"device": device}, features={"placement": placement},
                                        loader={"workers": 0})) is None


def test_gpu_ranks_refuse_what_the_placed_loop_lacks():
    from gnnsim.realrun.worker import unsupported

    cached = unsupported(scenario(sampling={"device": "gpu"}, cache={"policy": "degree", "budget_fraction": 0.5}))
    assert "training.cache" in cached and "simulated only" in cached
    two = scenario({"profile": "dgx-h100-1", "trainers_per_node": 2}, features={"placement": "gpu"})
    assert "one GPU rank" in unsupported(two)
    assert unsupported(scenario({"profile": "dgx-h100-1", "trainers_per_node": 2}, sampling={"device": "gpu"})) is None


def test_uva_view_needs_pinned_memory():
    from gnnsim.realrun.placement import uva_view

    with pytest.raises(RealRunError, match="pinned"):
        uva_view(torch.zeros(4), torch.device("cuda", 0))


def test_stage_names_follow_the_simulator():
    from gnnsim.realrun.placed_loop import stage_names

    t = scenario(sampling={"device": "uva"}, features={"placement": "uva"}).training
    assert stage_names(t, 1) == ("sample", "fetch", "forward", "backward", "optimizer")  # nothing crosses
    t = scenario(sampling={"device": "cpu"}, features={"placement": "gpu"}).training
    assert stage_names(t, 1) == ("sample", "h2d", "forward", "backward", "optimizer")  # the blocks cross


def test_cpu_sampling_structure_is_the_numpy_arrays():
    from gnnsim.realrun.placement import structure

    indptr, indices = np.array([0, 1]), np.array([0])
    got = structure(indptr, indices, "cpu", torch.device("cpu"))
    assert got[0] is indptr and got[1] is indices


def test_the_device_scripts_nine_placements_validate():
    """validation/cuda/measure_placements.py --dry-run's check, on a small products preset."""
    import importlib.util
    from pathlib import Path

    from gnnsim.graph.build import build_graph

    path = Path(__file__).resolve().parents[2] / "validation" / "cuda" / "measure_placements.py"
    spec = importlib.util.spec_from_file_location("measure_placements", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    runs = script.scenarios("calibrated/h100-80gb-hbm3", 0.01, 5)
    assert {(s.training.sampling.device, s.training.features.placement) for s in runs} == \
        {(a, b) for a in ("cpu", "uva", "gpu") for b in ("host", "uva", "gpu")}
    graph = build_graph(runs[0])
    assert [script.check(s, graph) for s in runs] == [None] * 9
