"""gnnsim: simulate distributed GNN training before you buy or book the hardware.

>>> import gnnsim
>>> result = gnnsim.simulate(gnnsim.load_scenario("examples/quickstart.yaml"))
>>> result.analysis.epoch_time_s > 0
True
"""

from gnnsim.cache.graphs import cached_graph
from gnnsim.config import Scenario, load_scenario, scenario_from_dict
from gnnsim.errors import GnnsimError, GraphFormatError, PartitionError, ProfileError, ScenarioError
from gnnsim.graph.build import use_graph_cache
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import SimResult, simulate
from gnnsim.search import search  # the function; its package's modules by full name (gnnsim.search.rank)

__all__ = ["GnnsimError", "GraphFormatError", "PartitionError", "ProfileError", "Scenario", "ScenarioError",
           "SimResult", "load_scenario", "partition_graph", "scenario_from_dict", "search", "simulate"]
__version__ = "0.1.0"

# Wiring from above the layers: lower layers offer a hook, the package fills it before
# any of its modules runs (importing any gnnsim module runs this file first).
use_graph_cache(cached_graph)  # generated graphs from the disk cache, which sits above graph
