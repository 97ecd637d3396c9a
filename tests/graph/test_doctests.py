"""The runnable examples in the graph and partition docstrings stay runnable."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["gnnsim.graph.graph", "gnnsim.graph.readers", "gnnsim.graph.ogb", "gnnsim.graph.partition_files",
           "gnnsim.graph.csr_split", "gnnsim.graph.generators", "gnnsim.graph.presets", "gnnsim.graph.load", "gnnsim.partition.registry",
           "gnnsim.partition.methods", "gnnsim.partition.streaming", "gnnsim.partition.vertex_cut",
           "gnnsim.partition.from_file", "gnnsim.partition.metrics"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
