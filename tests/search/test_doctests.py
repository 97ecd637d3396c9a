"""The runnable examples in the search package's docstrings."""

import doctest
import importlib

import pytest

MODULES = ["gnnsim.search", "gnnsim.search.api", "gnnsim.search.grid", "gnnsim.search.rank",
           "gnnsim.search.progress"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
