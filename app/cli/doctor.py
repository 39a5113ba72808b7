"""``ductwork doctor``: check the workspace's run store, artifacts and reuse manifests; repair them."""

from __future__ import annotations

import typer

from app.cli import common
from app.cli.common import EXIT_RUN_FAILED, JSON_OPTION, note, print_json, print_table

__all__ = ["TOP_LEVEL"]


def doctor(
    repair: bool = typer.Option(False, "--repair", help="Repair what was found (a damaged run store is moved "
                                "aside, never deleted)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check that the run store opens, that reuse manifests and reuse records agree, and that every manifest's artifacts exist; list leftovers.

    With --repair: a damaged run store is renamed runs.duckdb.damaged-<time> and a new one is made with the reuse records of the manifests; manifests whose artifacts are gone are removed; records without a manifest get one.

    Exit code 0 when healthy (or, with --repair, when everything found was repaired), 1 when problems remain.
    """
    from app.services.doctor import check_workspace, open_for_doctor

    if common._state["workspace"] is None:  # opened here: its open hooks may meet the damaged store
        common._state["workspace"] = open_for_doctor(common._state["home"])
    report = check_workspace(common.workspace(), repair=repair)
    if as_json:
        print_json(report.to_dict())
    else:
        if report.findings:
            print_table("ductwork doctor", ["finding", "subject", "detail", "what to do"],
                        [(("repaired: " if f.repaired else "" if f.problem else "notice: ") + f.kind, f.subject,
                          f.detail, f.fix) for f in report.findings])
        counts = ", ".join(f"{n} {k}" for k, n in report.counts.items())
        problems, repaired = len(report.problems), sum(f.repaired for f in report.problems)
        if not problems:
            note(f"healthy: {counts}")
        elif report.healthy:
            note(f"repaired {repaired} problem{'s' * (repaired != 1)}: {counts}")
        else:
            note(f"{problems} problem{'s' * (problems != 1)} found: {counts}; "
                 "run `ductwork doctor --repair` to repair them")
    if not report.healthy:
        raise typer.Exit(EXIT_RUN_FAILED)


def _register(cli: typer.Typer) -> None:
    cli.command("doctor")(doctor)


TOP_LEVEL = (_register,)
