"""Trace import: a real CPU profiler trace written here, and a hand-written GPU-like trace
whose stage and kernel times are worked out by hand below."""

import json

import numpy as np
import pytest

from gnnsim.cli import main
from gnnsim.measured import MeasuredRun
from gnnsim.validation.trace import TraceFormatError, import_traces, rank_from_trace, stage_of


def _x(name, ts, dur, cat="user_annotation", tid=1, **args):
    e = {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid}
    if args:
        e["args"] = args
    return e


def gpu_rank(rank: int, nccl_name: str) -> dict:
    """Two iterations of 5000 us. Per iteration (offset t0):
    forward label [t0, t0+1000) launches a GEMM (corr c) that runs 500 us on the GPU and
    an HtoD copy (corr c+2) of 100 us; backward label [t0+1000, t0+3000) launches an NCCL
    kernel (corr c+1) that runs 2500 us, past the end of the CPU label (DDP-style overlap).
    No allreduce or h2d labels, so those stages come from the NCCL kernel and the copy."""
    events = []
    for it in range(2):
        t0, c = it * 5000, it * 10
        events += [
            _x(f"ProfilerStep#{it}", t0, 5000),
            _x("forward", t0, 1000),
            _x("cudaLaunchKernel", t0 + 100, 5, cat="cuda_runtime", correlation=c),
            _x("cudaMemcpyAsync", t0 + 50, 5, cat="cuda_runtime", correlation=c + 2),
            _x("backward", t0 + 1000, 2000),
            _x("cudaLaunchKernel", t0 + 1500, 5, cat="cuda_runtime", correlation=c + 1),
            _x("volta_sgemm_128x64_nn", t0 + 200, 500, cat="kernel", tid=7, correlation=c, stream=7),
            _x(nccl_name, t0 + 2000, 2500, cat="kernel", tid=13, correlation=c + 1, stream=13),
            _x("Memcpy HtoD (Pinned -> Device)", t0 + 60, 100, cat="gpu_memcpy", tid=7, correlation=c + 2),
        ]
    return {"traceEvents": events, "distributedInfo": {"backend": "nccl", "rank": rank, "world_size": 2},
            "host_name": "gpu-box"}


def test_gpu_trace_stages_kernels_and_nccl_by_hand(tmp_path):
    paths = []
    # NCCL >= 2.19 names its kernels ncclDevKernel_*, older releases ncclKernel_*
    for rank, name in ((1, "ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)"),
                       (0, "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)")):
        p = tmp_path / f"rank{rank}.json"
        p.write_text(json.dumps(gpu_rank(rank, name)))
        paths.append(p)
    run = import_traces(paths)  # given out of order: the traces' distributedInfo.rank wins
    assert [r["rank"] for r in run.ranks] == [0, 1]
    assert run.meta["backend"] == "nccl" and run.meta["derived_stages"] == ["allreduce", "h2d"]
    for r in run.ranks:
        assert len(r["iterations"]) == 2
        for it in r["iterations"]:
            assert it["iteration_time_s"] == pytest.approx(5e-3)
            assert it["stages"] == pytest.approx({"forward": 1e-3, "backward": 2e-3, "allreduce": 2.5e-3, "h2d": 1e-4})
            dev = it["device"]
            assert dev["kernel_s"] == pytest.approx(5e-4) and dev["nccl_s"] == pytest.approx(2.5e-3)
            assert dev["memcpy_h2d_s"] == pytest.approx(1e-4) and dev["kernels"] == 2 and dev["nccl_kernels"] == 1
            # attributed where launched: the NCCL kernel to backward although it runs past it
            assert dev["by_stage"]["backward"] == pytest.approx({"nccl": 2.5e-3})
            assert dev["by_stage"]["forward"] == pytest.approx({"kernel": 5e-4, "memcpy_h2d": 1e-4})
    assert run.iteration_time_s == pytest.approx(5e-3)
    assert run.breakdown()["allreduce"]["time_s"] == pytest.approx(2.5e-3)


