"""Bad inputs to every command, run in-process: each ends with exit code 2, no traceback,
a message that names the offending key, option or file, and no output file.

Cases are built from tables (a scenario field and its bad values, a command and its
output options, ...) so that a new field or command adds a row, not a test.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, TINY, assert_user_error, run_cli

# -- scenario fields --------------------------------------------------------------------

# Every number of a scenario, by dotted path.
NUMERIC_FIELDS = [
    "graph.num_nodes", "graph.num_communities", "graph.avg_degree", "graph.intra_fraction", "graph.feature_dim",
    "graph.num_classes", "graph.train_fraction", "graph.scale", "graph.exponent", "partition.num_parts",
    "model.hidden_dim", "model.heads", "training.batch_size", "training.learning_rate", "training.sampler_workers",
    "training.prefetch_depth", "training.ddp_bucket_bytes", "training.num_clusters", "training.clusters_per_batch",
    "training.cache.budget_fraction", "training.cache.presample_batches", "cluster.num_nodes",
    "cluster.trainers_per_node", "simulation.iterations", "simulation.warmup_iterations", "simulation.seed",
]
BAD_NUMBERS = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf", "bool": "true", "text": "fast"}
# Commands that read a scenario, with the extra arguments each needs; realrun and validate
# must refuse before any rank starts.
SCENARIO_COMMANDS = {
    "simulate": [], "compare": ["--vary", "partition.method=random,metis"], "whatif": ["--scale", "network.bw=2"],
    "realrun": ["--ranks", "2", "--timeout", "5"], "validate": ["--ranks", "2", "--timeout", "5"],
}


def _set(data: dict, dotted: str, value) -> dict:
    out = copy.deepcopy(data)
    node = out
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def _field_cases():
    commands = list(SCENARIO_COMMANDS)
    for i, key in enumerate(NUMERIC_FIELDS):
        for j, (label, text) in enumerate(BAD_NUMBERS.items()):
            command = commands[(i + j) % len(commands)]
            yield pytest.param(key, text, command, "file" if (i + j) % 2 else "set", id=f"{key}={label}-{command}")


@pytest.mark.parametrize("key,text,command,how", list(_field_cases()))
def test_bad_scenario_number(tmp_path, out_dir, capsys, key, text, command, how):
    path = tmp_path / "s.yaml"
    if how == "file":
        path.write_text(yaml.safe_dump(_set(TINY, key, "PLACEHOLDER")).replace("PLACEHOLDER", text))
        extra = []
    else:
        path.write_text(yaml.safe_dump(TINY))
        extra = ["--set", f"{key}={text}"]
    output = ["--json", str(out_dir / "r.json")] if command in ("simulate", "compare", "whatif", "validate") else \
        ["--out", str(out_dir / "r.json")]
    result = run_cli([command, str(path), *extra, *SCENARIO_COMMANDS[command], *output], capsys, out_dir)
    assert_user_error(result, key)


FANOUT_CASES = {"empty": "[]", "zero": "[3, 0]", "negative": "[-1]", "nan": "[3, .nan]", "bool": "[true, 2]",
                "text": "[a, b]", "mapping": "{a: 1}"}


@pytest.mark.parametrize("label", FANOUT_CASES)
def test_bad_fanouts(tiny, out_dir, capsys, label):
    result = run_cli(["simulate", str(tiny), "--set", f"training.fanouts={FANOUT_CASES[label]}",
                      "--json", str(out_dir / "r.json")], capsys, out_dir)
    assert_user_error(result, "training.fanouts")


CHOICE_CASES = {
    "model.name": "transformer", "training.mode": "async", "training.sampler": "random-walk",
    "training.optimizer": "lamb", "training.framework": "jax", "training.cache.policy": "lru",
    "model.dtype": "float16", "graph.source": "karate", "partition.method": "spectral",
    "cluster.profile": "no-such-cluster", "cluster.device_profile": "calibrated/nope",
    "training.graph_store": "sharded",
}


@pytest.mark.parametrize("key", CHOICE_CASES)
def test_bad_choice(tiny, out_dir, capsys, key):
    result = run_cli(["simulate", str(tiny), "--set", f"{key}={CHOICE_CASES[key]}", "--json", str(out_dir / "r.json")],
                     capsys, out_dir)
    assert_user_error(result, key, CHOICE_CASES[key])


STRUCTURE_CASES = {
    "unknown top key": ({"grph": {}}, "grph"),
    "unknown section key": ({"training": {"batchsize": 4}}, "batchsize"),
    "section is a number": ({"training": 3}, "training"),
    "section is a list": ({"graph": [1, 2]}, "graph"),
    "base_dir set": ({"base_dir": "/"}, "base_dir"),
    "file source without path": ({"graph": {"source": "edgelist"}}, "graph.path"),
    "gat heads": ({"model": {"name": "gat", "hidden_dim": 10, "heads": 3}}, "heads"),
    "cache without budget": ({"training": {"cache": {"policy": "degree"}}}, "budget"),
    "two cache budgets": ({"training": {"cache": {"policy": "degree", "budget_bytes": 1, "budget_fraction": 0.1}}},
                          "budget"),
    "more trainers than nodes": ({"cluster": {"trainers_per_node": 5000}}, "trainers_per_node"),
    "num_parts not trainers": ({"partition": {"num_parts": 3}}, "partition.num_parts"),
    "graph.path is a folder": ({"graph": {"source": "edgelist", "path": "."}}, "is a folder"),
    "graph.path missing": ({"graph": {"source": "npz", "path": "nope.npz"}}, "graph.path"),
    "ogb path is a file": ({"graph": {"source": "ogb", "path": "s.yaml"}}, "graph.path"),
    "preset unknown": ({"graph": {"source": "preset:cora"}}, "preset"),
}


@pytest.mark.parametrize("label", STRUCTURE_CASES)
def test_bad_structure(tmp_path, out_dir, capsys, label):
    change, name = STRUCTURE_CASES[label]
    data = copy.deepcopy(TINY)
    for section, value in change.items():
        data[section] = {**data[section], **value} if isinstance(value, dict) and isinstance(data.get(section), dict) \
            else value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run_cli(["simulate", str(path), "--json", str(out_dir / "r.json")], capsys, out_dir)
    assert_user_error(result, name)


# -- scenario files -----------------------------------------------------------------------

BAD_FILES = {
    "empty": b"", "comments only": b"# nothing here\n", "binary": bytes(range(256)), "latin-1": "graph: {name: caf\xe9}".encode("latin-1"),
    "nul bytes": b"graph:\x00 {}\n", "bad yaml": b"graph: {num_nodes: [1,\n", "a list": b"- 1\n- 2\n",
    "a string": b"hello\n", "tabs": b"graph:\n\tnum_nodes: 3\n",
}


def _bad_file_cases():
    commands = list(SCENARIO_COMMANDS) + ["import-trace"]
    for i, label in enumerate(BAD_FILES):
        for command in (commands[i % len(commands)], commands[(i + 3) % len(commands)]):
            yield pytest.param(label, command, id=f"{label}-{command}")


@pytest.mark.parametrize("label,command", list(_bad_file_cases()))
def test_bad_scenario_file(tmp_path, out_dir, capsys, label, command):
    path = tmp_path / "bad.yaml"
    path.write_bytes(BAD_FILES[label])
    if command == "import-trace":
        argv = ["import-trace", str(tmp_path / "t.json"), "--scenario", str(path), "--out", str(out_dir / "m.json")]
        (tmp_path / "t.json").write_text('{"traceEvents": []}')
    else:
        argv = [command, str(path), *SCENARIO_COMMANDS[command]]
    result = run_cli(argv, capsys, out_dir)
    assert_user_error(result, str(path))


@pytest.mark.parametrize("command", [*SCENARIO_COMMANDS, "import-trace"])
@pytest.mark.parametrize("what", ["folder", "missing"])
def test_scenario_path_is_not_a_file(tmp_path, out_dir, capsys, command, what):
    path = tmp_path if what == "folder" else tmp_path / "nope.yaml"
    argv = [command, str(path), *SCENARIO_COMMANDS.get(command, [])] if command != "import-trace" else \
        ["import-trace", str(path)]
    result = run_cli(argv, capsys, out_dir)
    assert_user_error(result, str(path))
    assert ("is a folder" if what == "folder" else "no such") in result.err


def test_empty_scenario_points_at_the_example(tmp_path, capsys):
    (tmp_path / "e.yaml").write_text("")
    result = run_cli(["simulate", str(tmp_path / "e.yaml")], capsys)
    assert_user_error(result, "empty scenario")
    assert "examples/quickstart.yaml" in result.err


# -- --set, --vary, --scale -----------------------------------------------------------------

SET_CASES = {
    "no equals": ("training.batch_size", "training.batch_size"), "empty key": ("=3", "key is empty"),
    "unclosed list": ("training.fanouts=[1,", "training.fanouts"), "unclosed quote": ("name='abc", "name"),
    "bad indent": ("graph=a: b: c", "graph"), "value into value": ("training.batch_size.x=1", "batch_size"),
    "nan": ("graph.avg_degree=nan", "graph.avg_degree"), "NaN list": ("training.fanouts=[.NaN]", "training.fanouts"),
    "unknown": ("training.batchsize=3", "batchsize"), "tab": ("graph.num_nodes=\t@", "graph.num_nodes"),
}


@pytest.mark.parametrize("label", SET_CASES)
def test_bad_set(tiny, out_dir, capsys, label):
    text, name = SET_CASES[label]
    result = run_cli(["simulate", str(tiny), "--set", text, "--json", str(out_dir / "r.json")], capsys, out_dir)
    assert_user_error(result, name)


SCALE_CASES = {"inf": "network.bw=inf", "nan": "network.bw=nan", "zero": "network.bw=0", "negative": "gpu.peak=-2",
               "no factor": "network.bw", "text": "network.bw=fast", "unknown knob": "disk.bw=2"}


@pytest.mark.parametrize("label", SCALE_CASES)
def test_bad_whatif_scale(tiny, out_dir, capsys, label):
    result = run_cli(["whatif", str(tiny), "--scale", SCALE_CASES[label], "--json", str(out_dir / "w.json")],
                     capsys, out_dir)
    assert_user_error(result, "--scale", SCALE_CASES[label].split("=")[0])


VARY_CASES = {"no values": "training.batch_size", "unknown key": "training.batchsize=1,2",
              "nan value": "training.batch_size=.nan,4", "bool value": "training.batch_size=true,4"}


@pytest.mark.parametrize("label", VARY_CASES)
def test_bad_compare_vary(tiny, out_dir, capsys, label):
    result = run_cli(["compare", str(tiny), "--vary", VARY_CASES[label], "--json", str(out_dir / "c.json")],
                     capsys, out_dir)
    assert_user_error(result, VARY_CASES[label].split("=")[0])


# -- command-line numbers (argparse type functions) --------------------------------------------

ARG_CASES = [
    (["realrun", "S", "--timeout", "-1"], "--timeout"), (["realrun", "S", "--timeout", "0"], "--timeout"),
    (["realrun", "S", "--timeout", "nan"], "--timeout"), (["realrun", "S", "--timeout", "inf"], "--timeout"),
    (["validate", "S", "--timeout", "soon"], "--timeout"), (["realrun", "S", "--ranks", "0"], "--ranks"),
    (["validate", "S", "--ranks", "-2"], "--ranks"), (["realrun", "S", "--ranks", "1.5"], "--ranks"),
    (["calibrate", "--out", "OUT/p.yaml", "--threads", "0"], "--threads"),
    (["calibrate", "--out", "OUT/p.yaml", "--device", "tpu"], "--device"),
    (["partition", "--graph", "sbm?num_nodes=50", "--parts", "0", "--method", "random"], "--parts"),
    (["partition", "--graph", "sbm?num_nodes=50", "--parts", "2", "--seed", "-1", "--method", "random"], "--seed"),
    (["partition", "--graph", "x", "--parts", "2", "--train-fraction", "1.5"], "--train-fraction"),
    (["partition", "--graph", "x", "--parts", "2", "--feature-dim", "0"], "--feature-dim"),
    (["import-trace", "T", "--skip-first", "-1"], "--skip-first"), (["hw", "list", "--kind", "gpus"], "--kind"),
    (["simulate"], "scenario"), (["nonsense"], "nonsense"),
]


@pytest.mark.parametrize("argv,name", ARG_CASES, ids=[" ".join(a) for a, _ in ARG_CASES])
def test_bad_command_line_number(tiny, out_dir, capsys, argv, name):
    argv = [str(tiny) if a == "S" else str(out_dir / "t.json") if a == "T" else a.replace("OUT", str(out_dir))
            for a in argv]
    result = run_cli(argv, capsys, out_dir)
    assert_user_error(result, name)


# -- output paths -------------------------------------------------------------------------------

def _output_commands(tiny: Path, tmp: Path) -> dict[str, list[str]]:
    trace = tmp / "t.json"
    trace.write_text('{"traceEvents": []}')
    records = tmp / "r.jsonl"
    records.write_text("")
    return {
        "simulate --json": ["simulate", str(tiny), "--json"], "simulate --csv": ["simulate", str(tiny), "--csv"],
        "simulate --trace": ["simulate", str(tiny), "--trace"], "simulate --plot": ["simulate", str(tiny), "--plot"],
        "realrun --out": ["realrun", str(tiny), "--out"], "validate --json": ["validate", str(tiny), "--json"],
        "compare --json": ["compare", str(tiny), "--vary", "partition.method=random", "--json"],
        "compare --csv": ["compare", str(tiny), "--vary", "partition.method=random", "--csv"],
        "compare --plot": ["compare", str(tiny), "--vary", "partition.method=random", "--plot"],
        "whatif --json": ["whatif", str(tiny), "--scale", "network.bw=2", "--json"],
        "partition --out": ["partition", "--graph", "sbm?num_nodes=60", "--parts", "2", "--method", "random", "--out"],
        "partition --json": ["partition", "--graph", "sbm?num_nodes=60", "--parts", "2", "--method", "random",
                             "--json"],
        "calibrate --out": ["calibrate", "--quick", "--out"],
        "calibrate --samples": ["calibrate", "--quick", "--out", str(tmp / "out" / "p.yaml"), "--samples"],
        "import-trace --out": ["import-trace", str(trace), "--out"],
        "published --json": ["published", str(records), "--json"],
        "published --md": ["published", str(records), "--md"],
    }


OUTPUT_PLACES = {
    "missing folder": lambda out: out / "no" / "such" / "x.json",
    "a folder": lambda out: out,
    "under a file": lambda out: Path(__file__) / "x.json",
    "unwritable": lambda out: Path("/proc/gnnsim-fuzz/x.json"),
}
OUTPUT_CASES = [("simulate --json", p) for p in OUTPUT_PLACES] + [
    (c, p) for i, c in enumerate(["simulate --csv", "simulate --trace", "simulate --plot", "realrun --out",
                                  "validate --json", "compare --json", "compare --csv", "compare --plot",
                                  "whatif --json", "partition --out", "partition --json", "calibrate --out",
                                  "calibrate --samples", "import-trace --out", "published --json", "published --md"])
    for p in (list(OUTPUT_PLACES)[i % 4], list(OUTPUT_PLACES)[(i + 1) % 4])]


@pytest.mark.parametrize("command,place", OUTPUT_CASES, ids=[f"{c}-{p}" for c, p in OUTPUT_CASES])
def test_bad_output_path(tiny, tmp_path, out_dir, capsys, command, place):
    target = OUTPUT_PLACES[place](out_dir)
    argv = _output_commands(tiny, tmp_path)[command] + [str(target)]
    result = run_cli(argv, capsys, out_dir)
    assert_user_error(result, str(target))
    assert not (out_dir / "no").exists(), "a missing output folder was created"


# -- graphs named on the command line (gnnsim partition --graph) -------------------------------

GRAPH_CASES = {
    "text size": ("sbm?num_nodes=abc", "num_nodes"), "nan size": ("sbm?num_nodes=nan", "num_nodes"),
    "inf degree": ("rmat?avg_degree=inf", "avg_degree"), "bool size": ("chung-lu?num_nodes=true&avg_degree=3",
                                                                      "num_nodes"),
    "missing degree": ("chung-lu?num_nodes=100", "avg_degree"), "negative": ("sbm?num_nodes=-5", "num_nodes"),
    "fraction > 1": ("sbm?num_nodes=50&intra_fraction=2", "intra_fraction"),
    "half a node": ("sbm?num_nodes=2.5", "num_nodes"), "unknown option": ("sbm?nodes=50", "nodes"),
    "preset nan": ("preset:reddit?scale=nan", "scale"), "preset > 1": ("preset:reddit?scale=2", "scale"),
    "unknown preset": ("preset:cora", "cora"), "bad query": ("sbm?num_nodes", "sbm?num_nodes"),
    "more parts than nodes": ("sbm?num_nodes=3&avg_degree=1", "3"),
}


@pytest.mark.parametrize("label", GRAPH_CASES)
def test_bad_graph_spec(out_dir, capsys, label):
    spec, name = GRAPH_CASES[label]
    result = run_cli(["partition", "--graph", spec, "--parts", "4", "--method", "random",
                      "--out", str(out_dir / "p.npy")], capsys, out_dir)
    assert_user_error(result, name)


GRAPH_FILES = {
    "binary edges.txt": bytes(range(1, 256)) * 4, "text ids": b"a b\nc d\n", "one column": b"1\n2\n",
    "negative id": b"0 1\n-3 2\n", "float ids": b"0.5 1\n", "empty": b"",
}


@pytest.mark.parametrize("label", GRAPH_FILES)
def test_bad_graph_file(tmp_path, out_dir, capsys, label):
    path = tmp_path / "edges.txt"
    path.write_bytes(GRAPH_FILES[label])
    result = run_cli(["partition", "--graph", str(path), "--parts", "2", "--method", "random",
                      "--json", str(out_dir / "m.json")], capsys, out_dir)
    assert_user_error(result, str(path))


def test_graph_folder_that_is_no_dataset(tmp_path, out_dir, capsys):
    result = run_cli(["partition", "--graph", str(tmp_path), "--parts", "2", "--method", "random"], capsys, out_dir)
    assert_user_error(result, str(tmp_path))
    assert "folder" in result.err


# -- other inputs: calibration samples, traces, records, profile names ----------------------------

def test_bad_refit_samples(tmp_path, out_dir, capsys):
    profile = out_dir / "p.yaml"
    profile.write_text((ROOT / "hwprofiles" / "calibrated" / "localhost.yaml").read_text())
    before = profile.read_bytes()
    for content in (bytes(range(256)), b"", b"[1, 2]", b'{"samples": 3}', b"{nope"):
        samples = tmp_path / "s.json"
        samples.write_bytes(content)
        result = run_cli(["calibrate", "--refit", str(samples), "--out", str(profile)], capsys, out_dir)
        assert_user_error(result, str(samples))
        assert profile.read_bytes() == before


@pytest.mark.parametrize("content", [b"\xff\xfe", b"", b"[]", b'{"traceEvents": 3}', b"{", b"\x1f\x8b junk"])
def test_bad_trace(tmp_path, out_dir, capsys, content):
    path = tmp_path / "t.json"
    path.write_bytes(content)
    result = run_cli(["import-trace", str(path), "--out", str(out_dir / "m.json")], capsys, out_dir)
    assert_user_error(result, str(path))


@pytest.mark.parametrize("content", [b"\xff\xfe", b"{nope}\n", b"[1]\n", b'{"id": 3}\n'])
def test_bad_published_records(tmp_path, out_dir, capsys, content):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    result = run_cli(["published", str(path), "--json", str(out_dir / "p.json")], capsys, out_dir)
    assert_user_error(result, str(path))


@pytest.mark.parametrize("name", ["no-such-gpu", "calibrated/nope", "links/", "../etc/passwd"])
def test_bad_profile_name(capsys, name):
    assert_user_error(run_cli(["hw", "show", name], capsys), name.rstrip("/") or name)


def test_validate_suite_without_scenarios(tmp_path, capsys):
    assert_user_error(run_cli(["validate-suite", "--scenarios", str(tmp_path / "nope")], capsys), "nope")
