import json

import pytest

from gnnsim.config import apply_overrides, load_scenario, parse_override, scenario_from_dict
from gnnsim.errors import ScenarioError


def test_quickstart_loads_with_defaults():
    s = load_scenario("examples/quickstart.yaml")
    assert s.training.fanouts == [10, 5]
    assert s.simulation.seed == 0
    assert s.name == "quickstart"


def test_override_parses_yaml_values():
    assert parse_override("training.fanouts=[15, 10]") == (["training", "fanouts"], [15, 10])
    s = load_scenario("examples/quickstart.yaml", ["training.batch_size=256", "partition.method=random"])
    assert s.training.batch_size == 256 and s.partition.method == "random"


def test_unknown_key_names_file_path_allowed_and_closest(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("training:\n  fanout: [5, 5]\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    msg = str(err.value)
    assert str(f) in msg and "training.fanout" in msg and "fanouts" in msg and "Did you mean 'fanouts'" in msg


def test_unknown_section_suggests_closest():
    with pytest.raises(ScenarioError, match="Did you mean 'cluster'"):
        scenario_from_dict({"clustr": {}}, "x.yaml")


def test_invalid_value_names_key():
    with pytest.raises(ScenarioError, match="training.batch_size"):
        scenario_from_dict({"training": {"batch_size": -3}}, "x.yaml")
    with pytest.raises(ScenarioError, match="training.fanouts"):
        scenario_from_dict({"training": {"fanouts": [5, 0]}}, "x.yaml")


def test_override_of_unknown_key_is_an_error():
    with pytest.raises(ScenarioError, match="simulation.iteration"):
        load_scenario("examples/quickstart.yaml", ["simulation.iteration=3"])


def test_override_without_equals_explains():
    with pytest.raises(ScenarioError, match="KEY.PATH=VALUE"):
        apply_overrides({}, ["training.batch_size"])


def test_json_scenario(tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"training": {"batch_size": 64}}))
    assert load_scenario(f).training.batch_size == 64


def test_malformed_yaml_names_file(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("graph: [unclosed\n")
    with pytest.raises(ScenarioError, match="broken.yaml: not valid YAML"):
        load_scenario(f)
