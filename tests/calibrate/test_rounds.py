"""Pieces timed in rounds spread over a calibration (calibrate/rounds.py): the median of
rounds, where the rounds run, and the loader's fit on its rounds. No timing here."""

import pytest

from gnnsim.calibrate import bench, measure, rounds, run
from gnnsim.calibrate import pyg as cal
from gnnsim.calibrate.timing import Samples, median_of_rounds
from gnnsim.workload import kernels as m


def _sweep(times: list[float], shapes=("a", "b")) -> Samples:
    k = m.elementwise(10)
    return Samples([k] * len(times), list(times), list(shapes), [0.1] * len(times))


def test_the_median_round_of_each_shape_ignores_one_slow_round():
    s = median_of_rounds([_sweep([1.0, 2.0]), _sweep([1.1, 2.2]), _sweep([2.6, 5.0]), _sweep([0.9, 2.1])])
    assert s.times_s == pytest.approx([1.05, 2.15]) and s.shapes == ["a", "b"]
    with pytest.raises(ValueError, match="same shapes"):
        median_of_rounds([_sweep([1.0, 2.0]), _sweep([1.0, 2.0], shapes=("a", "c"))])


def test_each_run_times_one_more_round_between_two_probes_and_scales_it_to_their_median(monkeypatch):
    from gnnsim.calibrate import capacity

    calls = []
    monkeypatch.setattr(bench, "bench_optimizer",
                        lambda quick, repeats, device, most: calls.append(("opt", repeats, most)) or _sweep([1.0, 2.0]))
    probes = iter([1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0, 1.0, 1.0])  # round 1 ran at half speed, round 3 a third

    class FakeLoaders:
        def __init__(self, quick, batches):
            calls.append(("loaders", batches))

        def round(self, count, index):
            calls.append(("loader", count, index))
            return [{"round": index, "loader": 2.0, "bare": 1.0, "bare_evicted": 1.0}]

    monkeypatch.setattr(rounds, "LoaderBench", FakeLoaders)
    monkeypatch.setattr(capacity, "reference_step_s", lambda threads, n, round_s: next(probes))
    r = rounds.Rounds(11, loader=True)
    for _ in range(rounds.ROUNDS + 2):
        r.run()
    opt = [c for c in calls if c[0] == "opt"]
    assert len(opt) == rounds.ROUNDS == len(r.optimizer) and r.done()
    # the kernel passes' runs shared among the rounds: the same time in all
    assert all(c[1:] == (3, rounds.OPTIMIZER_ROUND_RUNS) for c in opt)
    assert rounds.OPTIMIZER_ROUND_RUNS * rounds.ROUNDS == rounds.KERNEL_PASSES * rounds.EVICTED_MAX_REPEATS
    # one set of loaders, drawn from by every round
    assert [c for c in calls if c[0] == "loaders"] == [("loaders", rounds.ROUNDS * rounds.ROUND_BATCHES)]
    assert [c[2] for c in calls if c[0] == "loader"] == list(range(rounds.ROUNDS))
    assert r.reference_s() == 1.0 and r.factors() == [1.0, 0.5, 1.0, 1 / 3, 1.0]
    assert r.optimizer_samples().times_s == [1.0, 2.0]
    rows = r.loader_rows()
    assert [row["loader"] for row in rows] == [2.0, 1.0, 2.0, 2 / 3, 2.0]
    assert [row["bare_evicted"] for row in rows] == [1.0] * 5  # (fitted against the unscaled sampler block)


def test_the_kernel_passes_leave_the_optimizer_to_a_round_after_each(monkeypatch):
    log = []

    def fake(cls):
        return lambda quick, repeats, device: log.append(cls) or _sweep([1.0, 2.0])

    class FakeRounds:
        def run(self):
            log.append("round")

    monkeypatch.setattr(bench, "KERNEL_BENCHMARKS", (("elementwise", fake("elementwise")),
                                                      ("optimizer", fake("optimizer"))))
    monkeypatch.setattr(measure, "fit_sweeps", lambda sweeps, cpu, progress: ([cls for cls, _ in sweeps], {}, 0.0))
    progress = run.Narration(lambda *a, **k: None, type("Steps", (), {"update": lambda self: None})())
    fitted, _, _ = measure._fit_kernels(False, 11, progress, "cpu", {}, FakeRounds())
    assert fitted == ["elementwise"] and log == ["elementwise", "round", "elementwise", "round"]
    log.clear()
    fitted, _, _ = measure._fit_kernels(False, 11, progress, "cpu", {})  # (a GPU's or --quick: no rounds)
    assert fitted == ["elementwise", "optimizer"] and "round" not in log


def _loader_rows(slow_round: int | None) -> list[dict]:
    rows = []
    for batch, nodes, edges in ((32, 200, 900), (256, 2000, 10000), (1024, 5500, 45000)):
        for index in range(3):
            for _ in range(4):
                extra = 200e-6 + 50e-9 * nodes + 5e-9 * edges
                rows.append({"batch": batch, "fanouts": [5, 5], "round": index, "nodes": nodes, "edges": edges,
                             "bare": 1e-3, "loader": 1e-3 + extra * (2.0 if index == slow_round else 1.0)})
    return rows


def test_the_loader_fit_keeps_each_shapes_median_round():
    steady, _ = cal.fit_loader(_loader_rows(None))
    one_slow, _ = cal.fit_loader(_loader_rows(1))
    assert one_slow == steady
    assert steady["per_iteration_us"] == pytest.approx(200, rel=1e-3)


def test_the_kernel_jitter_counts_every_kernel_class():
    samples = {"gemm": [{"seconds": 2e-3, "cv": 0.1}], "optimizer": [{"seconds": 4e-3, "cv": 0.3}],
               "sampler": [{"seconds": 1.0}]}
    assert rounds.kernel_jitter(samples) == pytest.approx(0.2)


def test_the_loader_rounds_draw_the_next_batches_of_the_same_loaders(monkeypatch):
    pytest.importorskip("torch_geometric")
    monkeypatch.setattr(cal, "LOADER_BATCHES", [(16, [3, 2]), (32, [2])])
    monkeypatch.setattr(cal, "LOADER_GRAPH_NODES", 500)
    loaders = cal.LoaderBench(False, 4)
    first, second = loaders.round(2, 0), loaders.round(2, 1)
    assert [r["round"] for r in first + second] == [0] * 4 + [1] * 4
    assert [r["batch"] for r in first] == [16, 16, 32, 32] and loaders.drawn == 2 + 4
    assert all(r["loader"] > 0 and r["bare_evicted"] > 0 and len(r["evicted_counts"]) == 5 for r in first + second)
    with pytest.raises(StopIteration):  # 4 batches a shape were asked for, and two warmed up
        loaders.round(1, 2)
