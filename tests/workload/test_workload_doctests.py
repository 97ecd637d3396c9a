"""The runnable examples in the workload docstrings stay runnable."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["gnnsim.workload.sampler", "gnnsim.workload.models", "gnnsim.workload.cache", "gnnsim.workload.memory",
           "gnnsim.workload.fullbatch"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
