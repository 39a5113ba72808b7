"""Ductwork's built-in component library and pipeline templates (files under this folder).

Components live in ``<domain>/<step>/component.yml`` with their scripts beside them;
templates in ``templates/<name>/`` (``template.yml``, ``pipeline.yml``, ``pipeline.py``,
``README.md``). This module only finds them; loading is ``components.loader``'s job.
"""

from __future__ import annotations

from components.library.catalog import (
    LIBRARY_DIR,
    TEMPLATES_DIR,
    TemplateInfo,
    component_files,
    find_template,
    list_templates,
)

__all__ = ["LIBRARY_DIR", "TEMPLATES_DIR", "TemplateInfo", "component_files", "find_template", "list_templates"]
