"""The simulator: simpy processes per trainer, collectives as barriers, spans out."""

from gnnsim.sim.engine import Simulator, Span, Timeline, simulate_workload

__all__ = ["Simulator", "Span", "Timeline", "simulate_workload"]
