"""Where a profile's numbers come from: its ``sources:``, checked so that every number has one.

A source is either a plain string (calibration runs write these) or a mapping that says
which numbers it backs and on what basis::

    sources:
      - url: https://www.nvidia.com/.../a100-datasheet.pdf
        basis: nominal          # nominal | measured | estimate | derived | choice
        confidence: high        # high | medium | low (optional)
        covers: [memory_bytes, mem_bw_gbps, peak_tflops]
        note: "dense tensor-core peaks; sparsity doubles them"

Once a profile uses mapping sources, every number in it must be covered by one of
them (``covers`` entries are dotted key paths; ``peak_tflops`` covers all its dtypes),
so a number without a source is an error, not an oversight.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError, did_you_mean


# calibrated: fitted by ``gnnsim calibrate`` from micro-benchmarks on the machine it describes
SOURCE_BASES = ("nominal", "measured", "calibrated", "estimate", "derived", "choice")
SOURCE_CONFIDENCE = ("high", "medium", "low")
SOURCE_KEYS = frozenset({"url", "text", "basis", "confidence", "covers", "note"})


@dataclass(frozen=True)
class Source:
    """Where a profile's numbers come from, and on what basis (nominal, measured ...)."""

    text: str
    url: str = ""
    basis: str = ""
    confidence: str = ""
    covers: tuple[str, ...] = ()
    note: str = ""

    def __str__(self) -> str:
        tag = f"[{self.basis}{', ' + self.confidence + ' confidence' if self.confidence else ''}] " if self.basis else ""
        body = " ".join(part for part in (self.url, self.text) if part)
        return f"{tag}{body}{' (' + self.note + ')' if self.note else ''}"


def numeric_paths(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a profile mapping as (dotted key path, value), ``sources`` excluded.

    >>> list(numeric_paths({"a": 1, "b": {"c": 2.5, "d": "x"}, "sources": [{"e": 3}]}))
    [('a', 1), ('b.c', 2.5)]
    """
    if isinstance(data, dict):
        for key, value in data.items():
            if not prefix and key == "sources":
                continue
            yield from numeric_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield prefix, data


def covered(key_path: str, covers: tuple[str, ...]) -> bool:
    return any(key_path == c or key_path.startswith(c + ".") for c in covers)


def parse_sources(data: dict[str, Any], path: Path) -> list[Source]:
    """Check a profile's ``sources:`` and return them.

    Plain strings are accepted (calibration runs write them). Mapping entries must name a
    ``url`` or ``text`` and a ``basis``; when any entry is a mapping, every number in the
    profile must be covered by some entry's ``covers``.
    """
    raw = data.get("sources")
    if not raw:
        raise ProfileError(f"{path}: missing 'sources:'. Every profile needs at least one source "
                           "(a datasheet URL with its basis, or the calibration run).")
    entries = raw if isinstance(raw, list) else [raw]
    out: list[Source] = []
    structured = False
    for i, entry in enumerate(entries):
        where = f"{path}: sources[{i}]"
        if isinstance(entry, str):
            out.append(Source(text=entry))
            continue
        if not isinstance(entry, dict):
            raise ProfileError(f"{where}: expected a string or a mapping with url/text, basis, covers; got {entry!r}")
        structured = True
        for key in entry:
            if key not in SOURCE_KEYS:
                raise ProfileError(f"{where}: unknown key '{key}'.{did_you_mean(str(key), SOURCE_KEYS)} "
                                   f"Allowed: {', '.join(sorted(SOURCE_KEYS))}.")
        if not entry.get("url") and not entry.get("text"):
            raise ProfileError(f"{where}: give 'url:' (datasheet or measurement) or 'text:' (what it is)")
        basis = entry.get("basis")
        if basis not in SOURCE_BASES:
            raise ProfileError(f"{where}: 'basis' must be one of {', '.join(SOURCE_BASES)}, got {basis!r}. "
                               "Say whether the numbers are nominal (datasheet) or measured.")
        confidence = entry.get("confidence", "")
        if confidence and confidence not in SOURCE_CONFIDENCE:
            raise ProfileError(f"{where}: 'confidence' must be one of {', '.join(SOURCE_CONFIDENCE)}, got {confidence!r}")
        covers = entry.get("covers") or []
        if isinstance(covers, str):
            covers = [covers]
        if not isinstance(covers, list) or not covers:
            raise ProfileError(f"{where}: 'covers' must list the keys this source backs, e.g. [mem_bw_gbps, peak_tflops]")
        out.append(Source(text=str(entry.get("text", "")), url=str(entry.get("url", "")), basis=basis,
                          confidence=str(confidence), covers=tuple(str(c) for c in covers),
                          note=str(entry.get("note", ""))))
    if structured:
        numbers = [p for p, _ in numeric_paths(data)]
        all_covers = tuple(c for s in out for c in s.covers)
        missing = [p for p in numbers if not covered(p, all_covers)]
        if missing:
            raise ProfileError(f"{path}: no source covers {', '.join(missing)}. Add the key to the 'covers:' "
                               "list of the source it comes from, or add a source (basis: nominal, "
                               "measured or estimate).")
        stale = [c for c in all_covers if not any(covered(p, (c,)) for p in numbers)]
        if stale:
            raise ProfileError(f"{path}: sources cover {', '.join(stale)}, which is not a number in this "
                               "profile. Fix the key path in 'covers:'.")
    return out


def source_texts(data: dict[str, Any], path: Path) -> list[str]:
    return [str(s) for s in parse_sources(data, path)]
