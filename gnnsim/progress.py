"""Progress on stderr for work that takes more than a few seconds.

A step of work opens a reporter, says how far it got now and then, and closes it::

    with progress("workload: sampling", total=num_ranks, unit="trainers") as p:
        for r in range(num_ranks):
            ...
            p.update()

or, for a loop, in one call: ``for r in tracked(range(num_ranks), "workload: sampling",
unit="trainers"):``.

On a terminal this draws one line, rewritten in place at most four times a second,
``workload: sampling 3/8 trainers, 2.1s, about 4.9s left``, and ends with
``workload: sampling done in 7.0s``; a step that ends within :data:`SHOW_DONE_AFTER_S`
leaves no line at all, so quick runs look as they always did. The line moves only when
the work calls :meth:`Progress.update` (or a reporter inside it does). A step that prints
its own lines on stdout between updates (calibrate) asks for whole lines (``lines=True``).

A reporter opened while another is open (the workload builder's, inside the pipeline's
stage) draws its own line in its place and leaves no done line; the outer one's line
comes back when it closes, and the outer one writes the done line.

Nothing is written when stderr is not a terminal (a pipe, a log, a test), nor with
``gnnsim --quiet`` (:func:`set_quiet`) or ``GNNSIM_QUIET=1``. ``GNNSIM_PROGRESS=1``
forces the lines on anywhere; off a terminal they are whole lines, at most one every
:data:`LOG_INTERVAL_S`. Nothing ever goes to stdout (scripts parse it), the clock is
only read, never seeded from, so results stay byte-identical, and a stream that cannot
be written to is given up on without an error.

>>> fmt_seconds(0.42), fmt_seconds(42.4), fmt_seconds(3725.0)
('0.4s', '42s', '1h02m05s')
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import TextIO, TypeVar

T = TypeVar("T")

TTY_INTERVAL_S = 0.25  # a terminal's line is redrawn at most this often
LOG_INTERVAL_S = 2.0  # forced off a terminal: at most one line this often (a log stays readable)
SHOW_DONE_AFTER_S = 1.0  # on a terminal, a step quicker than this is erased instead of leaving a done line

_state = threading.local()  # this thread's open reporters, outermost first
_quiet = False  # gnnsim --quiet (set_quiet)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def set_quiet(quiet: bool) -> bool:
    """Turn progress off (``True``) or back to the default for the whole process; return
    the setting it replaces (the CLI's ``--quiet`` sets it and puts it back after)."""
    global _quiet
    before, _quiet = _quiet, bool(quiet)
    return before


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress inside the block (a caller that draws its own line around many steps)."""
    before = set_quiet(True)
    try:
        yield
    finally:
        set_quiet(before)


def progress_enabled(stream: TextIO | None = None) -> bool:
    """Whether reporters write to ``stream`` (default: stderr): see the module doc."""
    if _quiet or _flag("GNNSIM_QUIET"):
        return False
    if _flag("GNNSIM_PROGRESS"):
        return True
    return _isatty(sys.stderr if stream is None else stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def fmt_seconds(seconds: float) -> str:
    """``0.4s`` below ten seconds, then ``42s``, ``1m12s``, ``1h02m05s``."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """One step's reporter (see the module doc); make it with :func:`progress`."""

    def __init__(self, label: str, total: int | None = None, unit: str = "", *, stream: TextIO | None = None,
                 enabled: bool | None = None, lines: bool = False, clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.total = total if total is None or total > 0 else None
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = progress_enabled(self.stream) if enabled is None else enabled
        self.inline = not lines and _isatty(self.stream)  # rewrite one line in place; else whole lines
        self.interval_s = TTY_INTERVAL_S if self.inline else LOG_INTERVAL_S
        self.clock = clock
        self.done = 0
        self.start = clock()
        self.outer: Progress | None = None
        self._last_draw = self.start
        self._width = 0  # characters of this line on the terminal now

    # -- the caller's side ---------------------------------------------------------------

    def update(self, n: int = 1) -> None:
        """``n`` more units done; redraws if the last draw is old enough."""
        self.done += n
        if self.enabled:  # (a terminal shows the last count; a log goes on to the done line)
            self._draw(force=self.inline and self.total is not None and self.done >= self.total)

    def __enter__(self) -> Progress:
        stack = _stack()
        self.outer = stack[-1] if stack else None
        stack.append(self)
        if self.enabled and self.inline:
            if self.outer is not None:
                self.outer._width, self._width = 0, self.outer._width  # this line takes the outer's place
            self._draw(force=True)
        elif self.enabled and self.outer is None:  # a log says what started; an inner step's counts follow
            self._draw(force=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        stack = _stack()
        if self not in stack:  # already closed, or abandoned by an outer reporter or abandon()
            return
        while stack[-1] is not self:  # inner reporters left open (a loop that raised): their line is this one's
            orphan = stack.pop()
            orphan.enabled = False
            self._width = max(self._width, orphan._width)
        stack.pop()
        if not self.enabled:
            return
        if self.outer is not None:  # hand the line back to the outer reporter
            if self.inline:
                self.outer._width, self._width = self._width, 0
                self.outer._draw(force=True)
            return
        elapsed = self.clock() - self.start
        if exc_type is not None or (self.inline and elapsed < SHOW_DONE_AFTER_S):
            self._write("\r" + " " * self._width + "\r" if self.inline and self._width else "")
        else:
            self._line(f"{self.label} done in {fmt_seconds(elapsed)}", end="\n")
        self._width = 0

    # -- drawing -------------------------------------------------------------------------

    def text(self, now: float | None = None) -> str:
        """The line as drawn at ``now`` (the clock's time)."""
        elapsed = (self.clock() if now is None else now) - self.start
        if self.total is not None:
            count = f" {min(self.done, self.total):,}/{self.total:,}{' ' + self.unit if self.unit else ''}"
        elif self.done:
            count = f" {self.done:,}{' ' + self.unit if self.unit else ''}"
        else:
            count = " ..."
        text = f"{self.label}{count}, {fmt_seconds(elapsed)}"
        if self.total is not None and 0 < self.done < self.total:
            text += f", about {fmt_seconds(elapsed / self.done * (self.total - self.done))} left"
        return text

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_draw < self.interval_s:
            return
        self._last_draw = now
        self._line(self.text(now), end="" if self.inline else "\n")

    def _line(self, text: str, end: str) -> None:
        if self.inline:
            self._write("\r" + text.ljust(self._width) + end)
            self._width = 0 if end else len(text)
        else:
            self._write(text + end)

    def _write(self, text: str) -> None:
        if not text:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: the work goes on without progress
            self.enabled = False


def tracked(items: Iterable[T], label: str, total: int | None = None, unit: str = "") -> Iterator[T]:
    """``items`` one by one, under a reporter that counts them: the loop's one small call.

    >>> [r for r in tracked(range(3), "workload: sampling", unit="trainers")]
    [0, 1, 2]
    """
    if total is None and isinstance(items, Sized):
        total = len(items)
    with progress(label, total, unit) as report:
        for item in items:
            yield item
            report.update()


def abandon() -> None:
    """Give up this thread's open reporters and clear their line, so that an error message
    printed next starts a line of its own (the CLI calls it before printing one)."""
    stack = _stack()
    width = max((p._width for p in stack if p.enabled), default=0)
    inline = next((p for p in stack if p.enabled and p.inline), None)
    for p in stack:
        p.enabled = False
    stack.clear()
    if inline is not None and width:
        inline._write("\r" + " " * width + "\r")


def _stack() -> list[Progress]:
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


def progress(label: str, total: int | None = None, unit: str = "", *, stream: TextIO | None = None,
             enabled: bool | None = None, lines: bool = False, clock: Callable[[], float] = time.monotonic) -> Progress:
    """A reporter for one step of work, used as a context manager (see the module doc).

    Parameters
    ----------
    label
        What is being done, as the line starts: ``"partition: metis into 8 parts"``.
    total
        The units the step will do, for ``done/total`` and the time left; ``None``
        (or 0) when unknown: the line shows the count and the time so far.
    unit
        The units' name, plural (``"trainers"``, ``"iterations"``).
    stream, enabled, clock
        Where to write (stderr), whether to (``None``: see :func:`progress_enabled`)
        and the clock (tests give a fake one).
    lines
        Whole lines even on a terminal: for a step that prints its own lines on stdout
        between updates (``gnnsim calibrate``), which a line rewritten in place would garble.

    Examples
    --------
    >>> import io
    >>> ticks = iter([0.0, 0.0, 1.0, 2.5, 3.0, 4.0])  # the clock at each look (one line per 2 s off a terminal)
    >>> out = io.StringIO()
    >>> with progress("sampling", total=4, unit="trainers", stream=out, enabled=True,
    ...               clock=lambda: next(ticks)) as p:
    ...     p.update(); p.update(); p.update(2)
    >>> print(out.getvalue(), end="")
    sampling 0/4 trainers, 0.0s
    sampling 2/4 trainers, 2.5s, about 2.5s left
    sampling done in 4.0s
    """
    return Progress(label, total, unit, stream=stream, enabled=enabled, lines=lines, clock=clock)
