"""The results file of a long search: one JSON line per point, appended as points finish.

The first line is a header naming what the file was written for (the scenario's
fingerprint, after ``--set``); every other line is one point's record
(:mod:`gnnsim.search.point`). Each line is flushed to disk when written, so a search
that is stopped (Ctrl-C, a lost machine) keeps every point it finished, and at most the
line it was writing is cut short. ``resume`` reads the file back: points already there
are not run again (those that failed are tried again), a cut-short last line is
dropped, and a file written for another scenario is refused. The file does not depend
on the objective or the constraints, so one sweep can be re-ranked with other limits by
resuming it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from gnnsim.search.errors import SearchError
from gnnsim.search.grid import settings_key

FORMAT = "gnnsim-search/1"


def header(fingerprint: str, name: str) -> dict[str, Any]:
    return {"format": FORMAT, "scenario": name, "fingerprint": fingerprint}


def read(path: Path, fingerprint: str) -> tuple[dict[str, dict[str, Any]], int]:
    """The records in ``path`` by settings (the last one of a point wins), and the byte
    length of its whole lines (what is kept when appending)."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1  # a last line without its newline was cut short
    lines = data[:keep].decode("utf-8", errors="replace").splitlines()
    if not lines:
        return {}, 0
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        head = None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise SearchError(f"--out {path}: not a gnnsim search results file (line 1 has no {FORMAT} header); give "
                          "another --out, or remove the file")
    if head.get("fingerprint") != fingerprint:
        raise SearchError(f"--out {path}: written by a search of another scenario or other --set values "
                          f"({head.get('scenario')}, fingerprint {head.get('fingerprint')}); resume it with the "
                          "same scenario, or give another --out")
    records: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            record = json.loads(line)
            records[settings_key(record["settings"])] = record
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SearchError(f"--out {path}:{number}: not a point record; the file was edited or written by "
                              "something else: give another --out") from None
    return records, keep


class Journal:
    """Appends records to a results file, each line on disk before the next point is counted."""

    def __init__(self, path: str | Path, fingerprint: str, name: str, resume: bool):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.name = name
        self.resume = resume
        self.previous: dict[str, dict[str, Any]] = {}
        self._keep = 0
        self._file: IO[str] | None = None
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not resume:
            raise SearchError(f"--out {self.path}: the file exists; add --resume to go on with that search, or "
                              "remove it or give another --out to start again")
        if exists:
            self.previous, self._keep = read(self.path, fingerprint)

    def done(self) -> dict[str, dict[str, Any]]:
        """Records already in the file that need not run again (the failed ones do)."""
        return {k: r for k, r in self.previous.items() if r.get("status") == "ok"}

    def open(self) -> None:
        """Start appending (first the header, for a new file; a cut-short line is dropped)."""
        try:
            if self._keep:
                with open(self.path, "r+b") as fh:
                    fh.truncate(self._keep)
                self._file = open(self.path, "a", encoding="utf-8")
            else:
                self._file = open(self.path, "w", encoding="utf-8")
                self._write(header(self.fingerprint, self.name))
        except OSError as exc:
            raise SearchError(f"--out {self.path}: cannot write the file: {exc.strerror or exc}") from None

    def append(self, record: dict[str, Any]) -> None:
        self._write(record)

    def _write(self, data: dict[str, Any]) -> None:
        assert self._file is not None, "Journal.open() first"
        self._file.write(json.dumps(data, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