def test_real_cpu_profiler_trace(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile, record_function, schedule

    model = torch.nn.Linear(16, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = tmp_path / "rank0.json"
    with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=0, warmup=1, active=3),
                 on_trace_ready=lambda p: p.export_chrome_trace(str(out))) as prof:
        for _ in range(4):
            with record_function("forward"):
                loss = model(torch.randn(8, 16)).square().mean()
            with record_function("backward"):
                loss.backward()
            with record_function("optimizer"):
                opt.step()
                opt.zero_grad()
            prof.step()
    raw = json.loads(out.read_text())["traceEvents"]
    labelled = {e["name"] for e in raw if e.get("cat") == "user_annotation"}
    assert {"forward", "backward", "optimizer"} <= labelled
    run = import_traces([out])
    its = run.ranks[0]["iterations"]
    assert run.ranks[0]["iteration_markers"] == "ProfilerStep"
    assert len(its) == 3  # the active steps of the schedule
    for it in its:
        assert set(it["stages"]) == {"forward", "backward", "optimizer"}
        # the labelled blocks lie inside the step, one after another
        assert 0 < sum(it["stages"].values()) <= it["iteration_time_s"] * (1 + 1e-9)
    # the forward stage equals the trace's own forward spans inside the steps, summed by hand
    steps = sorted((e["ts"], e["ts"] + e["dur"]) for e in raw if str(e["name"]).startswith("ProfilerStep#"))
    fwd = [e for e in raw if e.get("cat") == "user_annotation" and e["name"] == "forward"]
    for it, (a, b) in zip(its, steps):
        assert it["stages"]["forward"] == pytest.approx(sum(e["dur"] for e in fwd if a <= e["ts"] <= b) * 1e-6)


def test_nested_labels_count_once_and_iterations_from_stage_order():
    events = [_x("forward", 0, 1000), _x("forward#inner", 100, 300), _x("backward", 1000, 500),
              _x("allreduce", 1500, 200), _x("forward", 2000, 800), _x("optimizer", 2800, 100)]
    rank = rank_from_trace({"traceEvents": events})
    assert rank["iteration_markers"] == "stage sequence"
    assert [it["stages"] for it in rank["iterations"]] == [
        pytest.approx({"forward": 1e-3, "backward": 5e-4, "allreduce": 2e-4}),
        pytest.approx({"forward": 8e-4, "optimizer": 1e-4})]
    assert [it["iteration_time_s"] for it in rank["iterations"]] == pytest.approx([1.7e-3, 9e-4])


def test_stage_labels_and_map():
    assert stage_of("FORWARD") == "forward" and stage_of("stage:halo") == "halo" and stage_of("gnnsim/sample") == "sample"
    assert stage_of("aten::addmm") is None and stage_of("forwarding") is None
    events = [_x("forward", 0, 100), _x("DDP.reducer", 100, 400)]
    rank = rank_from_trace({"traceEvents": events}, stage_map={"DDP.reducer": "allreduce"})
    assert rank["iterations"][0]["stages"] == pytest.approx({"forward": 1e-4, "allreduce": 4e-4})


def test_ranks_cut_to_the_shortest_and_skip_first(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"traceEvents": [_x("forward", i * 100, 50) for i in range(5)]}))
    b.write_text(json.dumps({"traceEvents": [_x("forward", i * 100, 60) for i in range(3)]}))
    run = import_traces([a, b], skip_first=1)
    assert [len(r["iterations"]) for r in run.ranks] == [2, 2]
    assert run.meta["cut_to_iterations"] == 2
    assert run.iteration_times_s == pytest.approx([6e-5, 6e-5])  # the slower rank per iteration


def test_errors_name_the_file_and_the_fix(tmp_path):
    p = tmp_path / "plain.json"
    p.write_text(json.dumps({"traceEvents": [_x("aten::mm", 0, 10, cat="cpu_op")]}))
    with pytest.raises(TraceFormatError, match=r"plain\.json.*record_function"):
        import_traces([p])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TraceFormatError, match="bad.json: not a JSON Chrome trace"):
        import_traces([bad])
    with pytest.raises(TraceFormatError, match="no such trace file"):
        import_traces([tmp_path / "missing.json"])


def test_cli_import_trace_writes_a_measured_run(tmp_path, capsys):
    p = tmp_path / "rank0.json"
    p.write_text(json.dumps(gpu_rank(0, "ncclDevKernel_AllGather_RING_LL(ncclDevComm*)")))
    out = tmp_path / "measured.json"
    assert main(["import-trace", str(p), "--out", str(out)]) == 0
    assert "allreduce" in capsys.readouterr().out
    run = MeasuredRun.from_json(out.read_text())
    assert run.iteration_time_s == pytest.approx(5e-3)
    assert json.loads(out.read_text())["breakdown"]["forward"]["time_s"] == pytest.approx(1e-3)
    assert main(["import-trace", str(p), "--stage-map", "nolabel"]) == 2


