"""Workloads: model kernels, the vectorized sampler and the per-iteration task builder."""

from gnnsim.workload.builder import STAGES, Task, Workload, build_workload, rank_minibatches, rank_seeds
from gnnsim.workload.sampler import Block, MiniBatch, sample_minibatch, sample_neighbors

__all__ = ["STAGES", "Block", "MiniBatch", "Task", "Workload", "build_workload", "rank_minibatches",
           "rank_seeds", "sample_minibatch", "sample_neighbors"]
