"""The cost model: demands in, durations out."""

from gnnsim.cost.collectives import (allgather_time, alltoall_time, hierarchical_allreduce_time, ring_allreduce_time,
                                     tree_allreduce_time)
from gnnsim.cost.model import CostModel, Exchange, HostWork, kernel_time

__all__ = ["CostModel", "Exchange", "HostWork", "allgather_time", "alltoall_time", "hierarchical_allreduce_time",
           "kernel_time", "ring_allreduce_time", "tree_allreduce_time"]
