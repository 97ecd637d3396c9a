"""Built graphs and partitions kept on disk between runs (see :mod:`gnnsim.cache.store`)."""

from gnnsim.cache.graphs import cached_graph, cached_partition
from gnnsim.cache.store import cache_root, clear, entries

__all__ = ["cache_root", "cached_graph", "cached_partition", "clear", "entries"]
