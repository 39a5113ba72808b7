"""Compute page: the workspace's compute targets (list, add, edit, remove), the workspace's
warm Ray (status, start, stop, its node), and the cluster a run would use: its nodes, their
resources and which targets each can serve (asked when the button is pressed)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.services.compute import ComputeInputError, FieldProblem
from app.ui.session import errors_shown_here, show_error, workspace

__all__ = ["render", "parse_resources", "targets_table", "cluster_frames", "FORM_LABELS"]

FLASH_KEY = "compute_flash"
#: The form's field labels: the widgets' labels, and how a message names a field.
FORM_LABELS: dict[str, str] = {
    "name": "Name", "cpus": "CPUs", "gpus": "GPUs", "memory": "Memory", "resources": "Custom Ray resources",
    "price_per_hour": "Price per hour", "description": "Description",
}


def parse_resources(text: str) -> tuple[dict[str, float], list[FieldProblem]]:
    """``"highmem=1, tpu=2"`` → ``({"highmem": 1.0, "tpu": 2.0}, [])``; each malformed entry is a problem."""
    result: dict[str, float] = {}
    problems: list[FieldProblem] = []
    for item in filter(None, (part.strip() for part in text.replace(";", ",").split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            result[name.strip()] = float(value)
        except ValueError:
            problems.append(FieldProblem("resources", "{field}: custom resource '{value}' is not NAME=NUMBER; "
                                         "write e.g. 'highmem=1, tpu=2'", item))
    return result, problems


def targets_table(targets: list[Any]) -> pd.DataFrame:
    """One row per compute target, memory in readable units."""
    from registry.units import format_memory

    return pd.DataFrame([{
        "name": t.name, "CPUs": t.cpus, "GPUs": t.gpus, "memory": format_memory(t.memory) if t.memory else "—",
        "custom resources": ", ".join(f"{k}={v:g}" for k, v in (t.resources or {}).items()) or "—",
        "price / hour": t.price_per_hour, "description": t.description,
    } for t in targets])


def _keys(slot: str) -> dict[str, str]:
    """The session-state key of each field of one form: the values stay after an error."""
    return {field: f"compute_{slot}_{field}" for field in FORM_LABELS}


def _forget(slot: str) -> None:
    """After a success: the form starts again from its defaults (or the updated target)."""
    for key in _keys(slot).values():
        st.session_state.pop(key, None)


def _messages(slot: str) -> Any:
    """The place right under a form for its messages; a success from before the rerun is shown there."""
    place = st.container()
    flash = st.session_state.get(FLASH_KEY)
    if flash and flash[0] == slot:
        st.session_state.pop(FLASH_KEY)
        place.success(flash[1])
    return place


def _show_problems(place: Any, problems: list[FieldProblem]) -> None:
    lines = [f"- {p.phrase({k: f'**{v}**' for k, v in FORM_LABELS.items()})}" for p in problems]
    place.error(("Check this field:\n" if len(problems) == 1 else f"Check these {len(problems)} fields:\n")
                + "\n".join(lines))


def _form(ws: Any, target: Any | None) -> None:
    from app.services.compute import add_compute, check_compute_fields, update_compute
    from registry.units import format_memory

    editing = target is not None
    slot = f"edit_{target.name}" if editing else "new"
    key, label = _keys(slot), FORM_LABELS
    with st.form(f"compute_form_{slot}", clear_on_submit=False):
        name = st.text_input(label["name"], value=target.name if editing else "", disabled=editing,
                             placeholder="gpu-large", key=key["name"])
        c1, c2, c3 = st.columns(3)
        cpus = c1.number_input(label["cpus"], min_value=0.0, value=float(target.cpus) if editing else 1.0, step=1.0,
                               key=key["cpus"])
        gpus = c2.number_input(label["gpus"], min_value=0.0, value=float(target.gpus) if editing else 0.0, step=1.0,
                               key=key["gpus"])
        memory = c3.text_input(label["memory"], placeholder="8GB (optional)", key=key["memory"],
                               value=format_memory(target.memory) if editing and target.memory else "",
                               help="Memory per step: a number with a unit, e.g. 8GB, 512MiB, 2Gi.")
        resources = st.text_input(
            label["resources"], placeholder="highmem=1", key=key["resources"],
            value=", ".join(f"{k}={v:g}" for k, v in (target.resources or {}).items()) if editing else "")
        c4, c5 = st.columns([1, 2])
        price = c4.number_input(label["price_per_hour"], min_value=0.0, step=0.1, key=key["price_per_hour"],
                                value=float(target.price_per_hour) if editing else 0.0)
        description = c5.text_input(label["description"], value=target.description if editing else "",
                                    key=key["description"])
        submitted = st.form_submit_button("Save changes" if editing else "Add compute target", type="primary")
    place = _messages(slot)
    if not submitted:
        return
    # every problem at once, each naming the form's field; the values typed stay in the form
    parsed, problems = parse_resources(resources)
    given = dict(cpus=cpus, gpus=gpus, memory=memory.strip() or None, price_per_hour=price)
    problems += check_compute_fields(None if editing else name.strip(), resources=parsed, **given)
    if problems:
        _show_problems(place, problems)
        return
    try:
        fields = dict(given, resources=parsed, description=description)
        if editing:
            update_compute(ws, target.name, **fields)
            message = f"Updated compute target '{target.name}'."
        else:
            add_compute(ws, name.strip(), **fields)
            message = f"Added compute target '{name.strip()}'."
    except ComputeInputError as exc:
        _show_problems(place, list(exc.problems))
        return
    except Exception as exc:  # noqa: BLE001 - shown under the form
        show_error(exc, place)
        return
    _forget(slot)
    st.session_state[FLASH_KEY] = (slot, message)
    st.rerun()


def _remove(ws: Any, names: list[str]) -> None:
    from app.services.compute import remove_compute

    choice = st.selectbox("Compute target", names, key="compute_remove_name")
    force = st.checkbox("Remove even if saved pipelines name it", key="compute_remove_force")
    clicked = st.button("Remove", key="compute_remove", icon=":material/delete:")
    place = _messages("remove")
    if clicked:
        try:
            users = remove_compute(ws, choice, force=force)
        except Exception as exc:  # noqa: BLE001
            show_error(exc, place)
        else:
            _forget(f"edit_{choice}")
            note = f" Pipelines that still name it: {', '.join(users)}." if users else ""
            st.session_state[FLASH_KEY] = ("remove", f"Removed compute target '{choice}'.{note}")
            st.rerun()


def _warm_ray(ws: Any) -> None:
    """The workspace's warm Ray: status, start, stop, and its node's resources."""
    import datetime as dt

    from app.services.designer import cluster_nodes
    from app.services.warm_ray import start_warm_ray, stop_warm_ray, warm_ray_status

    st.markdown("#### Warm Ray")
    st.caption("Runs started here use the workspace's warm Ray: a local Ray kept running between runs so "
               "that a rerun does not wait for Ray to start. It stops by itself after its idle time without "
               "runs (`ductwork ray start|stop|status` on the command line).")
    status = warm_ray_status(ws)
    if status["running"]:
        started = dt.datetime.fromtimestamp(status["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
        users = len(status["drivers"])
        st.success(f"Running at `{status['address']}` · {status['num_cpus']} CPUs · up since {started} · "
                   f"stops after {status['idle_s'] / 60:g} min idle · runs using it now: {users}",
                   icon=":material/bolt:")
        c1, c2, c3 = st.columns([1, 1.3, 4])
        if c1.button("Stop", key="warm_stop", icon=":material/stop_circle:", disabled=users > 0,
                     help="Stop it now (runs still using it must end first)" if users else "Stop it now"):
            with errors_shown_here():
                stop_warm_ray(ws)
                st.session_state.pop("warm_nodes", None)
                st.rerun()
        if c2.button("Show its node", key="warm_nodes_button", icon=":material/dns:"):
            with st.spinner("Asking Ray…"), errors_shown_here():
                st.session_state["warm_nodes"] = cluster_nodes(status["address"], auth_mode=status["auth_mode"])
        nodes = st.session_state.get("warm_nodes")
        if nodes:
            st.dataframe(_nodes_frame(nodes), hide_index=True, width="stretch")
    else:
        st.info("Not running: the next run started here starts it (≈ 5 s once).", icon=":material/bolt:")
        if st.button("Start now", key="warm_start", icon=":material/play_arrow:"):
            with st.spinner("Starting Ray…"), errors_shown_here():
                start_warm_ray(ws)
                st.rerun()


def _nodes_frame(nodes: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"node": n["node"], "id": n["node_id"], "alive": n["alive"],
                          **{k: v for k, v in sorted(n["resources"].items())}} for n in nodes])


def cluster_frames(found: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nodes (one row each: resources, which targets it serves) and the compute targets (who
    serves each) of a :class:`~app.services.compute.ClusterStatus`."""
    nodes = pd.DataFrame([{
        "node": n.short_id, "name": n.name, "address": n.address, "alive": n.alive,
        "CPU": n.resources.get("CPU", 0.0), "GPU": n.resources.get("GPU", 0.0),
        "memory GiB": round(n.resources.get("memory", 0.0) / 2**30, 1),
        "custom resources": ", ".join(f"{k}={v:g}" for k, v in sorted(n.resources.items())
                                      if k not in ("CPU", "GPU", "memory")) or "—",
        "serves": ", ".join(n.serves) or "—",
    } for n in found.nodes])
    short = {n.node_id: n.short_id for n in found.nodes}
    targets = pd.DataFrame([{"compute target": t.name, "asks for": t.request,
                             "served by": ", ".join(short.get(i, i) for i in t.served_by) or "no live node"}
                            for t in found.targets])
    return nodes, targets


