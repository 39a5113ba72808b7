"""``ductwork runs``: list, show, logs, output, cancel, compare and clone previous runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from app.cli.common import JSON_OPTION, console, note, print_json, print_table, workspace

__all__ = ["app", "TOP_LEVEL"]

app = typer.Typer(no_args_is_help=True)
TOP_LEVEL: tuple = ()


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _took(start: float | None, end: float | None) -> str:
    return f"{end - start:.1f}s" if start and end else ""


@app.command("list")
def list_(
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help="Only runs of this pipeline."),  # noqa: UP045
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status."),  # noqa: UP045
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many runs (newest first)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List runs, newest first."""
    from app.services.runs import iso_time, list_runs, run_costs_of
    from engine.records import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        from components.errors import DuctworkError

        raise DuctworkError(f"status '{status}' is not a run status; use one of {', '.join(RUN_STATUSES)}")
    runs = list_runs(workspace(), pipeline=pipeline, status=status, limit=limit)
    if as_json:
        costs = run_costs_of(workspace(), [r.id for r in runs])
        print_json([{"id": r.id, "pipeline": r.pipeline, "version": r.version, "status": r.status,
                     "started_at": iso_time(r.started_at), "ended_at": iso_time(r.ended_at), "params": r.params,
                     "host": r.host, **costs[r.id].to_dict()}
                    for r in runs])
        return
    print_table(None, ("run", "pipeline", "version", "status", "started", "took"),
                ((r.id, r.pipeline, r.version or "", r.status, _when(r.started_at), _took(r.started_at, r.ended_at))
                 for r in runs), empty="no runs yet — start one with `ductwork run PIPELINE.yml`")


@app.command("show")
def show(run_id: str = typer.Argument(..., help="Run id (its unique start or end is enough)."),
         as_json: bool = JSON_OPTION) -> None:
    """Show one run: its steps, why each ran or was reused, outputs and metrics."""
    from app.services.runs import get_run, run_to_json
    from engine.costs import describe_costs, run_costs

    ws = workspace()
    details = get_run(ws, run_id)
    if as_json:
        data = run_to_json(ws, details.run, details.steps)
        for step in data["steps"]:
            step["metrics"] = [{"name": m.name, "value": m.value, "step": m.step}
                               for m in details.metrics.get(step["name"], [])]
        print_json(data)
        return
    r = details.run
    console.print(Text.assemble((f"run {r.id}", "bold"), f"  {r.pipeline}"
                                f"{':' + r.version if r.version else ''}  {r.status}  "
                                f"started {_when(r.started_at)}  took {_took(r.started_at, r.ended_at)}"))
    if r.params:
        note("params: " + ", ".join(f"{k}={v}" for k, v in r.params.items()))
    if r.error:
        note(f"error: {r.error}")
    note(describe_costs(run_costs(details.steps)))
    print_table(None, ("step", "status", "compute", "node", "duration", "why", "outputs"),
                ((s.job, s.status, s.compute, (s.node_id or "")[:12], f"{s.duration_s:.2f}s" if s.duration_s else "",
                  s.error if s.status == "failed" else s.reason, "\n".join(details.output_paths[s.job].values()))
                 for s in details.steps))
    for job, metrics in details.metrics.items():
        note(f"metrics of {job}: " + ", ".join(f"{m.name}={m.value:g}" + (f"@{m.step}" if m.step is not None else "")
                                               for m in metrics))


@app.command("logs")
def logs(run_id: str = typer.Argument(..., help="Run id (its unique start or end is enough)."),
         job: str = typer.Argument(..., help="The job whose log to print."),
         tail: Optional[int] = typer.Option(None, "--tail", "-n", help="Only the last N lines."),  # noqa: UP045
         follow: bool = typer.Option(False, "--follow", "-f", help="Print the last lines (10, or --tail N), then "
                                     "what the step writes, until it ends."),
         ) -> None:
    """Print a step's log: its stdout and stderr, including its subprocesses."""
    from app.services.runs import follow_step_log, step_log

    if follow:
        for chunk in follow_step_log(workspace(), run_id, job, tail or 10):
            typer.echo(chunk, nl=False)
        return
    text = step_log(workspace(), run_id, job, tail)
    typer.echo(text, nl=not text.endswith("\n"))


