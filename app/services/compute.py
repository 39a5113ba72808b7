"""Compute targets: the functions the CLI's ``compute`` commands and the app's Compute page call,
and :func:`cluster_status`: the nodes of the Ray cluster a run would use and which targets each serves.

A bad field value is a :class:`ComputeInputError`: a list of :class:`FieldProblem`, each naming
its field by its service name (``memory``, ``resources`` …), so that each front end names the
field as its user knows it: the CLI by its option (:data:`CLI_OPTIONS`, what ``str()`` of the
error says), the Compute page by the form's label (``error.phrase(labels)``).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.fields import parse_memory
from engine.compute import ComputeSpec, resource_request
from engine.placement import describe_offer, fits, local_offer, ray_needs, shortfall
from engine.workspace_ray import WorkspaceRay
from registry import ComputeTargetBase, ComputeTargetPublic
from registry.units import format_memory

__all__ = [
    "CLI_OPTIONS",
    "COMPUTE_FIELDS",
    "ComputeInputError",
    "FieldProblem",
    "check_compute_fields",
    "add_compute",
    "update_compute",
    "list_compute",
    "get_compute",
    "remove_compute",
    "compute_names",
    "parse_memory_option",
    "parse_resource_options",
    "compute_to_dict",
    "ClusterNode",
    "TargetPlacement",
    "ClusterStatus",
    "cluster_status",
    "LOCAL_NODE_ID",
]


#: The fields of a compute target a person gives, by their service names.
COMPUTE_FIELDS = ("name", "cpus", "gpus", "memory", "resources", "price_per_hour", "description")
#: How the CLI names each field (``ductwork compute add NAME --cpus … --resource …``).
CLI_OPTIONS: Mapping[str, str] = {
    "name": "name", "cpus": "--cpus", "gpus": "--gpus", "memory": "--memory", "resources": "--resource",
    "price_per_hour": "--price", "description": "--description",
}
_TOKEN = re.compile(r"\{(\w+)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_RESERVED = {"CPU", "GPU", "memory", "object_store_memory", "cpus", "gpus"}


@dataclass(frozen=True)
class FieldProblem:
    """One bad field value. ``text`` names the field as ``{field}``, the offending value as
    ``{value}`` and any other field as ``{<its name>}`` (e.g. ``{cpus}``)."""

    field: str
    text: str
    value: str = ""

    def phrase(self, names: Mapping[str, str]) -> str:
        """The problem with each field called by ``names`` (a field not in it by its own name)."""
        def word(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == "value":
                return self.value
            key = self.field if key == "field" else key
            return names.get(key, key.replace("_", " "))

        return _TOKEN.sub(word, self.text)


class ComputeInputError(DuctworkError):
    """Every bad field value of one compute target; ``str()`` is the CLI's phrasing."""

    def __init__(self, target: str | None, problems: Iterable[FieldProblem]):
        self.target = target
        self.problems = tuple(problems)
        super().__init__(self.phrase(CLI_OPTIONS))

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields with a problem, each once, in order."""
        return tuple(dict.fromkeys(p.field for p in self.problems))

    def phrase(self, names: Mapping[str, str]) -> str:
        """The whole message with every field called by ``names`` (e.g. a form's labels)."""
        head = f"compute target '{self.target}' is invalid: " if self.target else ""
        return head + "; ".join(p.phrase(names) for p in self.problems) + "."


def _memory_problem(value: Any) -> FieldProblem:
    return FieldProblem("memory", "{field} '{value}' is not a size (write bytes or a number with a unit "
                        "such as 8GB, 512MB, 2Gi or 512Mi)", str(value))


def check_compute_fields(
    name: str | None = None,
    *,
    cpus: float | None = None,
    gpus: float | None = None,
    memory: str | int | None = None,
    resources: Mapping[str, float] | None = None,
    price_per_hour: float | None = None,
) -> list[FieldProblem]:
    """Every problem with the given fields (``None``: not given, not checked), none raised."""
    problems: list[FieldProblem] = []
    if name is not None and not _NAME.match(name):
        problems.append(
            FieldProblem("name", "{field} is empty: give the compute target a name, e.g. 'gpu-large'") if not name
            else FieldProblem("name", "{field} '{value}' is not a valid compute target name: use letters, digits, "
                              "'-', '_' or '.', starting with a letter or digit (e.g. gpu-a100)", name))
    for field, value in (("cpus", cpus), ("gpus", gpus), ("price_per_hour", price_per_hour)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            problems.append(FieldProblem(field, "{field} {value} must be a number ≥ 0", repr(value)))
    if memory is not None and memory != "":
        try:
            if parse_memory(memory) <= 0:
                problems.append(FieldProblem("memory", "{field} '{value}' must be a positive size such as 8GB",
                                             str(memory)))
        except ValueError:
            problems.append(_memory_problem(memory))
    for key, amount in (resources or {}).items():
        if key in _RESERVED:
            problems.append(FieldProblem("resources", "{field}: '{value}' is reserved: use {cpus}, {gpus} or "
                                         "{memory} instead", key))
        elif isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            problems.append(FieldProblem("resources", "{field}: '{value}' must be a number ≥ 0 (e.g. highmem=1)",
                                         f"{key}={amount}"))
    return problems


def parse_memory_option(value: str | int | None) -> int | None:
    """``"8GB"`` → 8·10⁹ bytes, ``"512MiB"`` → 2²⁹, ``None``/``""`` → ``None``; a bad size is a
    :class:`ComputeInputError` on ``memory``."""
    if value is None or value == "":
        return None
    try:
        return parse_memory(value)
    except ValueError:
        raise ComputeInputError(None, [_memory_problem(value)]) from None


def parse_resource_options(items: Iterable[str]) -> dict[str, float]:
    """``["highmem=1", "tpu=0.5"]`` → ``{"highmem": 1.0, "tpu": 0.5}``; a bare name means 1."""
    resources: dict[str, float] = {}
    for item in items:
        name, sep, amount = item.partition("=")
        name = name.strip()
        if not name:
            raise DuctworkError(f"custom resource '{item}' has no name. Write NAME=AMOUNT, e.g. --resource highmem=1.")
        try:
            resources[name] = float(amount) if sep else 1.0
        except ValueError:
            raise DuctworkError(
                f"custom resource '{name}' amount '{amount}' is not a number. Write NAME=AMOUNT, e.g. highmem=1."
            ) from None
    return resources


def _target(name: str, **fields: Any) -> ComputeTargetBase:
    from pydantic import ValidationError as PydanticError

    try:
        return ComputeTargetBase(name=name, **fields)
    except PydanticError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DuctworkError(f"compute target '{name}' is invalid: {details}.") from None


def add_compute(
    ws: Workspace,
    name: str,
    *,
    cpus: float = 1.0,
    gpus: float = 0.0,
    memory: str | int | None = None,
    resources: Mapping[str, float] | None = None,
    price_per_hour: float = 0.0,
    description: str = "",
) -> ComputeTargetPublic:
    """Add a compute target; an existing name is refused (see :func:`update_compute`); bad
    field values are one :class:`ComputeInputError` naming every problem."""
    problems = check_compute_fields(name, cpus=cpus, gpus=gpus, memory=memory, resources=resources,
                                    price_per_hour=price_per_hour)
    if problems:
        raise ComputeInputError(name, problems)
    target = _target(
        name,
        cpus=cpus,
        gpus=gpus,
        memory=parse_memory_option(memory),
        resources=dict(resources or {}),
        price_per_hour=price_per_hour,
        description=description,
    )
    return ws.registry.add_compute(target)


def update_compute(ws: Workspace, name: str, **changes: Any) -> ComputeTargetPublic:
    """Change the given fields of a target (``memory`` accepts "8GB"); ``None`` values are left as they are."""
    changes = {k: v for k, v in changes.items() if v is not None}
    problems = check_compute_fields(**{k: v for k, v in changes.items()
                                       if k in ("cpus", "gpus", "memory", "resources", "price_per_hour")})
    if problems:
        raise ComputeInputError(name, problems)
    if "memory" in changes:
        changes["memory"] = parse_memory_option(changes["memory"])
    if not changes:
        raise DuctworkError(
            f"nothing to change for compute target '{name}'. Give at least one of --cpus, --gpus, "
            "--memory, --resource, --price, --description."
        )
    return ws.registry.update_compute(name, **changes)


def list_compute(ws: Workspace) -> list[ComputeTargetPublic]:
    """Every compute target of the workspace, ``local`` first."""
    return ws.registry.list_compute()


def get_compute(ws: Workspace, name: str) -> ComputeTargetPublic:
    """One compute target by name (``azureml:`` prefix accepted)."""
    return ws.registry.get_compute(name.removeprefix("azureml:"))


def compute_names(ws: Workspace) -> list[str]:
    """The names pipelines may use in ``compute:`` and ``settings.default_compute``."""
    return ws.compute_names()


def remove_compute(ws: Workspace, name: str, force: bool = False) -> list[str]:
    """Remove a target; returns the registered pipelines that still name it (only with ``force``)."""
    return ws.registry.remove_compute(name, force=force)


def compute_to_dict(target: ComputeTargetPublic) -> dict[str, Any]:
    """JSON-ready form (memory in bytes plus a readable ``memory_text``)."""
    data = target.model_dump(mode="json")
    data["memory_text"] = format_memory(target.memory)
    return data


# ------------------------------------------------------------------------- the cluster
#: Ray's bookkeeping resources, not something a compute target asks for
_HIDDEN_RESOURCES = ("node:", "object_store_memory", "accelerator_type:")
PROBE_TIMEOUT_S = 60.0
LOCAL_NODE_ID = "this-machine"  #: the one node of the no-cluster answer (Ray gives it no id: Ray is not started)


@dataclass(frozen=True)
class ClusterNode:
    """One node as Ray lists it: ``resources`` in Ray's names (``CPU``, ``GPU``, ``memory`` in
    bytes, custom), without Ray's bookkeeping ones; ``serves``: the compute targets it can run."""

    node_id: str
    name: str
    address: str
    alive: bool
    resources: dict[str, float]
    serves: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        return self.node_id[:12]

    @property
    def offer(self) -> str:
        """``1 CPU, 0 GPU, 22.9 GiB memory, highmem`` — as run errors word it (engine.placement)."""
        return describe_offer(self.resources)


@dataclass(frozen=True)
class TargetPlacement:
    """One compute target: what it asks, which live nodes can serve it, and, when none can,
    what is missing and how a node that serves it is started."""

    name: str
    request: str
    served_by: tuple[str, ...]  #: node ids
    missing: str = ""
    hint: str = ""


@dataclass(frozen=True)
class ClusterStatus:
    """What :func:`cluster_status` found: a cluster (``address`` set) or this machine alone."""

    address: str | None
    source: str  #: how it was chosen: "--address", "RAY_ADDRESS", "the workspace's warm Ray", "this machine"
    nodes: tuple[ClusterNode, ...]
    targets: tuple[TargetPlacement, ...]

    @property
    def is_cluster(self) -> bool:
        return self.address is not None

    @property
    def unserved(self) -> tuple[TargetPlacement, ...]:
        """The targets no live node can serve: a job asking for one fails before anything runs."""
        return tuple(t for t in self.targets if not t.served_by)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``ductwork compute status --json``)."""
        data = asdict(self)
        for node, raw in zip(self.nodes, data["nodes"], strict=True):
            raw.update(short_id=node.short_id, serves=list(node.serves), offer=node.offer)
        for raw in data["targets"]:
            raw["served_by"] = list(raw["served_by"])
        data["is_cluster"] = self.is_cluster
        data["unserved"] = [t.name for t in self.unserved]
        return data


# Asked in a short-lived child process, so neither the CLI's process nor the app's ever holds a
# Ray connection (or starts a local Ray: ray.init with an address only joins).
_PROBE = r"""
import json, logging, sys
import ray
try:
    ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
except Exception as exc:  # the first cause (e.g. AuthenticationError) says more than Ray's final ConnectionError
    chain = [exc]
    while (chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    cause = next((e for e in chain if type(e).__name__ == "AuthenticationError"), chain[-1])
    print("DUCTWORK-ERROR " + json.dumps({"type": type(cause).__name__, "message": str(cause)}), flush=True)
    sys.exit(3)
nodes = [{"node_id": n.get("NodeID", ""), "name": n.get("NodeName", ""), "address": n.get("NodeManagerAddress", ""),
          "alive": bool(n.get("Alive")), "resources": n.get("Resources") or {}} for n in ray.nodes()]
print("DUCTWORK-NODES " + json.dumps(nodes), flush=True)
ray.shutdown()
"""
_FIX = ("Check that `ray start --head` runs there and that the address is its HOST:PORT (port 6379 unless `--port` "
        "said otherwise). Without --address and RAY_ADDRESS, `ductwork compute status` shows this machine.")
_AUTH_FIX = ("Give this process the cluster's token: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<token> (or the token "
             "in ~/.ray/auth_token; `ray get-auth-token` on the head prints it).")


def _choose(ws: Workspace, address: str | None) -> tuple[str | None, str, dict[str, str]]:
    """The cluster a run would use, without starting one: the address given, ``RAY_ADDRESS``, the
    workspace's warm Ray when it is up (with its auth mode), else none (this machine)."""
    if address and address.strip():
        return address.strip(), "--address", {}
    if os.environ.get("RAY_ADDRESS", "").strip():
        return os.environ["RAY_ADDRESS"].strip(), "RAY_ADDRESS", {}
    head = WorkspaceRay(ws.ray_dir).head()
    if head is not None:
        return head.address, "the workspace's warm Ray", {"RAY_AUTH_MODE": head.auth_mode}
    return None, "this machine", {}


def _unreachable(address: str, source: str, why: str, fix: str = _FIX) -> DuctworkError:
    where = "" if source == "--address" else f" (from {source})"
    return DuctworkError(f"cannot reach the Ray cluster at '{address}'{where}: {why}. {fix}")


def _refused(address: str) -> str | None:
    """Why nothing answers at ``HOST:PORT`` (``None`` when something does, or the address is not
    HOST:PORT, e.g. ``auto``): Ray itself would retry a refused address for a minute."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=5):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _auth_line(stderr: str) -> str:
    """``InvalidAuthToken: Authentication token is missing or incorrect`` from Ray's client log lines."""
    match = re.search(r"InvalidAuthToken: [^.\n]*", stderr)
    return match.group(0) if match else "InvalidAuthToken"


def _probe(address: str, source: str, env: Mapping[str, str], timeout: float) -> list[dict[str, Any]]:
    why = _refused(address)
    if why:
        raise _unreachable(address, source, why.lower())
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, address], capture_output=True, text=True,
                              timeout=timeout, check=False, env={**os.environ, **env})
    except subprocess.TimeoutExpired:
        raise _unreachable(address, source, f"no answer within {timeout:g} s") from None
    for line in done.stdout.splitlines():
        if line.startswith("DUCTWORK-NODES "):
            return list(json.loads(line[len("DUCTWORK-NODES "):]))
        if line.startswith("DUCTWORK-ERROR "):
            error = json.loads(line[len("DUCTWORK-ERROR "):])
            first = error["message"].split(". ")[0].removeprefix("RPC error: ")
            # Ray's C++ client logs each refused attempt; the exception it ends with is not always the cause
            if error["type"] == "AuthenticationError" or "InvalidAuthToken" in done.stderr:
                first = first if error["type"] == "AuthenticationError" else _auth_line(done.stderr)
                mode = {**os.environ, **env}.get("RAY_AUTH_MODE") or "not set"
                raise _unreachable(address, source, f"it refused this client's authentication token ({first}; "
                                   f"RAY_AUTH_MODE is {mode})", _AUTH_FIX)
            raise _unreachable(address, source, f"{error['type']}: {first}"[:400])
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    raise _unreachable(address, source, (lines[-1] if lines else f"the probe exited with {done.returncode}")[:400])


