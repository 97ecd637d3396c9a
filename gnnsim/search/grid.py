"""The grid: the scenario fields a search varies, the values it tries, and the points they make.

``--vary training.batch_size=512,1024 --vary cluster.profile=a,b`` names two *axes*;
every combination of their values is a *point* (here four). Points are numbered in the
order of :func:`itertools.product` over the axes (the last axis changes fastest), so a
point's number depends only on the axes, and a seeded sample picks the same numbers on
any machine. Values stay the text the user wrote (read as YAML when a point's scenario
is built, as ``--set`` reads them), so a point prints, compares and resumes as written.

>>> grid = parse_grid(["training.batch_size=512,1024", "partition.method=random,metis"])
>>> grid.size, grid.settings(1)
(4, {'training.batch_size': '512', 'partition.method': 'metis'})
>>> grid.select(sample=2, seed=0) == grid.select(sample=2, seed=0)
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from gnnsim.analysis.whatif import split_values
from gnnsim.config import Scenario
from gnnsim.errors import did_you_mean
from gnnsim.rng import rng_for
from gnnsim.search.errors import SearchError


@dataclass(frozen=True)
class Axis:
    key: str  # a dotted scenario field, e.g. training.batch_size
    values: tuple[str, ...]  # as written; each is read as YAML


@dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]

    @property
    def size(self) -> int:
        return math.prod(len(a.values) for a in self.axes)

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.axes]

    def settings(self, index: int) -> dict[str, str]:
        """The values of point ``index`` (mixed radix, last axis fastest), by key."""
        if not 0 <= index < self.size:
            raise IndexError(f"point {index} outside a grid of {self.size}")
        out: dict[str, str] = {}
        for axis in reversed(self.axes):
            index, digit = divmod(index, len(axis.values))
            out[axis.key] = axis.values[digit]
        return {a.key: out[a.key] for a in self.axes}

    def select(self, sample: int | None = None, seed: int = 0) -> list[int]:
        """Every point's number, or ``sample`` of them drawn without replacement by
        ``seed``, in grid order (a sample as large as the grid is the whole grid)."""
        if sample is None or sample >= self.size:
            return list(range(self.size))
        if sample < 1:
            raise SearchError(f"--sample {sample}: give a number of points >= 1")
        picked = rng_for(seed, "search-sample").choice(self.size, size=sample, replace=False)
        return sorted(int(i) for i in picked)


def settings_key(settings: Mapping[str, str]) -> str:
    """One point's identity in a results file: its settings as canonical JSON."""
    return json.dumps(dict(settings), sort_keys=True)


def check_key(key: str, option: str = "--vary") -> None:
    """Raise :class:`SearchError` unless ``key`` names a field of :class:`Scenario`."""
    parts = key.split(".")
    model: type[BaseModel] | None = Scenario
    for depth, part in enumerate(parts):
        if model is None:  # below a free-form mapping (scenario.validation) anything goes
            return
        fields = {k: f for k, f in model.model_fields.items() if k != "base_dir"}
        if part not in fields:
            where = ".".join(parts[:depth]) or "a scenario"
            raise SearchError(f"{option} {key}: unknown key '{part}'; {where} has: {', '.join(sorted(fields))}."
                              f"{did_you_mean(part, fields)}")
        annotation = fields[part].annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if not is_section and depth < len(parts) - 1 and part != "validation":
            raise SearchError(f"{option} {key}: '{'.'.join(parts[:depth + 1])}' is a value, not a section")
        model = annotation if is_section else None


def _as_text(value: object) -> str:
    """A Python value as the YAML text a ``--vary`` value would be (JSON is YAML)."""
    return value if isinstance(value, str) else json.dumps(value)


def _axis(key: str, values: Sequence[str], written: str) -> Axis:
    key = key.strip()
    if not key:
        raise SearchError(f"--vary {written!r}: the key is empty; expected KEY=V1,V2,... for example "
                          "training.batch_size=512,1024")
    check_key(key)
    values = [v for v in values if v.strip()]
    if not values:
        raise SearchError(f"--vary {written!r}: no values for {key}; give at least one, e.g. {key}=V1,V2")
    return Axis(key, tuple(dict.fromkeys(v.strip() for v in values)))  # a repeated value is one point


def parse_grid(varies: Sequence[str] | Mapping[str, Sequence[object]]) -> Grid:
    """Axes from ``["KEY=V1,V2", ...]`` (the CLI's ``--vary``) or ``{KEY: [v1, v2]}``.

    Values are split on the commas outside brackets and quotes (``[10,5],[15,10]`` is
    two values). Raises :class:`SearchError` for no axes, an unknown key, a key given
    twice, or an axis without values.
    """
    if isinstance(varies, str):
        varies = [varies]
    if isinstance(varies, Mapping):
        axes = [_axis(str(k), [_as_text(v) for v in (vs if isinstance(vs, (list, tuple)) else [vs])],
                      f"{k}={vs}") for k, vs in varies.items()]
    else:
        axes = []
        for text in varies:
            key, sep, values = text.partition("=")
            if not sep:
                raise SearchError(f"--vary {text!r}: expected KEY=V1,V2,... for example training.batch_size=512,1024")
            axes.append(_axis(key, split_values(values), text))
    if not axes:
        raise SearchError("search: give at least one --vary KEY=V1,V2,... (for example --vary "
                          "training.batch_size=512,1024)")
    seen: set[str] = set()
    for a in axes:
        if a.key in seen:
            raise SearchError(f"--vary {a.key}: given twice; put all its values in one --vary {a.key}=V1,V2,...")
        seen.add(a.key)
    return Grid(tuple(axes))
