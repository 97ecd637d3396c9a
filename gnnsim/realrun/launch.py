"""Launch a real run: spawn one process per rank on loopback, collect their timings.

The processes form their own session, so a timeout, a crashed rank, or ``SIGTERM``,
``SIGHUP`` or Ctrl-C to the launcher kills the whole group and removes the run's folder;
the ranks die with the launcher (a death signal) and a reaper process cleans up after a
launcher killed outright (:mod:`gnnsim.realrun.procs`). A failed run names the rank that
failed first and how (its error, exit code or signal). Each rank writes its result file atomically; the
launcher merges them into a :class:`~gnnsim.measured.MeasuredRun`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from gnnsim.config import Scenario
from gnnsim.errors import RealRunError
from gnnsim.measured import MeasuredRun
from gnnsim.pipeline import cluster_for
from gnnsim.preflight import check_memory
from gnnsim.realrun import procs as procs_mod
from gnnsim.realrun.heap import STEADY_HEAP_ENV


def scenario_for_ranks(scenario: Scenario, ranks: int) -> Scenario:
    """The scenario with its cluster resized to ``ranks`` trainers on one node, if needed."""
    if cluster_for(scenario).num_trainers == ranks:
        return scenario
    data = scenario.model_dump(mode="json")
    data["cluster"] = {**data["cluster"], "num_nodes": 1, "trainers_per_node": ranks}
    return Scenario.model_validate(data)


def worker_env(threads: int) -> dict[str, str]:
    """The environment of a rank's process: this one's, the steady-heap settings unless
    set already (:data:`gnnsim.realrun.heap.STEADY_HEAP_ENV`), and ``threads`` for OpenMP and MKL.

    >>> env = worker_env(1)
    >>> env["OMP_NUM_THREADS"], env["MALLOC_MMAP_THRESHOLD_"] == os.environ.get("MALLOC_MMAP_THRESHOLD_", "33554432")
    ('1', True)
    """
    return {**STEADY_HEAP_ENV, **os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def _rank_errors(tmp: Path, procs, failures: list[tuple[int, int]]) -> list[str]:
    """What went wrong, the rank that failed first leading: each failed rank's error (the
    first line its worker wrote) and how it ended, then any other rank's error."""
    def detail(r: int) -> str:
        err_file = tmp / f"rank{r}.error"
        if err_file.exists():
            lines = err_file.read_text(errors="replace").splitlines()
            return lines[0] if lines else "no message"
        return procs_mod.stderr_tail(procs[r]) or "no message"

    out = [f"rank {r} {'failed first' if i == 0 and len(failures) > 1 else 'failed'} "
           f"({procs_mod.how_it_ended(code)}): {detail(r)}" for i, (r, code) in enumerate(failures)]
    failed = {r for r, _ in failures}
    out += [f"rank {r}: {detail(r)}" for r in range(len(procs)) if r not in failed and (tmp / f"rank{r}.error").exists()]
    return out


def run_real(scenario: Scenario, ranks: int = 2, timeout_s: float = 600.0, progress=print,
             netns=None, trainer: str = "torch") -> MeasuredRun:
    """Train ``scenario`` for real on ``ranks`` gloo processes and return the measured run.

    ``netns`` (a :class:`gnnsim.realrun.netns.NetnsSetup`) runs each rank in its own
    network namespace, so that their traffic crosses a shaped veth link.
    """
    if ranks < 1:
        raise RealRunError(f"--ranks must be at least 1, got {ranks}")
    scenario = scenario_for_ranks(scenario, ranks)
    from gnnsim.realrun.pyg_worker import worker_module  # torch: gnnsim's trainer; pyg: a standard PyG one

    module = worker_module(trainer, scenario)
    threads = cluster_for(scenario).node.trainer_device.threads
    check_memory(scenario, ranks, real_run=True)  # every rank builds the graph, features and model
    with tempfile.TemporaryDirectory(prefix="gnnsim-realrun-") as tmp, procs_mod.signals_raise():
        spec = {"scenario": scenario.model_dump(mode="json", exclude={"base_dir"}), "base_dir": scenario.base_dir,
                "world": ranks, "port": procs_mod.free_port(), "out_dir": tmp, "threads": threads, "timeout_s": timeout_s}
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        env = {**worker_env(threads), procs_mod.PARENT_ENV: str(os.getpid())}
        helpers, procs, reaper = [], [], []
        try:
            helpers = netns.start_rendezvous(spec["port"]) if netns is not None else []
            procs = procs_mod.spawn(
                [(netns.command_prefix(r) if netns is not None else [])
                 + [sys.executable, "-m", module, str(spec_path), str(r)] for r in range(ranks)],
                [{**env, **(netns.rank_env(r) if netns is not None else {})} for r in range(ranks)])
            reaper = [procs_mod.start_reaper(procs + helpers, tmp)]
            where = f"network namespaces, {netns.shape.describe()}" if netns is not None else "loopback"
            progress(f"realrun: {ranks} ranks (gloo, {where}, {threads} thread(s) each), "
                     f"{scenario.simulation.warmup_iterations} warm-up + {scenario.simulation.iterations} timed "
                     "iterations")
            outcome = procs_mod.wait_group(procs, timeout_s, also_kill=helpers)
        finally:
            procs_mod.kill(procs + helpers + reaper)
        errors = _rank_errors(Path(tmp), procs, outcome.failures)
        if errors or outcome.timed_out:
            what = "timed out after {:.0f} s (all ranks killed)".format(timeout_s) if outcome.timed_out and not errors \
                else "failed"
            raise RealRunError(f"real run {what}: " + "; ".join(errors or ["no rank reported an error"]))
        results = [json.loads((Path(tmp) / f"rank{r}.json").read_text()) for r in range(ranks)]
    return MeasuredRun.from_ranks(scenario, results)
