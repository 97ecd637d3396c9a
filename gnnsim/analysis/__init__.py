"""Analysis of a simulated timeline: breakdown, epoch time, bottleneck."""

from gnnsim.analysis.breakdown import Analysis, analyze, stage_times

__all__ = ["Analysis", "analyze", "stage_times"]
