"""``ductwork verify`` and ``ductwork gc``: check the stored outputs, and free what nothing keeps."""

from __future__ import annotations

from typing import Optional

import typer

from app.cli.common import EXIT_RUN_FAILED, JSON_OPTION, note, print_json, workspace

__all__ = ["TOP_LEVEL"]


def verify(
    run_id: Optional[str] = typer.Option(  # noqa: UP045  (Typer reads the annotation at runtime)
        None, "--run", help="Only the outputs of this run's steps (its unique start or end is enough)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-hash stored artifacts; evict corrupt or missing ones together with their reuse records.

    Every evicted artifact is listed with the job, run and output it was, and its expected and actual digest; the steps that made them rerun on their next run, saying why. Reuse checks each output's existence and size on every run; `ductwork run --verify` also re-hashes the outputs it reuses.

    Exit code 0 when every artifact checked is sound, 1 when corrupt or missing ones were found (and evicted), 2 for a run id that does not exist.
    """
    from app.services.store import describe_bytes, verify_artifacts

    report = verify_artifacts(workspace(), run_id)
    if as_json:
        print_json(report.to_dict())
    else:
        for bad in report.bad:
            for line in bad.lines():
                note(line)
        scope = f"the outputs of run {report.run_id}" if report.run_id else "every stored artifact"
        checked = (f"checked {report.checked} artifact{'s' * (report.checked != 1)} "
                   f"({describe_bytes(report.checked_bytes)}, {scope}) in {report.seconds:.1f} s")
        if report.ok:
            note(f"{checked}: all sound")
        else:
            records = len({s for b in report.bad for s in b.evicted_records})
            note(f"{checked}: {len(report.bad)} bad, evicted with {records} reuse record{'s' * (records != 1)}; "
                 "the steps that made them rerun on their next run")
    if not report.ok:
        raise typer.Exit(EXIT_RUN_FAILED)


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be freed; delete nothing."),
    older_than: Optional[str] = typer.Option(  # noqa: UP045
        None, "--older-than", metavar="AGE",
        help="First drop reuse records neither created nor reused within AGE (30d, 12h, 2w), then free "
             "what they held."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete artifacts that no kept record references, and the scratch folders of ended runs.

    Kept: every artifact a reuse record names (with --older-than, only the records created or reused within that age; the older ones are dropped first) and everything a running run holds: its steps' outputs, its scratch folders, and what was stored since it started. Prints what it freed: count and bytes.

    Exit code 0; 2 for a malformed --older-than.
    """
    from app.services.store import collect_garbage, parse_age

    age = parse_age(older_than) if older_than is not None else None
    report = collect_garbage(workspace(), dry_run=dry_run, older_than_s=age)
    if as_json:
        print_json(report.to_dict())
    else:
        note(report.summary())


def _register(cli: typer.Typer) -> None:
    cli.command("verify")(verify)
    cli.command("gc")(gc)


TOP_LEVEL = (_register,)
