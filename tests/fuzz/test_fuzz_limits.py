"""Inputs that could take the machine down, each run where it cannot: sizes that would
allocate terabytes run in a subprocess under a 2 GB address-space limit and must be
refused by the pre-flight estimate (exit 2, naming the key) in seconds; a closed pipe;
and a property test that mutates valid scenarios and profiles."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import ROOT, TINY

LIMIT_BYTES = 2 * 2**30

# (gnnsim arguments after the scenario, the key the refusal must name); S is the tiny scenario.
BOMBS = [
    (["simulate", "S", "--set", "training.batch_size=1000000000000"], "training.batch_size"),
    (["simulate", "S", "--set", "graph.avg_degree=1000000000"], "graph.avg_degree"),
    (["simulate", "S", "--set", "graph.num_nodes=100000000000"], "graph.num_nodes"),
    (["simulate", "S", "--set", "graph.num_nodes=3000000000"], "graph.num_nodes"),
    (["simulate", "S", "--set", "graph.source=preset:ogbn-papers100M"], "graph.scale"),
    (["simulate", "S", "--set", "training.replace=true", "--set", "training.fanouts=[100000000,100000000]"],
     "training.fanouts"),
    (["compare", "S", "--vary", "graph.num_nodes=300,100000000000"], "graph.num_nodes"),
    (["whatif", "S", "--scale", "network.bw=2", "--set", "training.batch_size=100000000000"], "training.batch_size"),
    (["realrun", "S", "--set", "model.hidden_dim=10000000"], "model.hidden_dim"),
    (["realrun", "S", "--set", "graph.feature_dim=1000000000"], "graph.feature_dim"),
    (["validate", "S", "--set", "graph.avg_degree=1000000000"], "graph.avg_degree"),
    (["partition", "--graph", "sbm?num_nodes=100000000000", "--parts", "2", "--method", "random"], "num_nodes"),
    (["partition", "--graph", "rmat?num_nodes=1000&avg_degree=1000000000", "--parts", "2", "--method", "random"],
     "avg_degree"),
    (["partition", "--graph", "E", "--parts", "2", "--method", "random"], "node id"),
]

DRIVER = textwrap.dedent("""
    import contextlib, io, json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from gnnsim.cli import main
    out = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
        out.append({{"code": code, "err": err.getvalue(), "seconds": time.monotonic() - started}})
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def bomb_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bombs")
    scenario = tmp / "s.yaml"
    scenario.write_text(yaml.safe_dump(TINY))
    edges = tmp / "edges.txt"
    edges.write_text("0 1\n1 2\n2 100000000000\n")
    argvs = [[str(scenario) if a == "S" else str(edges) if a == "E" else a for a in argv] for argv, _ in BOMBS]
    done = subprocess.run([sys.executable, "-c", DRIVER.format(limit=LIMIT_BYTES), json.dumps(argvs)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("i", range(len(BOMBS)), ids=[" ".join(a[:1] + a[2:]) for a, _ in BOMBS])
def test_resource_bomb_is_refused_before_allocating(bomb_results, i):
    result, key = bomb_results[i], BOMBS[i][1]
    assert result["code"] == 2, result
    assert "Traceback" not in result["err"] and "out of memory" not in result["err"], result["err"]
    assert key in result["err"] and "available" in result["err"], result["err"]
    assert result["seconds"] < 10


def test_nan_profile_exits_within_a_second(tmp_path):
    """The bug that started it: NaN in a link made simulate spin forever."""
    from .conftest import minimal_catalog

    root = minimal_catalog(tmp_path / "hw")
    link = root / "links" / "loopback.yaml"
    link.write_text(link.read_text().replace("bw_gbps:", "bw_gbps: .nan #", 1))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(TINY))
    code = "import sys, time; from gnnsim.cli import main; t = time.monotonic(); c = main(sys.argv[1:]); " \
           "print(time.monotonic() - t); sys.exit(c)"
    done = subprocess.run([sys.executable, "-c", code, "simulate", str(scenario)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "GNNSIM_HWPROFILES": str(root)}, cwd=ROOT)
    assert done.returncode == 2 and "loopback.yaml" in done.stderr and "bw_gbps" in done.stderr, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) < 1.0


