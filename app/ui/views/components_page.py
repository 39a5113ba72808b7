"""Components page: search the registry, inspect a component's versions, inputs,
outputs, parameters, code and the pipelines that use it; register new ones by upload
(YAML plus its code folder as a zip) or by path; and the registered environments that
components name (``environment: azureml:NAME:VERSION``), each with its file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import nav
from app.ui.session import errors_shown_here, show_error, workspace
from app.ui.views.toolbar import request_open
from components import codefiles

__all__ = ["render", "interface_table", "code_files"]

MAX_CODE_FILES = 300
MAX_CODE_BYTES = 200_000


def interface_table(spec: Any) -> pd.DataFrame:
    """One row per input, parameter and output of a component spec."""
    rows = []
    for inp in spec.inputs.values():
        rows.append({
            "kind": "input" if inp.is_data else "parameter",
            "name": inp.name,
            "type": inp.type,
            "default": "" if inp.default is None else str(inp.default),
            "range / choices": (", ".join(map(str, inp.enum)) if inp.enum else
                                (f"{'' if inp.min is None else inp.min} … {'' if inp.max is None else inp.max}"
                                 if inp.min is not None or inp.max is not None else "")),
            "optional": inp.optional,
            "description": inp.description,
        })
    for out in spec.outputs.values():
        rows.append({"kind": "output", "name": out.name, "type": out.type, "default": "", "range / choices": "",
                     "optional": False, "description": out.description})
    return pd.DataFrame(rows, columns=["kind", "name", "type", "default", "range / choices", "optional", "description"])


def code_files(folder: Path | None) -> list[str]:
    """The files of a code folder that make up a component's code (``components.codefiles``:
    caches and what ``.amlignore`` excludes left out), relative paths, at most a few hundred."""
    if folder is None or not Path(folder).is_dir():
        return []
    return [rel for rel, _ in codefiles.code_files(folder)[:MAX_CODE_FILES]]


def _details(ws: Any, name: str) -> None:
    from app.services.components import get_component_spec, show_component
    from app.services.designer import pipelines_using

    versions = ws.registry.component_versions(name)
    version = st.selectbox("Version", versions, key=f"comp_version_{name}")
    record = show_component(ws, f"{name}:{version}")
    spec = get_component_spec(ws, f"{name}:{version}")
    st.markdown(f"### {record.display_name or name} `{record.ref}`")
    if record.description:
        st.markdown(record.description)
    meta = [f"kind: **{spec.kind}**", f"compute: **{spec.compute or 'default'}**",
            f"deterministic: **{'yes' if spec.is_deterministic else 'no'}**"]
    if spec.tags:
        meta.append("tags: " + ", ".join(f"`{k}: {v}`" for k, v in spec.tags.items()))
    st.caption(" · ".join(meta))
    tab_io, tab_code, tab_used = st.tabs(["Inputs, outputs, parameters", "Code", "Used by"])
    with tab_io:
        st.dataframe(interface_table(spec), hide_index=True, width="stretch")
    with tab_code:
        if spec.command:
            st.markdown("**Command**")
            st.code(spec.command, language="bash")
        if spec.function:
            st.markdown(f"**Function** `{spec.function.module}.{spec.function.qualname}`")
        files = code_files(spec.code)
        if not files:
            st.caption("No code folder.")
        else:
            chosen = st.selectbox("File", files, key=f"comp_file_{record.ref}")
            path = Path(spec.code) / chosen  # type: ignore[arg-type]
            data = path.read_bytes()[:MAX_CODE_BYTES]
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                st.caption(f"'{chosen}' is a binary file ({path.stat().st_size} bytes).")
            else:
                language = {".py": "python", ".yml": "yaml", ".yaml": "yaml", ".sh": "bash", ".json": "json"}
                st.code(text, language=language.get(path.suffix, None), line_numbers=True)
    with tab_used:
        users = pipelines_using(ws, name, version)
        if not users:
            st.caption(f"No registered pipeline uses {record.ref}.")
        for ref, jobs in users:
            cols = st.columns([3, 1])
            cols[0].markdown(f"**{ref}** — jobs: {', '.join(jobs)}")
            if cols[1].button("Open in designer", key=f"open_{record.ref}_{ref}"):
                request_open(ref)
                nav.go("designer")


def _register_upload(ws: Any) -> None:
    from app.services.designer import MAX_YAML_BYTES, MAX_ZIP_BYTES, register_component_upload

    st.markdown("Upload a component YAML file (Azure ML command-component format) and, if its "
                "`code:` is a folder, that folder as a zip.")
    yaml_file = st.file_uploader("Component YAML", type=["yml", "yaml"], key="reg_yaml",
                                 max_upload_size=max(1, MAX_YAML_BYTES // (1024 * 1024)))
    zip_file = st.file_uploader("Code folder (zip, optional)", type=["zip"], key="reg_zip",
                                max_upload_size=MAX_ZIP_BYTES // (1024 * 1024))
    if st.button("Register", key="reg_upload_btn", type="primary", disabled=yaml_file is None):
        try:
            results = register_component_upload(
                ws, yaml_file.name, yaml_file.getvalue(),
                zip_file.name if zip_file else None, zip_file.getvalue() if zip_file else None,
            )
        except Exception as exc:  # noqa: BLE001 - shown under the button
            show_error(exc)
        else:
            for result in results:
                st.success(result.message[0].upper() + result.message[1:] + ".")


def _register_path(ws: Any) -> None:
    from app.services.components import register_paths

    path = st.text_input("Path to a component YAML file, a folder of them, or a Python module",
                         key="reg_path", placeholder="/home/me/components/train.yml")
    if st.button("Register from path", key="reg_path_btn", disabled=not path.strip()):
        try:
            results = register_paths(ws, [path.strip()])
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
        else:
            for result in results:
                st.success(result.message[0].upper() + result.message[1:] + ".")


def _environments(ws: Any) -> None:
    """Registered environments (every version) and the file of the one selected."""
    from app.services.environments import list_environments

    records = list_environments(ws, all_versions=True)
    st.caption("A component whose `environment:` is `azureml:NAME:VERSION` (or `azureml://registries/…/"
               "environments/NAME/…`) runs in the registered environment of that name, built once per "
               "content hash on the node that runs it. Register one with `ductwork environment add NAME --pip "
               "requirements.txt` (or `--conda conda.yml`).")
    if not records:
        st.info("No environments registered yet.")
        return
    table = pd.DataFrame([{
        "name": r.name, "version": r.version, "kind": r.kind, "hash": r.content_hash[:12],
        "created": r.created_at.strftime("%Y-%m-%d %H:%M"), "description": r.description,
    } for r in records])
    st.dataframe(table, hide_index=True, width="stretch", key="env_table")
    by_ref = {r.ref: r for r in records}
    record = by_ref[st.selectbox("File of", list(by_ref), key="env_file")]
    st.markdown(f"**{record.ref}** · {record.kind} · content hash `{record.content_hash}`")
    st.code(record.content, language="yaml" if record.kind == "conda" else "text")


def render() -> None:
    """The Components page."""
    from app.services.components import list_components

    ws = workspace()
    st.title("Components")
    browse, register, environments = st.tabs(["Browse", "Register", "Environments"])
    with environments, errors_shown_here():
        _environments(ws)
    with register:
        up, by_path = st.columns(2, gap="large")
        with up:
            st.markdown("#### Upload")
            with errors_shown_here():
                _register_upload(ws)
        with by_path:
            st.markdown("#### From a path on the server")
            with errors_shown_here():
                _register_path(ws)
    with browse:
        search = st.text_input("Search", key="comp_search", placeholder="name, title or description")
        records = list_components(ws, search=search.strip() or None)
        if not records:
            if search.strip():
                st.info(f"No component matches '{search}'.")
            else:
                st.info("No components registered yet. Use the **Register** tab to upload one.")
            return
        table = pd.DataFrame([{
            "name": r.name, "version": r.version, "title": r.display_name,
            "tags": ", ".join(f"{k}: {v}" for k, v in dict((r.spec or {}).get("tags") or {}).items()),
            "description": r.description,
        } for r in records])
        event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="single-row", key="comp_table")
        rows = event.selection.rows if event is not None else []
        if not rows:
            st.caption("Select a component to see its versions, interface, code and the pipelines that use it.")
            return
        with errors_shown_here():
            _details(ws, records[rows[0]].name)
