"""Validating files as ``ductwork validate`` does: components by themselves, pipelines against
the registered components and the workspace's compute targets, one report per file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.services.components import classify_file, collect_files, load_component_source, warning_text
from app.services.pipelines import check_pipeline
from app.services.workspace import Workspace
from components.errors import Problem, ValidationError
from registry.errors import NotFoundError

__all__ = ["FileReport", "validate_paths"]


@dataclass
class FileReport:
    """The outcome of validating one file: what it is, and every problem and warning in it."""

    path: Path
    kind: str | None = None  #: "component", "pipeline", "python" or None when unreadable
    refs: list[str] = field(default_factory=list)  #: component ``name:version`` or pipeline name
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "ok": self.ok,
            "refs": self.refs,
            "problems": [
                {"message": p.message, "file": p.file, "job": p.job, "field": p.field, "line": p.line,
                 "column": p.column, "text": str(p)}
                for p in self.problems
            ],
            "warnings": self.warnings,
            "message": str(ValidationError(self.problems)) if self.problems else "",
        }



def validate_paths(ws: Workspace, paths: Iterable[str | Path]) -> list[FileReport]:
    """Check every file in ``paths``: components by themselves, pipelines against the registered
    components and the workspace's compute targets. One report per file, every problem in it."""
    paths = list(paths)
    explicit = {Path(p).expanduser().absolute() for p in paths}
    files, problems = collect_files(paths, exclude=ws.home)
    reports = [FileReport(Path(p.file or "?"), problems=[p]) for p in problems]
    for path in files:
        report = FileReport(path)
        try:
            source = classify_file(path)
            if source.kind == "other" and path not in explicit:
                continue  # a folder's other YAML files (conda environments, data specs) are not ours
            report.kind = source.kind
            if source.kind == "pipeline":
                spec, issues = check_pipeline(ws, source.path, data=source.data)
                report.refs.append(spec.name)  # the validator's warnings include the loader's
                report.problems.extend(p for p in issues if p.severity != "warning")
                report.warnings.extend(warning_text(p) for p in issues if p.severity == "warning")
            elif source.kind in ("component", "python"):
                for spec in load_component_source(source):
                    report.refs.append(spec.ref)
                    report.warnings.extend(f"{path}: {w}" for w in spec.warnings)
            else:
                report.problems.append(Problem(
                    "not a component or pipeline: expected 'type: command' (a component) or 'type: pipeline' "
                    "with 'jobs'", file=str(path),
                ))
        except ValidationError as exc:
            report.problems.extend(exc.problems)
        except NotFoundError as exc:
            report.problems.append(Problem(str(exc), file=str(path)))
        reports.append(report)
    return reports