def _visible(resources: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in resources.items() if not k.startswith(_HIDDEN_RESOURCES)}


def _hint(request: Any, address: str | None) -> str:
    """A ``ray start`` line for a worker that serves ``request``."""
    needs = ray_needs(request)
    parts = ["ray start", f"--address {address or 'HEAD_HOST:6379'}", f"--num-cpus {math.ceil(needs.get('CPU', 1))}"]
    if needs.get("GPU"):
        parts.append(f"--num-gpus {math.ceil(needs['GPU'])}")
    custom = {k: v for k, v in needs.items() if k not in ("CPU", "GPU", "memory")}
    if custom:
        parts.append("--resources '" + json.dumps({k: int(v) if float(v).is_integer() else v
                                                   for k, v in custom.items()}) + "'")
    hint = " ".join(parts)
    if needs.get("memory"):
        hint += f" (on a machine with at least {needs['memory'] / 2**30:.1f} GiB of free memory)"
    return hint


def cluster_status(ws: Workspace, address: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> ClusterStatus:
    """The nodes of the Ray cluster a run of ``ws`` would use, their resources, and for every
    compute target which live nodes can serve it (the same test, ``engine.placement.fits``,
    that refuses a run before anything starts).

    The cluster is ``address``, else ``RAY_ADDRESS``, else the workspace's warm Ray when it is up;
    without one it is this machine alone, as a local Ray would offer it (``local_offer``), and
    Ray is not started. A cluster that cannot be reached is a :class:`DuctworkError`."""
    address, source, env = _choose(ws, address)
    if address is None:
        nodes = [ClusterNode(LOCAL_NODE_ID, "this machine", socket.gethostname(), True, local_offer())]
    else:
        nodes = [ClusterNode(n["node_id"], n["name"], n["address"], n["alive"], _visible(n["resources"]))
                 for n in _probe(address, source, env, timeout)]
    requests = {row.name: resource_request(ComputeSpec(row.name, row.cpus, row.gpus, row.memory, dict(row.resources)))
                for row in ws.compute_targets().values()}
    serving = {n.node_id: tuple(name for name, req in requests.items() if n.alive and fits(req, n.resources))
               for n in nodes}
    nodes = [ClusterNode(n.node_id, n.name, n.address, n.alive, n.resources, serving[n.node_id]) for n in nodes]
    live = [n for n in nodes if n.alive]
    targets = []
    for name, request in requests.items():
        served = tuple(n.node_id for n in live if name in n.serves)
        if served:
            targets.append(TargetPlacement(name, request.describe(), served))
            continue
        closest = min(live, key=lambda n: len(shortfall(request, n.resources)), default=None)
        missing = "; ".join(shortfall(request, closest.resources)) if closest else "no live node"
        targets.append(TargetPlacement(name, request.describe(), (), missing, _hint(request, address)))
    return ClusterStatus(address, source, tuple(sorted(nodes, key=lambda n: (not n.alive, n.name, n.node_id))),
                         tuple(targets))