@app.command("output")
def output(run_id: str = typer.Argument(..., help="Run id (its unique start or end is enough)."),
           job: str = typer.Argument(..., help="The job whose output it is."),
           name: Optional[str] = typer.Argument(None, help="The output (default: the job's only one)."),  # noqa: UP045
           as_json: bool = JSON_OPTION) -> None:
    """Print the local path of a step's output; one kept in an object store (S3, a shared folder)
    is fetched into this machine's cache first (a second fetch is free)."""
    from app.services.runs import fetch_output, get_run
    from components.errors import DuctworkError
    from components.fields import did_you_mean

    details = get_run(workspace(), run_id)
    step = next((s for s in details.steps if s.job == job), None)
    if step is None:
        raise DuctworkError(f"run {details.run.id} has no job '{job}'.{did_you_mean(job, [s.job for s in details.steps])}")
    if not step.outputs:
        raise DuctworkError(f"job '{job}' of run {details.run.id} has no committed outputs (it {step.status})")
    if name is None and len(step.outputs) > 1:
        raise DuctworkError(f"job '{job}' has {len(step.outputs)} outputs ({', '.join(step.outputs)}): name one")
    name = name or next(iter(step.outputs))
    if name not in step.outputs:
        raise DuctworkError(f"job '{job}' has no output '{name}'.{did_you_mean(name, step.outputs)} "
                            f"Its outputs: {', '.join(step.outputs)}")
    path = fetch_output(workspace(), step.outputs[name])
    if as_json:
        print_json({"run": details.run.id, "job": job, "output": name, "digest": step.outputs[name].digest,
                    "path": str(path)})
    else:
        typer.echo(str(path))


@app.command("cancel")
def cancel(run_id: str = typer.Argument(..., help="Run id (its unique start or end is enough).")) -> None:
    """Cancel a running run: its driver stops every step and records the run as cancelled."""
    from app.services.runs import cancel_run

    if cancel_run(workspace(), run_id):
        note(f"asked run {run_id} to cancel")
    else:
        note(f"run {run_id}'s driver was gone; marked interrupted")


@app.command("compare")
def compare(a: str = typer.Argument(...), b: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Compare two runs: parameters, and per step status, signature, duration and metrics."""
    from app.services.runs import compare_runs

    diff = compare_runs(workspace(), a, b)
    if as_json:
        print_json(diff)
        return
    for k, v in diff["params"].items():
        note(f"param {k}: {v['a']} → {v['b']}")
    print_table(None, ("step", "status a", "status b", "same signature", "duration a", "duration b"),
                ((s["name"], s["status"]["a"], s["status"]["b"], "yes" if s["same_signature"] else "no",
                  s["duration_s"]["a"], s["duration_s"]["b"]) for s in diff["steps"]))


@app.command("clone")
def clone(
    run_id: str = typer.Argument(..., help="Run id (its unique start or end is enough)."),
    name: Optional[str] = typer.Option(  # noqa: UP045
        None, "--name", help="Register the clone under this pipeline name (default: the run's pipeline)."),
    output: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--output", "-o", help="Write the clone as YAML to this file (registers nothing unless --name is given)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recreate a run's pipeline — the exact version it ran, its parameters as input values — to edit and run.

    Registers it as a new pipeline version that remembers the run (`cloned_from_run`), or with
    --output writes it as a YAML file.
    """
    from app.services.clones import clone_run, clone_yaml

    ws = workspace()
    result: dict = {"run": run_id}
    if output is not None:
        output.write_text(clone_yaml(ws, run_id, name), encoding="utf-8")
        result["output"] = str(output)
        note(f"wrote {output}: edit it, then `ductwork run {output}`", as_json=as_json)
    if output is None or name:
        from app.services.pipelines import pipeline_to_json

        registration = clone_run(ws, run_id, name)
        record = registration.pipeline
        result |= {"pipeline": pipeline_to_json(record, with_spec=False), "created": registration.created}
        if registration.created:
            note(f"registered pipeline '{record.ref}' (cloned from run {record.cloned_from_run}); "
                 f"edit it in the designer or `ductwork pipeline export {record.ref} -o p.yml`, "
                 f"run it with `ductwork run {record.ref}`", as_json=as_json)
        else:
            note(f"pipeline '{record.ref}' already is exactly this run's pipeline and parameters; "
                 "nothing new was registered (give --name to start a new pipeline)", as_json=as_json)
    if as_json:
        print_json(result)