def test_closed_pipe_ends_quietly(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(TINY))
    proc = subprocess.Popen([sys.executable, "-m", "gnnsim", "simulate", str(scenario)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.stdout.readline()
        proc.stdout.close()  # what `| head -1` does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 141), err
    assert b"Traceback" not in err and b"Exception ignored" not in err and b"BrokenPipe" not in err, err


# -- property: a mutated valid scenario is a valid scenario or a GnnsimError, nothing else ----

def _paths(data, prefix=()):
    for key, value in data.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from _paths(value, prefix + (key,))


VALID = {**copy.deepcopy(TINY), "partition": {"method": "random"},
         "training": {**TINY["training"], "cache": {"policy": "none"}, "learning_rate": 0.01}}
PATHS = sorted(_paths(VALID))
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=8), st.lists(st.integers(-3, 10**9), max_size=4), st.dictionaries(
                     st.text(max_size=4), st.integers(), max_size=2))
MUTATION = st.tuples(st.sampled_from(["drop", "replace"]), st.sampled_from(PATHS), JUNK)


def _mutate(data: dict, mutations) -> dict:
    out = copy.deepcopy(data)
    for how, path, value in mutations:
        node = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if how == "drop":
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_scenario_is_valid_or_a_gnnsim_error(mutations):
    from gnnsim.config import scenario_from_dict
    from gnnsim.errors import GnnsimError
    from gnnsim.pipeline import cluster_for
    from gnnsim.preflight import check_memory

    data = _mutate(VALID, mutations)
    try:
        scenario = scenario_from_dict(data, "fuzz.yaml")
        cluster = cluster_for(scenario)
        check_memory(scenario, cluster.num_trainers)
    except GnnsimError as exc:
        assert str(exc).strip()
        return
    for value in (scenario.graph.avg_degree, scenario.training.learning_rate, scenario.graph.train_fraction):
        assert math.isfinite(value)
    assert not isinstance(scenario.training.batch_size, bool)


PROFILE_KINDS = {"links": "loopback", "devices": "x86-core", "nodes": "localhost", "software": "torch"}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(PROFILE_KINDS)), mutations=st.lists(st.tuples(
    st.sampled_from(["drop", "replace"]), st.integers(0, 10**6), JUNK), min_size=1, max_size=3))
def test_mutated_profile_loads_or_is_a_profile_error(tmp_path_factory, kind, mutations):
    from gnnsim.errors import GnnsimError
    from gnnsim.hardware.profiles import load_device, load_link, load_node
    from gnnsim.hardware.software import load_software

    from .conftest import minimal_catalog

    root = minimal_catalog(tmp_path_factory.mktemp("hw"))
    path = root / kind / f"{PROFILE_KINDS[kind]}.yaml"
    data = yaml.safe_load(path.read_text())
    paths = sorted(p for p in _paths(data) if p[0] != "sources")
    data = _mutate(data, [(how, paths[i % len(paths)], value) for how, i, value in mutations])
    path.write_text(yaml.safe_dump(data))
    load = {"links": load_link, "devices": load_device, "nodes": load_node, "software": load_software}[kind]
    old = os.environ.get("GNNSIM_HWPROFILES")
    os.environ["GNNSIM_HWPROFILES"] = str(root)
    try:
        load(PROFILE_KINDS[kind])
    except GnnsimError as exc:
        assert str(exc).strip()
    finally:
        if old is None:
            os.environ.pop("GNNSIM_HWPROFILES", None)
        else:
            os.environ["GNNSIM_HWPROFILES"] = old
