"""The designer's inspector: the selected job (description, parameters typed from the
spec, input bindings, compute target, its edges, delete), or the pipeline's own settings
when no single job is selected. Problems are shown next to
the widget they concern."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from app.ui import designer_model as dm
from app.ui.designer_state import DesignerState
from components.errors import Problem
from components.spec import (
    ComponentSpec,
    ExternalData,
    InputSpec,
    JobOutput,
    LiteralValue,
    ParentInput,
    PipelineSettings,
)

__all__ = ["render_inspector"]

_UNBOUND = "unbound"
_EXTERNAL = "external"


def _key(state: DesignerState, *parts: str) -> str:
    return f"insp:{state.generation}:" + ":".join(parts)


def _sync(key: str, value: Any) -> Any:
    """Make widget ``key`` show the model's value (canvas edits change bindings under it).

    The value is written to session state, which the widget shows, and returned so the
    caller passes it as the widget's default too. Without that default a browser that
    mounts the widget without the "set value" message (a rerun that interrupted the one
    that sent it) shows the widget's bare default - a number input its minimum - and
    sends it back on the next rerun as if the user had typed it."""
    if key not in st.session_state or st.session_state[key] != value:
        st.session_state[key] = value
    return value


def _index(options: list[Any], value: Any) -> int | None:
    return options.index(value) if value in options else None


def _problems_for(problems: list[Problem], job: str | None, field: str | None = None) -> list[Problem]:
    return [p for p in problems if p.job == job and (field is None or p.field == field)]


def _show(problems: list[Problem]) -> None:
    for problem in problems:
        st.error(problem.message)


def _while_job_exists(callback):  # type: ignore[no-untyped-def]
    """A widget callback of one job that does nothing once the job is gone: a widget's change
    can arrive on the rerun after its job was deleted (Delete on the canvas, undo)."""

    def guarded(state: DesignerState, job: str, *args: Any) -> None:
        if job in state.design.pipeline.jobs:
            callback(state, job, *args)

    guarded.__name__ = guarded.__qualname__ = callback.__name__
    guarded.__doc__ = callback.__doc__
    return guarded


# ----------------------------------------------------------------------------- parameters


@_while_job_exists
def _set_param(state: DesignerState, job: str, name: str, key: str, default: Any) -> None:
    value = st.session_state.get(key)
    state.change(dm.set_parameter(state.design, job, name, None if value == default else value))


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parameter_widget(state: DesignerState, job: str, inp: InputSpec, binding: Any) -> None:
    key = _key(state, job, "param", inp.name)
    label = f"{inp.name} ({inp.type})" + ("" if not inp.required else " *")
    help_text = inp.description or None
    if isinstance(binding, ParentInput):
        st.markdown(f"**{inp.name}** ← pipeline input `{binding.name}`")
        if st.button("Use a value instead", key=key + ":unbind"):
            state.change(dm.set_input(state.design, job, inp.name, None))
            st.rerun()
        return
    current = binding.value if isinstance(binding, LiteralValue) else inp.default
    args = (state, job, inp.name, key, inp.default)
    if inp.enum:
        options = list(inp.enum)
        shown = _sync(key, current if current in options else None)
        st.selectbox(label, options, index=_index(options, shown), key=key, help=help_text,
                     on_change=_set_param, args=args, placeholder="choose a value")
    elif inp.type == "boolean":
        st.toggle(label, value=_sync(key, bool(current)), key=key, help=help_text, on_change=_set_param,
                  args=args)
    elif inp.type in ("integer", "number") and (current is None or _numeric(current)):
        is_int = inp.type == "integer"
        cast = int if is_int else float
        low = cast(inp.min) if inp.min is not None else None
        high = cast(inp.max) if inp.max is not None else None
        if current is not None and ((low is not None and current < low) or (high is not None and current > high)):
            low = high = None  # show the out-of-range value; validation says what is wrong
        bounds = f"range {inp.min if inp.min is not None else '−∞'} … {inp.max if inp.max is not None else '∞'}"
        st.number_input(
            label,
            value=_sync(key, cast(current) if current is not None else None),
            min_value=low,
            max_value=high,
            step=1 if is_int else None,
            format=None if is_int else "%g",
            key=key,
            help=(help_text + " — " if help_text else "") + bounds,
            on_change=_set_param,
            args=args,
        )
    else:
        st.text_input(label, value=_sync(key, "" if current is None else str(current)), key=key, help=help_text,
                      on_change=_set_param, args=args)


# ----------------------------------------------------------------------------- data inputs


def _binding_options(state: DesignerState, job: str, inp: InputSpec, resolve: dm.Resolve) -> dict[str, Any]:
    options: dict[str, Any] = {_UNBOUND: None}
    downstream = {n for n in state.design.pipeline.jobs if job in dm.upstream_jobs(state.design, n)}
    for name, other in state.design.pipeline.jobs.items():
        if name == job or name in downstream:
            continue
        comp = dm.job_component(other, resolve)
        for out in (comp.outputs.values() if comp else []):
            if dm.types_fit(out.type, inp.type):
                options[f"job:{name}.{out.name}"] = JobOutput(name, out.name)
    for pinp in state.design.pipeline.inputs.values():
        if pinp.is_data:
            options[f"parent:{pinp.name}"] = ParentInput(pinp.name)
    for known in _known_data(inp.type):  # recent external inputs, then the built-in samples
        options[f"data:{known.path}"] = ExternalData(path=known.path, type=inp.type)
    options[_EXTERNAL] = None
    return options


def _option_label(option: str, known: dict[str, str]) -> str:
    if option == _UNBOUND:
        return "— not connected —"
    if option == _EXTERNAL:
        return "type a path…"
    kind, _, rest = option.partition(":")
    if kind == "data":
        return known.get(rest, rest)
    return f"{rest}  (upstream output)" if kind == "job" else f"pipeline input '{rest}'"


def _current_option(binding: Any, options: dict[str, Any]) -> str:
    if isinstance(binding, JobOutput):
        return f"job:{binding.job}.{binding.output}"
    if isinstance(binding, ParentInput):
        return f"parent:{binding.name}"
    if isinstance(binding, ExternalData):
        return f"data:{binding.path}" if f"data:{binding.path}" in options else _EXTERNAL
    return _UNBOUND


@_while_job_exists
def _set_binding(state: DesignerState, job: str, inp: InputSpec, key: str, options: dict[str, Any]) -> None:
    choice = st.session_state.get(key)
    if choice == _EXTERNAL:
        return  # the path box below sets it
    state.change(dm.set_input(state.design, job, inp.name, options.get(choice)))


@_while_job_exists
def _set_path(state: DesignerState, job: str, inp: InputSpec, key: str) -> None:
    path = (st.session_state.get(key) or "").strip()
    if path:
        state.change(dm.set_external_input(state.design, job, inp.name, path, inp.type))
    else:
        state.change(dm.set_input(state.design, job, inp.name, None))


def _known_data(data_type: str) -> list[Any]:
    """The workspace's known data of a type (recent external inputs, built-in samples); read
    from the run store at most every 15 s per session (the inspector asks on every rerun)."""
    import time

    from app.services.data import known_data
    from app.ui.session import workspace

    stamp, cache = st.session_state.get("_insp_known_data", (0.0, {}))
    if time.monotonic() - stamp > 15:
        stamp, cache = time.monotonic(), {}
    if data_type not in cache:
        try:
            cache[data_type] = known_data(workspace(), data_type)
        except Exception:  # noqa: BLE001 - an offer, never a failure of the inspector
            cache[data_type] = []
    st.session_state["_insp_known_data"] = (stamp, cache)
    return cache[data_type]


def _data_input_widget(state: DesignerState, job: str, inp: InputSpec, binding: Any, resolve: dm.Resolve) -> None:
    key = _key(state, job, "input", inp.name)
    options = _binding_options(state, job, inp, resolve)
    known = {k.path: f"{k.label}  ({'recent input' if k.source == 'recent' else 'sample data'})"
             for k in _known_data(inp.type)}
    current = _current_option(binding, options)
    if current not in options:
        options[current] = binding
    label = f"{inp.name} ({inp.type})" + ("" if not inp.required else " *")
    # "external" chosen but no path typed yet is still unbound in the model: keep the choice
    keep = st.session_state.get(key) == _EXTERNAL and current == _UNBOUND
    shown = _EXTERNAL if keep else _sync(key, current)
    choice = st.selectbox(label, list(options), index=_index(list(options), shown), key=key,
                          format_func=lambda o: _option_label(o, known), help=inp.description or None,
                          on_change=_set_binding, args=(state, job, inp, key, options))
    if choice == _EXTERNAL:
        path_key = key + ":path"
        path = _sync(path_key, binding.path if isinstance(binding, ExternalData) else st.session_state.get(path_key, ""))
        st.text_input("Path", value=path, key=path_key,
                      placeholder="/data/folder or ./relative/to/workspace", on_change=_set_path,
                      args=(state, job, inp, path_key), label_visibility="collapsed")


# ----------------------------------------------------------------------------- wiring


def _delete_edge(state: DesignerState, wire: dm.Wire) -> None:
    state.change(dm.disconnect(state.design, wire))
    state.notify("info", f"Deleted the edge {wire.label()}. Ctrl+Z brings it back.")


@_while_job_exists
def _delete_job(state: DesignerState, job: str) -> None:
    state.change(dm.remove_job(state.design, job))
    state.select(())
    state.notify("info", f"Deleted job '{job}' and its edges. Ctrl+Z brings it back.")


# ----------------------------------------------------------------------------- panels


@_while_job_exists
def _set_compute(state: DesignerState, job: str, key: str) -> None:
    value = st.session_state.get(key)
    state.change(dm.set_compute(state.design, job, None if value == "" else value))


def _job_panel(
    state: DesignerState, job: str, resolve: dm.Resolve, problems: list[Problem], compute_names: list[str]
) -> None:
    spec = state.design.pipeline.jobs[job]
    comp: ComponentSpec | None = dm.job_component(spec, resolve)
    st.markdown(f"#### {job}")
    st.caption(f"component `{spec.component}`")
    if comp is None:
        _show(_problems_for(problems, job))
        st.button("Delete job", key=_key(state, "del_job", job), icon=":material/delete:",
                  on_click=_delete_job, args=(state, job))
        return
    if comp.description:
        st.markdown(comp.description)
    _show([p for p in _problems_for(problems, job) if not (p.field or "").startswith("inputs.") and p.field != "compute"])

    data_inputs = [i for i in comp.inputs.values() if i.is_data]
    params = [i for i in comp.inputs.values() if not i.is_data]
    if data_inputs:
        st.markdown("**Inputs**")
        for inp in data_inputs:
            _data_input_widget(state, job, inp, spec.inputs.get(inp.name), resolve)
            _show(_problems_for(problems, job, f"inputs.{inp.name}"))
    if params:
        st.markdown("**Parameters**")
        for inp in params:
            _parameter_widget(state, job, inp, spec.inputs.get(inp.name))
            _show(_problems_for(problems, job, f"inputs.{inp.name}"))
    if comp.outputs:
        st.markdown("**Outputs**: " + ", ".join(f"`{o.name}` ({o.type})" for o in comp.outputs.values()))

    st.markdown("**Compute target**")
    key = _key(state, job, "compute")
    fallback = comp.compute or state.design.pipeline.settings.default_compute or "local"
    options = ["", *compute_names]
    if spec.compute and spec.compute not in options:
        options.append(spec.compute)
    shown = _sync(key, spec.compute or "")
    st.selectbox("Compute target", options, index=_index(options, shown), key=key,
                 format_func=lambda o: o or f"default ({fallback})", on_change=_set_compute, args=(state, job, key),
                 label_visibility="collapsed")
    _show(_problems_for(problems, job, "compute"))

    touching = [w for w in dm.wires(state.design) if job in (w.source, w.target)]
    if touching:
        st.markdown("**Edges**")
        for wire in touching:
            cols = st.columns([4, 1])
            cols[0].markdown(f"`{wire.source}.{wire.output}` → `{wire.target}.{wire.input}`")
            cols[1].button("✕", key=_key(state, "del_edge_j", wire.id), help="Delete this edge",
                           on_click=_delete_edge, args=(state, wire))
    st.divider()
    st.button("Delete job", key=_key(state, "del_job", job), icon=":material/delete:",
              on_click=_delete_job, args=(state, job))


def _set_setting(state: DesignerState, key: str, field: str) -> None:
    value = st.session_state.get(key)
    pipeline = state.design.pipeline
    if field == "name":
        from components.fields import check_name

        problem = check_name(value)
        if problem:
            state.notify("error", f"pipeline {problem}", "inspector")
            return
        pipeline = replace(pipeline, name=value)
    elif field in ("display_name", "description"):
        pipeline = replace(pipeline, **{field: value or ""})
    else:
        settings = pipeline.settings
        if field == "default_compute":
            settings = replace(settings, default_compute=value or None)
        else:
            settings = replace(settings, **{field: bool(value)})
        pipeline = replace(pipeline, settings=settings)
    state.change(replace(state.design, pipeline=pipeline))


def _set_pipeline_input(state: DesignerState, name: str, key: str) -> None:
    from components.errors import ValidationError
    from components.fields import plain
    from components.yamlio import load_yaml_text

    text = st.session_state.get(key) or ""
    current = state.design.pipeline.inputs[name]
    if current.is_data:
        updated = replace(current, path=text.strip() or None)
    else:
        try:  # the one YAML reader: aliases bounded (components/yamlio.py)
            value = plain(load_yaml_text(text, require_mapping=False)) if text.strip() else None
        except ValidationError:
            value = text
        updated = replace(current, value=value)
    inputs = {**state.design.pipeline.inputs, name: updated}
    state.change(replace(state.design, pipeline=replace(state.design.pipeline, inputs=inputs)))


def _pipeline_inputs(state: DesignerState, problems: list[Problem]) -> None:
    inputs = state.design.pipeline.inputs
    if not inputs:
        return
    st.markdown("**Pipeline inputs**")
    for name, pinp in inputs.items():
        key = _key(state, "pipeline", "input", name)
        shown = pinp.path if pinp.is_data else ("" if pinp.value is None else str(pinp.value))
        label = f"{name} ({pinp.type or ('path' if pinp.is_data else 'value')})"
        st.text_input(label, value=_sync(key, shown or ""), key=key, on_change=_set_pipeline_input, args=(state, name, key),
                      help="a path for data, otherwise a value (numbers and true/false are read as such)")
        _show([p for p in problems if p.job is None and p.field == f"inputs.{name}"])


def _pipeline_panel(state: DesignerState, problems: list[Problem], compute_names: list[str]) -> None:
    pipeline = state.design.pipeline
    st.markdown("#### Pipeline")
    if not pipeline.jobs:
        st.info("Drag a component from the palette onto the canvas (or click it) to add a job, or start "
                "from a template (**New**) "
                "or a saved pipeline (**Open**).")
    else:
        st.caption("Select a job on the canvas to edit it; shift-click or drag a box to select several.")
    for notice in state.notices_for("inspector"):
        getattr(st, notice.kind)(notice.text)
    key = _key(state, "pipeline", "name")
    st.text_input("Name", value=pipeline.name, key=key, on_change=_set_setting, args=(state, key, "name"),
                  help="lowercase letters, digits and underscores; saving creates its next version")
    key = _key(state, "pipeline", "description")
    st.text_area("Description", value=pipeline.description, key=key, height=80,
                 on_change=_set_setting, args=(state, key, "description"))
    key = _key(state, "pipeline", "default_compute")
    options = ["", *compute_names]
    current = pipeline.settings.default_compute or ""
    if current not in options:
        options.append(current)
    st.selectbox("Default compute target", options, index=options.index(current), key=key,
                 format_func=lambda o: o or "workspace default (local)", on_change=_set_setting,
                 args=(state, key, "default_compute"))
    settings: PipelineSettings = pipeline.settings
    key = _key(state, "pipeline", "continue")
    st.toggle("Continue on step failure", value=settings.continue_on_step_failure, key=key,
              on_change=_set_setting, args=(state, key, "continue_on_step_failure"))
    key = _key(state, "pipeline", "force")
    st.toggle("Force rerun (no reuse)", value=settings.force_rerun, key=key,
              on_change=_set_setting, args=(state, key, "force_rerun"))
    _pipeline_inputs(state, problems)
    general = [p for p in problems if p.job is None and not (p.field or "").startswith("inputs.")]
    _show(general)


def _close(state: DesignerState) -> None:
    state.select(())


def _close_button(state: DesignerState) -> None:
    st.button("Pipeline settings", key=_key(state, "close"), icon=":material/arrow_back:", type="tertiary",
              on_click=_close, args=(state,), help="Back to the pipeline's own settings")


def render_inspector(
    state: DesignerState, resolve: dm.Resolve, problems: list[Problem], compute_names: list[str]
) -> None:
    """The inspector column for whatever is selected on the canvas."""
    job = state.selected_job
    if job is not None:
        _close_button(state)
        _job_panel(state, job, resolve, problems, compute_names)
    else:
        _pipeline_panel(state, problems, compute_names)
