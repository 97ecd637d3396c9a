"""Design-space search: which setup trains a job fastest, or cheapest, within its memory.

A user rarely asks about one scenario. They ask which of a few clusters, partitioners,
batch sizes and caches is best, and each combination is a *point*: a whole scenario,
predicted with the full simulator. :func:`search` predicts every point of a grid (or a
seeded sample of it), ranks them by epoch time or by cost, draws the Pareto front of
time against cost, marks the points that do not fit in GPU memory, and chooses the best
point that meets the limits given. Points that share a graph or a partition share its
building, and the points run in parallel on Dask (:mod:`gnnsim.search.runners`), with a
results file that lets a long search stop and resume (:mod:`gnnsim.search.journal`).

>>> from gnnsim.search import search
>>> r = search("examples/validate-small.yaml", ["partition.method=random,metis"], workers=0,
...            overrides=["graph.num_nodes=2000", "simulation.iterations=2"])
>>> sorted(r.axes), len(r.points)
(['partition.method'], 2)
"""

from gnnsim.search.api import SearchResult, search
from gnnsim.search.errors import NoFeasiblePointError, SchedulerError, SearchError
from gnnsim.search.rank import Row

__all__ = ["NoFeasiblePointError", "Row", "SchedulerError", "SearchError", "SearchResult", "search"]
