"""Persistence of components, pipelines (with canvas layout), compute targets and templates.

SQLModel over any SQLAlchemy URL; a SQLite file by default. Never imports ``engine``.
"""

from __future__ import annotations

from registry.errors import ConflictError, NotFoundError
from registry.models import (
    ComponentPublic,
    ComputeTargetBase,
    ComputeTargetPublic,
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
]
