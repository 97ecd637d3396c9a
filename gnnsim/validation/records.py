"""Measured-run records: one training run someone measured, one JSON object a line.

The format is that of ``shared/published-dev/runs.jsonl``: what ran (``hardware``,
``dataset``, ``model``, ``pipeline``), what it measured (``result``), which ratio group
it belongs to (``group``, with ``varies`` naming what changes inside the group) and where
the number comes from (``source``, ``confidence``). A user keeps their own measured runs
in the same format and predicts them with ``gnnsim published MY_RUNS.jsonl``.

Conventions: times in seconds unless a key says ``_ms``; fan-outs seed-first (PyG's
``num_neighbors`` order; DGL writes them input layer first); a field the source does not
state is ``null``, never a guess. ``sampling_device`` is ``cpu`` (CPU sampler, possibly in
worker processes), ``gpu`` (graph in GPU memory) or ``uva`` (graph pinned in host memory,
sampled by GPU kernels); ``feature_placement`` is ``host``, ``uva``, ``gpu``, ``cache``
(a GPU cache over host features) or a compound of tiers joined by ``+``.

>>> r = parse_record('{"id": "x", "source": "me", "hardware": {"gpu": "NVIDIA A100"}, '
...                  '"dataset": {"name": "ogbn-products"}, "model": {"type": "GraphSAGE"}, '
...                  '"pipeline": {}, "result": {"epoch_time_s": 3.5}, "group": "g"}', "runs.jsonl", 1)
>>> r.result.epoch_time_s, r.model.fanouts_seed_first
(3.5, None)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from gnnsim.errors import RecordError, did_you_mean


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class RunHardware(_Part):
    gpu: str | None = Field(None, description="GPU as the source names it, e.g. 'NVIDIA A100 80GB'")
    gpus_per_node: int | None = Field(None, gt=0)
    nodes: int | None = Field(None, gt=0)
    cpu: str | None = None
    host_ram_GB: float | None = Field(None, gt=0)
    intra_node_link: str | None = None
    network: str | None = Field(None, description="inter-node network as stated, e.g. '100 Gbps'")


class RunDataset(_Part):
    name: str | None = Field(None, description="ogbn-products, ogbn-papers100M, reddit, ...")


class RunModel(_Part):
    type: str | None = Field(None, description="GraphSAGE, GCN, GAT, GIN, RGCN, ... as the source names it")
    layers: int | None = Field(None, gt=0)
    hidden: int | None = Field(None, gt=0)
    fanouts_seed_first: list[int] | None = Field(None, min_length=1, description="PyG order: seed hop first")
    batch_size: int | None = Field(None, gt=0, description="seeds per GPU per iteration")
    heads: int | None = Field(None, gt=0)


class RunPipeline(_Part):
    sampling_device: Literal["cpu", "gpu", "uva"] | None = None
    feature_placement: str | None = Field(None, description="host | uva | gpu | cache | tiers joined by '+'")
    cache_fraction: float | None = Field(None, ge=0, le=1, description="rows cached / all rows")
    num_workers: int | None = Field(None, ge=0, description="loader worker processes per GPU (0: main process)")
    dtype: str | None = None


class RunResult(_Part):
    """What was measured. At least one figure; a time-like one is what gets predicted."""

    epoch_time_s: float | None = Field(None, gt=0)
    sampling_time_ms_per_batch: float | None = Field(None, gt=0)
    throughput_samples_per_s: float | None = Field(None, gt=0)
    train_examples_per_s: float | None = Field(None, gt=0)
    train_it_per_s: float | None = Field(None, gt=0)
    train_iterations: int | None = Field(None, gt=0)
    gpu_memory_MiB: float | None = Field(None, gt=0)
    avg_sampled_nodes_per_batch: float | None = Field(None, gt=0)
    gpu_cache_miss: float | None = Field(None, ge=0, le=1)
    cpu_cache_miss: float | None = Field(None, ge=0, le=1)
    sampler_only_epoch_time_s: float | None = Field(None, gt=0)
    sample_plus_data_copy_s: float | None = Field(None, ge=0)
    forward_s: float | None = Field(None, ge=0)
    backward_s: float | None = Field(None, ge=0)
    update_s: float | None = Field(None, ge=0)
    seeds_per_trainer: int | None = Field(None, gt=0)
    eval_time_s: float | None = Field(None, ge=0)
    e2e_time_s: float | None = Field(None, gt=0)
    training_time_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _measures_something(self) -> "RunResult":
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("no measurement: give at least one figure, e.g. epoch_time_s")
        return self


class RunRecord(_Part):
    """One measured training run (published or the user's own)."""

    id: str = Field(min_length=1)
    source: str = Field(min_length=1, description="where the number comes from: URL and table, or your tool")
    system: str | None = Field(None, description="software as stated, e.g. 'DGL 1.0', 'PyG 2.5'")
    hardware: RunHardware = Field(default_factory=RunHardware)
    dataset: RunDataset = Field(default_factory=RunDataset)
    model: RunModel = Field(default_factory=RunModel)
    pipeline: RunPipeline = Field(default_factory=RunPipeline)
    result: RunResult
    group: str | None = Field(None, description="records that differ in one thing share a group (null: alone)")
    varies: str | None = None
    confidence: Literal["exact-from-table", "read-from-text", "derived", "measured"] = "measured"
    hardware_stated: bool = True
    config_from_script_defaults: bool | None = None
    notes: str | None = None
    _where: str = PrivateAttr("<record>")  # "FILE:LINE" it was read from, for errors found later

    @property
    def where(self) -> str:
        return self._where


def _field_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "<record>"


def _explain(err: dict, where: str) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        holder: type[BaseModel] = RunRecord
        for key in loc[:-1]:
            ann = holder.model_fields[str(key)].annotation
            holder = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else holder
        allowed = sorted(holder.model_fields)
        return (f"{where}: {_field_path(loc)}: unknown field. Allowed: {', '.join(allowed)}."
                f"{did_you_mean(str(loc[-1]), allowed)}")
    return f"{where}: {_field_path(loc)}: {err['msg']} (got {err.get('input')!r})"


def parse_record(line: str, path: str | Path, lineno: int) -> RunRecord:
    """One record from one line of ``path``; errors name the file, the line and the field."""
    where = f"{path}:{lineno}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where}: not a JSON object ({exc.msg} at column {exc.colno}); "
                          "each line holds one record") from None
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected a JSON object (one record a line), got {type(data).__name__}")
    try:
        rec = RunRecord.model_validate(data)
    except ValidationError as exc:
        raise RecordError(_explain(exc.errors()[0], where)
                          + (f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else "")) from None
    rec._where = where
    return rec


def load_records(path: str | Path) -> list[RunRecord]:
    """Every record of a JSON-lines file (blank lines skipped); ids must be unique."""
    path = Path(path)
    if path.is_dir():
        raise RecordError(f"{path}: is a folder; give a .jsonl file of records (one JSON object a line)")
    if not path.is_file():
        raise RecordError(f"{path}: no such records file; give a .jsonl file (see shared/published-dev/runs.jsonl)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not UTF-8 text; a records file is JSON lines") from None
    records: list[RunRecord] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rec = parse_record(line, path, lineno)
        if rec.id in seen:
            raise RecordError(f"{path}:{lineno}: id: {rec.id!r} repeats line {seen[rec.id]}; give every record its own id")
        seen[rec.id] = lineno
        records.append(rec)
    if not records:
        raise RecordError(f"{path}: no records; each line holds one JSON object (see shared/published-dev/README.md)")
    return records
