"""Seeded random streams, one per purpose.

Two steps seeded with the same integer would draw correlated numbers (the graph's
communities and a "random" partition would line up). Every consumer therefore asks for
its own stream, derived from the scenario seed and a purpose name.
"""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, purpose: str, *extra: int) -> np.random.Generator:
    """An independent generator for ``purpose`` (e.g. 'graph', 'partition', 'sampler', rank)."""
    key = (zlib.crc32(purpose.encode()), *extra)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
