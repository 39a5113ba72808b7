"""Persistence of components, pipelines (with canvas layout), compute targets, templates and
environments.

SQLModel over any SQLAlchemy URL; a SQLite file by default. Never imports ``engine``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from registry.models import (
        ComponentPublic,
        ComputeTargetBase,
        ComputeTargetPublic,
        EnvironmentPublic,
        PipelinePublic,
        TemplateBase,
        TemplatePublic,
    )
    from registry.registry import Registry

__all__ = [
    "Registry",
    "NotFoundError",
    "ConflictError",
    "ComponentPublic",
    "PipelinePublic",
    "ComputeTargetBase",
    "ComputeTargetPublic",
    "TemplateBase",
    "TemplatePublic",
    "EnvironmentPublic",
]


def __getattr__(name: str) -> Any:
    """Import SQLModel (≈ 1 s) only when a model or the ``Registry`` is first used (PEP 562)."""
    if name == "Registry":
        from registry.registry import Registry

        return Registry
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("registry.models"), name)
    raise AttributeError(f"module 'registry' has no attribute '{name}'")
