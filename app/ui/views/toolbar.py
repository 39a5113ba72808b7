"""The designer's toolbar: new (blank or template), open a saved version, import and
export YAML, clone a run, save as a new version, and run."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.ui import designer_model as dm
from app.ui import nav
from app.ui.designer_state import DesignerState, load_design
from app.ui.session import errors_shown_here, show_error
from components.errors import Problem

__all__ = ["render_toolbar", "take_requests", "request_clone", "request_open", "design_yaml", "LOAD_REQUEST_KEY"]

LOAD_REQUEST_KEY = "designer_load_request"
_YAML_KEY = "designer_yaml"


def design_yaml(state: DesignerState) -> str:
    """The YAML of the design being edited (Export YAML, and the draft the browser keeps),
    written once per revision of the design: every rerun asks for it."""
    revision = (state.generation, state.rev)
    cached = st.session_state.get(_YAML_KEY)
    if cached and cached[0] == revision:
        return cached[1]
    from app.services.designer import export_design_yaml

    text = export_design_yaml(state.design.pipeline)
    st.session_state[_YAML_KEY] = (revision, text)
    return text


def request_clone(run_id: str) -> None:
    """Ask the designer to open a clone of run ``run_id`` (used by the run page)."""
    st.session_state[LOAD_REQUEST_KEY] = ("run", run_id)


def request_open(ref: str) -> None:
    """Ask the designer to open registered pipeline ``ref`` (used by other pages)."""
    st.session_state[LOAD_REQUEST_KEY] = ("pipeline", ref)


def _load(state: DesignerState, source: Any) -> None:
    load_design(state, dm.design_from_pipeline(source.spec, source.layout), source.origin)


def _clone_run(ws: Any, state: DesignerState, run_id: str) -> None:
    from app.services.designer import run_source

    source = run_source(ws, run_id)
    _load(state, source)
    state.notify("success", f"Cloned run '{run_id}' ({source.spec.name}) into the designer. "
                 "Edit it, then save it as a new version.", "toast")


def take_requests(ws: Any, state: DesignerState) -> None:
    """Open what another page (or the URL: ``?clone=RUN`` / ``?open=NAME:VERSION``) asked for."""
    from app.services.designer import pipeline_source

    request = st.session_state.pop(LOAD_REQUEST_KEY, None)
    params = st.query_params
    if request is None and "clone" in params:
        request = ("run", params["clone"])
    elif request is None and "open" in params:
        request = ("pipeline", params["open"])
    if request is None:
        return
    for name in ("clone", "open"):
        if name in params:
            del params[name]
    kind, value = request
    if kind == "run":
        _clone_run(ws, state, value)
    else:
        _load(state, pipeline_source(ws, value))
        state.notify("success", f"Opened pipeline '{value}'.", "toast")


# ----------------------------------------------------------------------------- popovers


def _may_discard(state: DesignerState, key: str) -> bool:
    """Inside a popover that replaces the design: with unsaved edits, a warning and a
    checkbox that must be ticked first. Returns whether the design may be replaced."""
    if not state.dirty:
        return True
    st.warning(f"'{state.design.pipeline.name}' has unsaved edits ({len(state.design.pipeline.jobs)} jobs): "
               "they are lost if you go on. Press **Save** first to keep them.", icon=":material/warning:")
    return st.checkbox("Discard my unsaved edits", key=f"{key}_discard")


def _new_popover(ws: Any, state: DesignerState) -> None:
    with st.popover("New", icon=":material/add:"):
        allowed = _may_discard(state, "tb_new")
        name = st.text_input("Pipeline name", value="my_pipeline", key="tb_new_name")
        if st.button("Blank pipeline", key="tb_new_blank", width="stretch", disabled=not allowed):
            from components.fields import check_name

            problem = check_name(name)
            if problem:
                st.error(f"pipeline {problem}")
            else:
                load_design(state, dm.new_design(name), None)
                state.notify("success", f"New pipeline '{name}'. Add jobs from the palette.", "toast")
                st.rerun()
        templates = ws.registry.list_templates()
        if templates:
            st.divider()
            labels = {t.name: t.display_name or t.name for t in templates}
            choice = st.selectbox("From a template", list(labels), format_func=labels.get, key="tb_template")
            chosen = next(t for t in templates if t.name == choice)
            if chosen.description:
                st.caption(chosen.description)
            if st.button("Start from template", key="tb_new_template", width="stretch", disabled=not allowed,
                         help="A new pipeline named as above; saving it remembers the template "
                              "(as `ductwork pipeline fork TEMPLATE NAME`)"):
                from components.fields import check_name

                problem = check_name(name)
                if problem:
                    st.error(f"pipeline {problem}")
                    return
                with errors_shown_here():
                    from dataclasses import replace

                    from app.services.designer import template_source

                    source = template_source(ws, choice)
                    _load(state, replace(source, spec=replace(source.spec, name=name)))
                    state.notify("success", f"New pipeline '{name}' from template '{labels[choice]}'. "
                                 "Save it to keep it.", "toast")
                    st.rerun()


def _open_popover(ws: Any, state: DesignerState) -> None:
    from app.services.pipelines import list_pipelines

    with st.popover("Open", icon=":material/folder_open:"):
        records = list_pipelines(ws, all_versions=True)
        if not records:
            st.caption("No saved pipelines yet. Build one and press Save.")
            return
        names = sorted({r.name for r in records})
        name = st.selectbox("Pipeline", names, key="tb_open_name")
        versions = [r.version for r in records if r.name == name]
        version = st.selectbox("Version", versions, key="tb_open_version")
        allowed = _may_discard(state, "tb_open")
        if st.button("Open", key="tb_open", type="primary", width="stretch", disabled=not allowed):
            with errors_shown_here():
                from app.services.designer import pipeline_source

                _load(state, pipeline_source(ws, f"{name}:{version}"))
                state.notify("success", f"Opened pipeline '{name}:{version}'.", "toast")
                st.rerun()


def _import_popover(ws: Any, state: DesignerState) -> None:
    from app.services.designer import MAX_YAML_BYTES, read_pipeline_upload

    with st.popover("Import YAML", icon=":material/upload_file:"):
        upload = st.file_uploader("Pipeline YAML", type=["yml", "yaml"], key="tb_import_file",
                                  max_upload_size=max(1, MAX_YAML_BYTES // (1024 * 1024)))
        allowed = _may_discard(state, "tb_import")
        if st.button("Import", key="tb_import", disabled=upload is None or not allowed, width="stretch"):
            try:
                source = read_pipeline_upload(ws, upload.name, upload.getvalue())
            except Exception as exc:  # noqa: BLE001 - shown next to the uploader
                show_error(exc)
            else:
                _load(state, source)
                state.notify("success", f"Imported '{upload.name}' as pipeline '{source.spec.name}'. "
                             "Save it to register it.", "toast")
                st.rerun()


def _clone_popover(ws: Any, state: DesignerState) -> None:
    with st.popover("Clone run", icon=":material/content_copy:"):
        try:
            from app.services.runs import list_runs

            runs = list_runs(ws, limit=50)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            return
        if not runs:
            st.caption("No runs yet.")
            return
        ids = [r.id for r in runs]
        labels = {r.id: f"{r.id} — {r.pipeline}:{r.version} ({r.status})" for r in runs}
        run_id = st.selectbox("Run", ids, format_func=labels.get, key="tb_clone_run")
        allowed = _may_discard(state, "tb_clone")
        if st.button("Clone into designer", key="tb_clone", width="stretch", disabled=not allowed):
            with errors_shown_here():
                _clone_run(ws, state, run_id)
                st.rerun()


# ----------------------------------------------------------------------------- save / run


def _save(ws: Any, state: DesignerState) -> str | None:
    from app.services.pipelines import save_pipeline

    origin = state.origin or ""
    forked = origin if origin and ":" in origin and not origin.startswith(("run:", "template:", "upload:")) \
        and origin.split(":", 1)[0] != state.design.pipeline.name else None
    if origin.startswith("template:"):  # "new from template" remembers it, as `pipeline fork TEMPLATE` does
        forked = origin
    cloned = origin.removeprefix("run:") if origin.startswith("run:") else None
    registration = save_pipeline(ws, state.design.pipeline, dm.layout_to_dict(state.design),
                                 forked_from=forked, cloned_from_run=cloned)
    record = registration.pipeline
    state.origin = record.ref
    state.saved = True
    state.notify("success" if registration.created else "info",
                 f"Saved pipeline '{record.ref}'." if registration.created else
                 f"Pipeline '{record.ref}' is unchanged; its layout was updated.", "toast")
    return record.ref


def _run(ws: Any, state: DesignerState) -> None:
    from app.services.runs import start_run_background

    ref = state.origin if state.saved and state.origin and ":" in state.origin else _save(ws, state)
    if ref is None:
        return
    run_id = start_run_background(ws, ref)
    nav.leave_designer_for_run(run_id)


def render_toolbar(ws: Any, state: DesignerState, problems: list[Problem]) -> None:
    """The toolbar row above the three columns."""
    pipeline = state.design.pipeline
    title, *buttons = st.columns([2.6, 0.8, 0.8, 1.1, 1.1, 1.1, 0.8, 0.8], vertical_alignment="center")
    origin = f" · from `{state.origin}`" if state.origin else ""
    dirty = " · unsaved changes" if state.dirty else ""
    title.markdown(f"### {pipeline.display_name or pipeline.name}\n{len(pipeline.jobs)} jobs{origin}{dirty}")
    with buttons[0]:
        _new_popover(ws, state)
    with buttons[1]:
        _open_popover(ws, state)
    with buttons[2]:
        _import_popover(ws, state)
    with buttons[3]:
        try:
            data = design_yaml(state)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
        else:
            st.download_button("Export YAML", data=data, file_name=f"{pipeline.name}.yml", mime="application/x-yaml",
                               icon=":material/download:", key="tb_export", disabled=not pipeline.jobs)
    with buttons[4]:
        _clone_popover(ws, state)
    blocking = [p for p in problems if p.severity != "warning"] if problems else []
    with buttons[5]:
        if st.button("Save", key="tb_save", icon=":material/save:", disabled=not pipeline.jobs,
                     help="Save as a new version of this pipeline, with its layout"):
            with errors_shown_here():
                _save(ws, state)
                st.rerun()
    with buttons[6]:
        why = "Fix the problems listed under the canvas first" if blocking else (
            "Add jobs first" if not pipeline.jobs else "Save (if needed) and start a run in the background")
        if st.button("Run", key="tb_run", type="primary", icon=":material/play_arrow:",
                     disabled=bool(blocking) or not pipeline.jobs, help=why):
            with errors_shown_here():
                _run(ws, state)
