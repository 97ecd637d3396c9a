"""Names the scenario accepts that a registry above :mod:`gnnsim.config` defines.

The model registry (:data:`gnnsim.workload.models.MODELS`) lives with the kernels, in
the workload layer above config; it publishes itself here when it is imported, and
``model.name`` is checked against it here. gnnsim's package init imports the pipeline,
and with it the registry, before any scenario is read.

>>> model_names()
['graphsage', 'gcn', 'gin', 'gat']
"""

from __future__ import annotations

from collections.abc import Mapping

_models: Mapping[str, object] = {}


def publish_models(registry: Mapping[str, object]) -> None:
    """Make ``registry``'s names (the mapping itself, so later entries count) the models
    a scenario may name."""
    global _models
    _models = registry


def model_names() -> list[str]:
    return list(_models)
