"""The runnable examples in the docstrings of the simulator, cost and analysis modules."""

import doctest
import importlib

import pytest

MODULES = ["gnnsim.hardware.topology", "gnnsim.cost.collectives", "gnnsim.cost.scaling", "gnnsim.cost.dtypes", "gnnsim.sim.network",
           "gnnsim.sim.cpu", "gnnsim.calibrate.capacity",
           "gnnsim.analysis.utilization", "gnnsim.analysis.whatif", "gnnsim.analysis.epoch_fixed", "gnnsim.sim.loader"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
