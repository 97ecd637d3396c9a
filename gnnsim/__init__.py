"""gnnsim: simulate distributed GNN training before you buy or book the hardware.

>>> import gnnsim
>>> result = gnnsim.simulate(gnnsim.load_scenario("examples/quickstart.yaml"))
>>> result.analysis.epoch_time_s > 0
True
"""

from gnnsim.config import Scenario, load_scenario, scenario_from_dict
from gnnsim.errors import GnnsimError, GraphFormatError, PartitionError, ProfileError, ScenarioError
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import SimResult, simulate
from gnnsim.search import search  # the function; its package's modules by full name (gnnsim.search.rank)

__all__ = ["GnnsimError", "GraphFormatError", "PartitionError", "ProfileError", "Scenario", "ScenarioError",
           "SimResult", "load_scenario", "partition_graph", "scenario_from_dict", "search", "simulate"]
__version__ = "0.1.0"
