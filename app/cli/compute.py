"""``ductwork compute add|update|list|show|remove``: named resource shapes for steps."""

from __future__ import annotations

from typing import Optional

import typer

from app.cli.common import JSON_OPTION, note, print_json, print_table, warn, workspace

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

_RESOURCE_HELP = "Custom Ray resource NAME=AMOUNT (repeatable), e.g. --resource highmem=1."


def _row(target) -> list[str]:
    from registry.units import format_memory

    custom = ", ".join(f"{k}={v:g}" for k, v in sorted(target.resources.items()))
    return [
        target.name,
        f"{target.cpus:g}",
        f"{target.gpus:g}",
        format_memory(target.memory) or "-",
        custom or "-",
        f"{target.price_per_hour:g}",
        target.description,
    ]


_COLUMNS = ["name", "cpus", "gpus", "memory", "custom resources", "price/h", "description"]


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Name jobs use in 'compute:', e.g. gpu-a100."),
    cpus: float = typer.Option(1.0, "--cpus", help="CPUs per step."),
    gpus: float = typer.Option(0.0, "--gpus", help="GPUs per step."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Memory per step: 8GB, 512MiB, 2G."),  # noqa: UP045
    resource: list[str] = typer.Option([], "--resource", help=_RESOURCE_HELP),
    price: float = typer.Option(0.0, "--price", help="Price per hour, for cost accounting."),
    description: str = typer.Option("", "--description", help="What this target is for."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a compute target. An existing name is refused: use 'compute update'."""
    from app.services import compute as service

    target = service.add_compute(
        workspace(),
        name,
        cpus=cpus,
        gpus=gpus,
        memory=memory,
        resources=service.parse_resource_options(resource),
        price_per_hour=price,
        description=description,
    )
    if as_json:
        print_json(service.compute_to_dict(target))
    else:
        note(f"added compute target '{target.name}'")


@app.command("update")
def update(
    name: str = typer.Argument(..., help="An existing compute target."),
    cpus: Optional[float] = typer.Option(None, "--cpus"),  # noqa: UP045
    gpus: Optional[float] = typer.Option(None, "--gpus"),  # noqa: UP045
    memory: Optional[str] = typer.Option(None, "--memory", help="8GB, 512MiB, 2G."),  # noqa: UP045
    resource: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--resource", help=_RESOURCE_HELP + " Replaces all custom resources."
    ),
    price: Optional[float] = typer.Option(None, "--price"),  # noqa: UP045
    description: Optional[str] = typer.Option(None, "--description"),  # noqa: UP045
    as_json: bool = JSON_OPTION,
) -> None:
    """Change fields of a compute target; the ones not given are kept."""
    from app.services import compute as service

    target = service.update_compute(
        workspace(),
        name,
        cpus=cpus,
        gpus=gpus,
        memory=memory,
        resources=service.parse_resource_options(resource) if resource else None,
        price_per_hour=price,
        description=description,
    )
    if as_json:
        print_json(service.compute_to_dict(target))
    else:
        note(f"updated compute target '{target.name}'")


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List compute targets."""
    from app.services import compute as service

    targets = service.list_compute(workspace())
    if as_json:
        print_json([service.compute_to_dict(t) for t in targets])
    else:
        print_table(None, _COLUMNS, [_row(t) for t in targets])


@app.command("show")
def show(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Show one compute target."""
    from app.services import compute as service

    target = service.get_compute(workspace(), name)
    if as_json:
        print_json(service.compute_to_dict(target))
    else:
        print_table(None, _COLUMNS, [_row(target)])


@app.command("remove")
def remove(
    name: str = typer.Argument(...),
    force: bool = typer.Option(False, "--force", help="Remove even if registered pipelines name it."),
) -> None:
    """Remove a compute target ('local' cannot be removed)."""
    from app.services import compute as service

    users = service.remove_compute(workspace(), name, force=force)
    if users:
        warn(f"pipelines that name '{name}' will fail validation until it exists again: {', '.join(users)}")
    note(f"removed compute target '{name}'")


def _resource_cells(resources: dict[str, float]) -> list[str]:
    memory = resources.get("memory")
    custom = ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()) if k not in ("CPU", "GPU", "memory"))
    return [f"{resources.get('CPU', 0):g}", f"{resources.get('GPU', 0):g}",
            f"{memory / 2**30:.1f}" if memory else "-", custom or "-"]


@app.command("status")
def status(
    address: Optional[str] = typer.Option(  # noqa: UP045
        None, "--address", help="The Ray cluster's HOST:PORT (default: $RAY_ADDRESS, else the workspace's warm Ray "
        "when it is up, else this machine, without starting Ray)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the Ray cluster's nodes, their resources and which compute targets each can serve."""
    from app.cli.common import EXIT_RUN_FAILED, print_error
    from app.services import compute as service
    from components.errors import DuctworkError

    try:
        found = service.cluster_status(workspace(), address)
    except DuctworkError as exc:  # the cluster is unreachable: a failed check (1), not a bad input (2)
        print_error(str(exc))
        raise typer.Exit(EXIT_RUN_FAILED) from None
    if as_json:
        print_json(found.to_dict())
        return
    if found.is_cluster:
        alive = sum(n.alive for n in found.nodes)
        note(f"Ray cluster at {found.address} ({found.source}): {alive} live node(s) of {len(found.nodes)}")
    else:
        note("no cluster: this machine (no --address, RAY_ADDRESS or warm Ray; Ray was not started)")
    print_table(None, ["node", "name", "address", "alive", "CPU", "GPU", "memory GiB", "custom resources", "serves"],
                [[n.short_id, n.name, n.address, "yes" if n.alive else "no", *_resource_cells(n.resources),
                  ", ".join(n.serves) or "-"] for n in found.nodes])
    for target in found.unserved:
        warn(f"no live node can serve compute target '{target.name}' ({target.request}; missing {target.missing}): "
             f"a job asking for it fails before anything runs. Add a node: {target.hint}")
