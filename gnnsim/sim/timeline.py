"""What a replay produces: a :class:`Timeline` of :class:`Span` (one rank's stretch of one
stage on one resource), read by the analysis, the reports and the trace writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gnnsim.errors import GnnsimError


class SimulationError(GnnsimError):
    """The replay could not finish (a collective that not every trainer joins)."""


@dataclass(frozen=True)
class Span:
    rank: int
    resource: str
    stage: str
    iteration: int
    start_s: float
    end_s: float
    bytes: float = 0.0
    flops: float = 0.0
    pred: int = -1  # index in Timeline.spans of the span whose end released this one
    via: str = ""  # communication: the channel that limited it
    # collectives: (channel or "host:gather", seconds) of the phases that made up its time
    parts: tuple[tuple[str, float], ...] = ()

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Timeline:
    spans: list[Span] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)  # resource -> class
    iteration_end_s: list[float] = field(default_factory=list)
    events: int = 0
    # One span per stretch of constant traffic on a channel (when recorded), rank = node.
    link_spans: list[Span] = field(default_factory=list)
    # channel name -> kind, node, capacity_bytes_per_s, bytes, busy_s
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    num_ranks: int = 0
    ranks_per_node: int = 1
    flows: int = 0
    makespan_s: float = 0.0
    prefetch_depth: int = 0
    # a placed loader's worker start-up per epoch (gnnsim.sim.loader.loader_startup_s); None: unplaced
    loader_startup_s: float | None = None
    iteration_barrier: bool = True  # False: DDP as users run it (gnnsim.sim.ddp)

    def node_of(self, rank: int) -> int:
        return rank // max(1, self.ranks_per_node)
