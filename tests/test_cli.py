import json
import re
from pathlib import Path

import pytest

from gnnsim.cli import main

README = Path("README.md")


def test_simulate_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["simulate", "examples/quickstart.yaml", "--set", "simulation.iterations=3", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bottleneck" in text and "epoch" in text
    data = json.loads(out.read_text())
    for key in ("epoch_time_s", "iteration_time_s", "iterations_per_epoch", "breakdown", "bottleneck"):
        assert key in data
    assert {"stage", "resource"} <= set(data["bottleneck"])
    assert abs(sum(v["share"] for v in data["breakdown"].values()) - 1.0) < 1e-9
    assert data["epoch_time_s"] == pytest.approx(data["iteration_time_s"] * data["iterations_per_epoch"])


def test_bad_key_exits_2_without_traceback_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["simulate", "examples/quickstart.yaml", "--set", "training.fanout=[3]", "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "fanouts" in err
    assert not out.exists()


def test_unknown_cluster_profile_suggests(capsys):
    assert main(["simulate", "examples/quickstart.yaml", "--set", "cluster.profile=a100-2x8"]) == 2
    err = capsys.readouterr().err
    assert "a100-2x8-eth100" in err
    assert err.startswith("gnnsim: error: examples/quickstart.yaml: cluster.profile: unknown cluster profile")


@pytest.mark.parametrize("change, key", [("cluster.device_profile=h999", "cluster.device_profile"),
                                         ("partition.method=nosuch", "partition.method"),
                                         ("partition.num_parts=3", "partition.num_parts"),
                                         ("graph.source=edges.txt", "graph.path: edges.txt")])
def test_errors_found_after_loading_name_the_scenario_file_and_key(capsys, change, key):
    assert main(["simulate", "examples/quickstart.yaml", "--set", change]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gnnsim: error: examples/quickstart.yaml: ") and key in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_same_seed_gives_identical_json(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for f in (a, b):
        main(["simulate", "examples/quickstart.yaml", "--set", "simulation.iterations=2", "--json", str(f)])
    assert a.read_bytes() == b.read_bytes()


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert "gnnsim simulate examples/quickstart.yaml" in blocks[0]
    assert "pytest" in blocks[1]
    ci = Path(".ci/run").read_text()
    assert blocks[1].strip().splitlines()[-1] in ci


def test_partition_file_is_relative_to_the_scenario(tmp_path, capsys):
    import numpy as np
    import yaml

    np.save(tmp_path / "parts.npy", (np.arange(2000) % 2).astype(np.int32))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "graph": {"num_nodes": 2000, "avg_degree": 6}, "partition": {"method": "file:parts.npy"},
        "training": {"batch_size": 64}, "simulation": {"iterations": 2}}))
    out = tmp_path / "o.json"
    assert main(["simulate", str(tmp_path / "s.yaml"), "--json", str(out)]) == 0
    part = json.loads(out.read_text())["partition"]
    assert part["nodes_per_part"] == [1000, 1000]


def test_validate_refuses_a_gpu_cluster_before_running_anything(capsys):
    assert main(["validate", "examples/quickstart.yaml", "--ranks", "2"]) == 2
    err = capsys.readouterr().err
    assert "GPU trainers" in err and "localhost-cpu" in err


def test_an_error_about_a_command_line_option_does_not_name_the_scenario(capsys):
    assert main(["whatif", "examples/quickstart.yaml", "--scale", "gpu.compute=0"]) == 2
    assert capsys.readouterr().err.startswith("gnnsim: error: --scale")

