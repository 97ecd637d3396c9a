"""Validation scenarios: a gnnsim scenario with a ``validation:`` block, and the suite of them.

A validation scenario is an ordinary gnnsim scenario with one more top-level block,
``validation:``, that only the harness reads (it is removed before the scenario is
validated)::

    validation:
      description: "SBM 8k nodes, METIS, 2 ranks"
      ranks: 2                 # real processes (default: the cluster's trainers)
      groups: [partitioner-sbm]  # ranking groups: same job, one thing varied
      quick: true              # part of the --quick subset (CI)
      shaped_link: true        # ranks in network namespaces joined by a veth shaped
                               # to the cluster network's rate (tc); skipped where not permitted
      delay_ms: 1              # add a delay on the shaped link (needs the kernel's netem)
      timeout_s: 120           # the real run's limit; the whole group is killed past it
      expect: failure          # the real run is meant to fail (robustness check)
      trainer: pyg             # the real trainer: torch (gnnsim's own, the default) or pyg
                               # (a standard PyG DDP trainer: ``gnnsim realrun --trainer pyg``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gnnsim.config import Scenario, scenario_from_dict
from gnnsim.errors import ScenarioError, read_yaml_mapping

VALIDATION_KEYS = {"description", "ranks", "groups", "quick", "shaped_link", "delay_ms", "timeout_s", "expect",
                   "trainer"}
TRAINERS = ("torch", "pyg")
DEFAULT_TIMEOUT_S = 180.0


@dataclass
class ValidationScenario:
    """One scenario file: the gnnsim scenario and how the harness runs it."""

    path: Path
    scenario: Scenario
    description: str = ""
    ranks: int = 2
    groups: list[str] = field(default_factory=list)
    quick: bool = False
    shaped_link: bool = False
    delay_ms: float = 0.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    expect: str = "success"
    trainer: str = "torch"

    @property
    def name(self) -> str:
        return self.scenario.name


def load_validation_scenario(path: str | Path) -> ValidationScenario:
    """Read a scenario file with its ``validation:`` block (see the module docstring)."""
    path = Path(path)
    data = read_yaml_mapping(path, ScenarioError)
    block = data.pop("validation", None) or {}
    unknown = set(block) - VALIDATION_KEYS
    if unknown:
        raise ScenarioError(f"{path}: validation: unknown key(s) {', '.join(sorted(unknown))}; "
                            f"allowed: {', '.join(sorted(VALIDATION_KEYS))}")
    if block.get("expect", "success") not in ("success", "failure"):
        raise ScenarioError(f"{path}: validation.expect must be success or failure, got {block['expect']!r}")
    if block.get("trainer", "torch") not in TRAINERS:
        raise ScenarioError(f"{path}: validation.trainer must be one of {', '.join(TRAINERS)}, got {block['trainer']!r}")
    data.setdefault("name", path.stem)
    scenario = scenario_from_dict(data, str(path), str(path.parent.resolve()))
    return ValidationScenario(
        path=path, scenario=scenario, description=str(block.get("description", "")),
        ranks=int(block.get("ranks", 2)), groups=[str(g) for g in block.get("groups", [])],
        quick=bool(block.get("quick", False)), shaped_link=bool(block.get("shaped_link", False)),
        delay_ms=float(block.get("delay_ms", 0.0)), timeout_s=float(block.get("timeout_s", DEFAULT_TIMEOUT_S)),
        expect=str(block.get("expect", "success")), trainer=str(block.get("trainer", "torch")))


def load_suite(folder: str | Path, quick: bool = False, only: list[str] | None = None) -> list[ValidationScenario]:
    """Every ``*.yaml`` scenario in ``folder`` (sorted by file name).

    ``only`` picks scenarios by name from the whole suite; otherwise ``quick`` keeps the
    quick subset.
    """
    suite = [load_validation_scenario(p) for p in sorted(Path(folder).glob("*.yaml"))]
    if quick and not only:
        suite = [s for s in suite if s.quick]
    if only:
        missing = set(only) - {s.name for s in suite}
        if missing:
            raise ScenarioError(f"--only: no scenario named {', '.join(sorted(missing))} in {folder}; "
                                f"known: {', '.join(s.name for s in suite)}")
        suite = [s for s in suite if s.name in only]
    return suite
