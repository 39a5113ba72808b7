"""Finding the built-in components and templates on disk (no loading, no registry)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components.errors import DuctworkError

__all__ = ["LIBRARY_DIR", "TEMPLATES_DIR", "TemplateInfo", "component_files", "list_templates", "find_template"]

#: The folder of the built-in library.
LIBRARY_DIR: Path = Path(__file__).resolve().parent
#: The folder holding one sub-folder per template.
TEMPLATES_DIR: Path = LIBRARY_DIR / "templates"
_DOMAINS = ("text", "tabular")


@dataclass(frozen=True)
class TemplateInfo:
    """A pipeline template: its ``template.yml`` plus where its files are."""

    name: str
    title: str
    description: str
    folder: Path
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def pipeline_file(self) -> Path:
        """The template's pipeline YAML (Azure ML CLI v2 shape)."""
        return self.folder / "pipeline.yml"

    @property
    def python_file(self) -> Path:
        """The same pipeline written in Ductwork's Python DSL."""
        return self.folder / "pipeline.py"

    @property
    def readme_file(self) -> Path:
        return self.folder / "README.md"


def component_files() -> list[Path]:
    """Every built-in ``component.yml``, sorted by domain then step folder."""
    return sorted(p for domain in _DOMAINS for p in (LIBRARY_DIR / domain).glob("*/component.yml"))


def _read_template(folder: Path) -> TemplateInfo:
    path = folder / "template.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DuctworkError(f"template file '{path}' cannot be read: {exc}") from exc
    if not isinstance(data, dict) or not data.get("name"):
        raise DuctworkError(f"template file '{path}' has no 'name'; expected a mapping with name, title, description")
    tags = data.get("tags") or {}
    return TemplateInfo(
        name=str(data["name"]),
        title=str(data.get("title") or data["name"]),
        description=" ".join(str(data.get("description") or "").split()),
        folder=folder,
        tags={str(k): str(v) for k, v in tags.items()},
    )


def list_templates() -> list[TemplateInfo]:
    """Every built-in template, sorted by name."""
    found = [_read_template(p.parent) for p in TEMPLATES_DIR.glob("*/template.yml")]
    return sorted(found, key=lambda t: t.name)


def find_template(name: str) -> TemplateInfo:
    """The template called ``name``; an unknown name is a ``DuctworkError`` with a suggestion."""
    templates = list_templates()
    for template in templates:
        if template.name == name:
            return template
    names = [t.name for t in templates]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise DuctworkError(
        f"template '{name}' does not exist.{hint} Known templates: {', '.join(names) or '(none)'}"
    )
