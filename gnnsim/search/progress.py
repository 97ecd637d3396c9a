"""A one-line progress report with an estimate of the time left, on a terminal.

``search: 37/100 points, 2 failed, 1m12s, about 2m03s left`` is rewritten in place at
most twice a second. The estimate is the mean time per point finished in this run times
the points left (points taken from a results file cost nothing and do not count). When
the stream is not a terminal (a log file, a pipe, a test) nothing is written at all.

>>> fmt_duration(3725.0)
'1h02m05s'
>>> fmt_duration(42.4)
'42s'
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from gnnsim.progress import fmt_seconds as fmt_duration
from gnnsim.progress import progress_enabled


class Progress:
    """Counts finished points and draws the line (see the module doc)."""

    def __init__(self, total: int, already: int = 0, stream: TextIO | None = None, enabled: bool | None = None,
                 min_interval_s: float = 0.5):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = progress_enabled(self.stream) if enabled is None else enabled  # --quiet, GNNSIM_QUIET
        self.total = total
        self.done = already
        self.already = already
        self.failed = 0
        self.start = time.monotonic()
        self.min_interval_s = min_interval_s
        self._last_draw = float("-inf")
        self._width = 0

    def point_done(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self.draw(force=self.done == self.total)

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        ran = self.done - self.already
        text = f"search: {self.done}/{self.total} points"
        if self.failed:
            text += f", {self.failed} failed"
        text += f", {fmt_duration(elapsed)}"
        left = self.total - self.done
        if ran and left:
            text += f", about {fmt_duration(elapsed / ran * left)} left"
        return text

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last_draw < self.min_interval_s):
            return
        self._last_draw = now
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
