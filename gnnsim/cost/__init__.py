"""The cost model: demands in, durations out."""

from gnnsim.cost.model import CostModel, kernel_time, ring_allreduce_time

__all__ = ["CostModel", "kernel_time", "ring_allreduce_time"]
