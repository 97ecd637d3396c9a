"""Every example scenario a new user may run first loads and simulates."""

from pathlib import Path

import pytest

import gnnsim

EXAMPLES = sorted(Path("examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_simulates(path):
    result = gnnsim.simulate(gnnsim.load_scenario(path, ["simulation.iterations=2"]))
    assert result.analysis.epoch_time_s > 0
    assert set(result.analysis.breakdown) <= {"sample", "fetch", "h2d", "forward", "backward", "halo", "allreduce",
                                              "optimizer"}


def test_python_api_matches_readme():
    result = gnnsim.simulate(gnnsim.load_scenario("examples/quickstart.yaml", ["simulation.iterations=2"]))
    data = result.to_dict()
    assert data["bottleneck"]["stage"] in data["breakdown"]