def _cluster(ws: Any) -> None:
    """The cluster a run would use: its nodes and which compute targets each can serve. Asked
    only when the button is pressed (a short-lived probe process), never on a rerun."""
    from app.services.compute import cluster_status

    st.markdown("#### Cluster")
    st.caption("The Ray cluster a run would use: the address below, else `RAY_ADDRESS`, else the workspace's "
               "warm Ray when it is up, else this machine alone (Ray is not started for that). Workers "
               "advertise what targets ask for: `ray start --address HEAD:6379 --resources '{\"highmem\": 1}'`, "
               "`--num-gpus 1` (`ductwork compute status` on the command line).")
    c1, c2 = st.columns([3, 1.3], vertical_alignment="bottom")
    address = c1.text_input("Cluster address (optional)", key="cluster_address_input", placeholder="HOST:6379",
                            help="The head's HOST:PORT. Empty: RAY_ADDRESS, the warm Ray, or this machine.")
    if c2.button("Check the cluster", key="cluster_check", icon=":material/dns:"):
        with st.spinner("Asking the cluster…"):
            try:
                st.session_state["cluster_status"] = cluster_status(ws, address.strip() or None)
            except Exception as exc:  # noqa: BLE001 - shown in place
                st.session_state.pop("cluster_status", None)
                show_error(exc)
    found = st.session_state.get("cluster_status")
    if found is None:
        return
    if found.is_cluster:
        alive = sum(n.alive for n in found.nodes)
        st.success(f"Ray cluster at `{found.address}` ({found.source}): {alive} live node(s) of "
                   f"{len(found.nodes)}.", icon=":material/hub:")
    else:
        st.info("No cluster: this machine alone, as a local Ray would offer it.", icon=":material/computer:")
    nodes, targets = cluster_frames(found)
    st.dataframe(nodes, hide_index=True, width="stretch")
    st.dataframe(targets, hide_index=True, width="stretch")
    for target in found.unserved:
        st.warning(f"No live node can serve **{target.name}** ({target.request}; missing {target.missing}): a job "
                   f"asking for it fails before anything runs. Add a node:\n\n`{target.hint}`")


def render() -> None:
    """The Compute page."""
    from app.services.compute import list_compute

    ws = workspace()
    st.title("Compute")
    targets = list_compute(ws)
    st.dataframe(targets_table(targets), hide_index=True, width="stretch")
    st.caption("A job asks for a target by name (inspector → Compute target); the engine turns it into Ray "
               "resource requests. Custom resources must be advertised by cluster nodes (`ray start --resources`).")
    add, edit, remove = st.tabs(["Add", "Edit", "Remove"])
    with add, errors_shown_here():
        _form(ws, None)
    with edit, errors_shown_here():
        names = [t.name for t in targets]
        chosen = st.selectbox("Compute target", names, key="compute_edit_name")
        _form(ws, next(t for t in targets if t.name == chosen))
    with remove, errors_shown_here():
        _remove(ws, [t.name for t in targets])
    st.divider()
    with errors_shown_here():
        _warm_ray(ws)
    st.divider()
    with errors_shown_here():
        _cluster(ws)
