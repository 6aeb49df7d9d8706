"""The sampler registry: methods that choose a set of rows (MIG, k-center, ...) rather than score each row.

Adding a sampler = one file in this folder + one line in ``_DEFAULT_SAMPLERS``; the CLI and pages read
:func:`list_samplers`.
"""

from __future__ import annotations

import inspect

from euds_core.errors import EudsInputError
from euds_core.selection.samplers.base import Sampler, keep_count
from euds_core.selection.samplers.cluster_balanced import ClusterBalancedSampler
from euds_core.selection.samplers.hard_easy import HardEasySampler
from euds_core.selection.samplers.kcenter import KCenterSampler
from euds_core.selection.samplers.mig import MIGSampler

_DEFAULT_SAMPLERS: tuple[type[Sampler], ...] = (
    HardEasySampler,
    MIGSampler,
    KCenterSampler,
    ClusterBalancedSampler,
)
_REGISTRY: dict[str, type[Sampler]] = {cls.name: cls for cls in _DEFAULT_SAMPLERS}

__all__ = ["Sampler", "get_sampler", "keep_count", "list_samplers"]


def list_samplers() -> list[type[Sampler]]:
    return list(_REGISTRY.values())


def get_sampler(name: str, options: dict | None = None) -> Sampler:
    """An instance of the named sampler, passing only the options its constructor takes (e.g. ``seed``)."""
    if name not in _REGISTRY:
        raise EudsInputError(f"unknown sampler '{name}'; choose from: {', '.join(_REGISTRY)}")
    cls = _REGISTRY[name]
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in (options or {}).items() if k in accepted and v is not None})
