"""The designer's palette: registered components, searchable, grouped by tag; one
click adds a job to the canvas."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.ui import designer_model as dm
from app.ui.designer_state import DesignerState
from components.spec import ComponentSpec

__all__ = ["PaletteItem", "palette_groups", "render_palette"]

GROUP_TAGS = ("domain", "category", "group", "area")


@dataclass(frozen=True)
class PaletteItem:
    """One registered component (latest version) as the palette shows it."""

    name: str
    version: str
    title: str
    description: str
    group: str
    compute: str | None
    tags: tuple[str, ...]


def _item(record: Any) -> PaletteItem:
    spec = dict(record.spec or {})
    tags = {str(k): str(v) for k, v in dict(spec.get("tags") or {}).items()}
    group = next((tags[k] for k in GROUP_TAGS if k in tags), next(iter(tags.values()), "other"))
    return PaletteItem(
        name=record.name,
        version=str(record.version),
        title=record.display_name or record.name,
        description=record.description or "",
        group=group,
        compute=spec.get("compute"),
        tags=tuple(f"{k}: {v}" for k, v in tags.items()),
    )


def palette_groups(records: Iterable[Any], search: str = "") -> dict[str, list[PaletteItem]]:
    """Components matching ``search`` (name, title, description or tag), grouped and sorted."""
    needle = search.strip().lower()
    groups: dict[str, list[PaletteItem]] = {}
    for item in map(_item, records):
        haystack = " ".join([item.name, item.title, item.description, *item.tags]).lower()
        if needle and needle not in haystack:
            continue
        groups.setdefault(item.group, []).append(item)
    return {g: sorted(items, key=lambda i: i.title.lower()) for g, items in sorted(groups.items())}


def _add(state: DesignerState, item: PaletteItem) -> None:
    design, job = dm.add_job(state.design, ComponentSpec(name=item.name, version=item.version))
    state.change(design)
    state.selected = job
    state.notify("success", f"Added job '{job}' ({item.name}:{item.version}). Drag it to place it; "
                 "drag from its right handle to another job's left handle to connect them.")


def render_palette(state: DesignerState, records: list[Any]) -> None:
    """The palette column: search box, then one expander per group of components."""
    st.markdown("#### Components")
    search = st.text_input("Search components", key="palette_search", placeholder="name, tag, description…",
                           label_visibility="collapsed")
    groups = palette_groups(records, search)
    if not records:
        st.info("No components are registered yet. Register one on the **Components** page "
                "(upload a YAML file), then add it here.")
        return
    if not groups:
        st.caption(f"No component matches '{search}'.")
        return
    for group, items in groups.items():
        with st.expander(f"{group} ({len(items)})", expanded=True):
            for item in items:
                label = item.title
                help_text = f"**{item.name}:{item.version}**" + (f" — {item.description}" if item.description else "")
                if item.compute:
                    help_text += f"\n\nCompute: {item.compute}"
                st.button(label, key=f"palette_add_{item.name}", help=help_text, on_click=_add,
                          args=(state, item), width="stretch", icon=":material/add:")
