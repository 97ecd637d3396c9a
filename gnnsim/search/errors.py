"""What can stop a search before or after its points run.

Each is a :class:`~gnnsim.errors.GnnsimError`: the CLI prints it in one line and exits
with code 2. A point that fails while the search runs is not an error of the search; it
is recorded with its message and the search goes on.
"""

from __future__ import annotations

from typing import Any

from gnnsim.errors import GnnsimError


class SearchError(GnnsimError):
    """A search cannot start or give an answer: a bad ``--vary``, a results file that
    belongs to another search, every point failed."""


class SchedulerError(SearchError):
    """The Dask scheduler cannot be reached, has no workers, or Dask is not installed."""


class NoFeasiblePointError(SearchError):
    """Every point ran, and none fits in GPU memory and meets the constraints.

    ``result`` holds the whole :class:`~gnnsim.search.api.SearchResult` (its ``chosen``
    is None), so a caller can still look at the table and the front.
    """

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result

    def __reduce__(self):
        return (type(self), (str(self), self.result))