# -- a real DDP run: the all-reduce nested in backward -------------------------------------

RANK_SCRIPT = """
import os, sys

import torch
import torch.distributed as dist
from torch.profiler import ProfilerActivity, profile, record_function, schedule

rank, world, store, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.environ["GLOO_SOCKET_IFNAME"] = "lo"
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
try:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 4))
    model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(2048, 64), torch.randint(0, 4, (2048,))
    with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=0, warmup=1, active=3),
                 on_trace_ready=lambda p: p.export_chrome_trace(f"{out}/rank{rank}.json")) as prof:
        for _ in range(4):
            with record_function("forward"):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            with record_function("backward"):
                loss.backward()  # DDP's all-reduce runs in here, on gloo's threads
            with record_function("optimizer"):
                opt.step()
                opt.zero_grad()
            prof.step()
finally:
    dist.destroy_process_group()
"""


def ddp_traces(tmp_path, timeout_s: float = 120.0) -> list:
    """Run two DDP ranks of a tiny model over gloo on loopback, profiled for 3 steps, and
    return their traces. Each rank is a fresh interpreter: a rank forked from pytest could
    inherit locks held by threads that earlier tests left running, and hang."""
    import subprocess
    import sys
    import time

    script = tmp_path / "ddp_rank.py"
    script.write_text(RANK_SCRIPT)
    procs = [subprocess.Popen([sys.executable, str(script), str(rank), "2", str(tmp_path / "store"), str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for rank in range(2)]
    try:
        deadline = time.monotonic() + timeout_s
        for p in procs:
            try:
                _, err = p.communicate(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"the 2-rank DDP run took over {timeout_s:.0f} s")
            assert p.returncode == 0, err.decode(errors="replace")[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [tmp_path / "rank0.json", tmp_path / "rank1.json"]


def test_a_real_ddp_trace_splits_the_allreduce_out_of_backward(tmp_path):
    pytest.importorskip("torch")
    paths = ddp_traces(tmp_path)
    run = import_traces(paths)
    assert run.meta["backend"] == "gloo" and run.meta["world_size"] == 2 and run.meta["device"] == "cpu"
    assert run.meta["host"] == json.loads(paths[0].read_text())["host_name"]
    covered = []
    for path, rank in zip(paths, run.ranks):
        raw = [e for e in json.loads(path.read_text())["traceEvents"] if e.get("ph") == "X"]
        steps = sorted((e["ts"], e["ts"] + e["dur"]) for e in raw if str(e["name"]).startswith("ProfilerStep#"))
        assert len(rank["iterations"]) == len(steps) == 3
        for it, (a, b) in zip(rank["iterations"], steps):
            gloo = [(e["ts"], e["ts"] + e["dur"]) for e in raw if e["name"] == "gloo:all_reduce" and a <= e["ts"] <= b]
            bwd = [(e["ts"], e["ts"] + e["dur"]) for e in raw if e["name"] == "backward" and a <= e["ts"] <= b]
            # a model this small fills one gradient bucket, all-reduced by one gloo call on gloo's thread
            assert len(gloo) == 1 and len(bwd) == 1
            (g0, g1), (b0, b1) = gloo[0], bwd[0]
            assert b0 < g0 < b1, "DDP launches the all-reduce inside backward"
            # by hand: the all-reduce is the gloo call up to backward's return (a loaded host may let
            # gloo's thread close its event later), and backward loses it
            inside = min(g1, b1) - g0
            assert it["stages"]["allreduce"] == pytest.approx(inside * 1e-6)
            assert it["stages"]["backward"] == pytest.approx((b1 - b0 - inside) * 1e-6, abs=1e-9)
            # nothing counted twice: the stages fit in the step
            assert sum(it["stages"].values()) <= it["iteration_time_s"]
            covered.append(sum(it["stages"].values()) / it["iteration_time_s"])
    # and they cover it (the rest: prof.step() and the gaps between labels, larger on a busy host)
    assert np.mean(covered) >= 0.95
    # mapping gloo's label explicitly changes nothing (it was counted twice before)
    mapped = import_traces(paths, stage_map={"gloo:all_reduce": "allreduce"})
    assert {k: v["time_s"] for k, v in mapped.breakdown().items()} == pytest.approx(
        {k: v["time_s"] for k, v in run.breakdown().items()})
