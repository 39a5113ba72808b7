"""Compare two runs from their records: the pipeline version each ran, the run's input values,
and per step (matched by job name) the parameters it actually ran with, its component
``name:version``, the digest of its code, its inputs' data, its environment, compute target,
status and whether it was reused — and the last value of every metric.

Pure over the run records (:func:`compare_records`); :func:`compare_runs` reads them. The
Compare page shows the result; nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import blake3

from app.services.runs import RunDetails, get_run
from app.services.workspace import Workspace
from engine.records import MetricRecord, RunRecord, StepRunRecord, StepStatus

__all__ = [
    "CONFIGURATION_FIELDS",
    "FieldDiff",
    "MetricDiff",
    "RunComparison",
    "StepComparison",
    "code_digest_of",
    "compare_records",
    "compare_runs",
    "pipeline_ref",
]

#: The step fields that describe what a step was asked to do (as opposed to what happened:
#: status and reuse). Two runs with the same configuration computed the same thing.
CONFIGURATION_FIELDS = ("component", "code", "environment", "compute")
_SHORT = 12


@dataclass(frozen=True)
class FieldDiff:
    """One compared field: ``field`` is e.g. ``parameter learning_rate``, ``component``, ``code``,
    ``input training_data``, ``compute``, ``status``, ``reused``; ``a``/``b`` are the values shown
    (``None``: absent in that run); ``note`` says more when it helps (which code files changed)."""

    field: str
    a: Any
    b: Any
    note: str = ""

    @property
    def differs(self) -> bool:
        return self.a != self.b

    @property
    def configuration(self) -> bool:
        """Whether the field is what the run or step was asked to do, not how it went."""
        kind = self.field.split(" ", 1)[0]
        return kind in ("parameter", "input") or self.field in CONFIGURATION_FIELDS


@dataclass(frozen=True)
class StepComparison:
    """One job of the two runs, matched by name; ``in_a``/``in_b``: whether each run has it."""

    job: str
    in_a: bool
    in_b: bool
    fields: tuple[FieldDiff, ...]

    @property
    def differences(self) -> tuple[FieldDiff, ...]:
        return tuple(f for f in self.fields if f.differs)

    @property
    def differs(self) -> bool:
        return bool(self.differences) or self.in_a != self.in_b


@dataclass(frozen=True)
class MetricDiff:
    """The last logged value of one metric of one step in each run (``None``: not logged)."""

    job: str
    metric: str
    a: float | None
    b: float | None

    @property
    def differs(self) -> bool:
        return self.a != self.b

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class RunComparison:
    """What two runs ran and how it went, field by field (every field, differing or not)."""

    a: str
    b: str
    pipeline_a: str
    pipeline_b: str
    run_fields: tuple[FieldDiff, ...]  #: one per pipeline input (``field`` is its name)
    steps: tuple[StepComparison, ...]
    metrics: tuple[MetricDiff, ...]

    @property
    def same_pipeline(self) -> bool:
        return self.pipeline_a == self.pipeline_b

    @property
    def run_differences(self) -> tuple[FieldDiff, ...]:
        return tuple(f for f in self.run_fields if f.differs)

    def step_differences(self) -> list[tuple[str, FieldDiff]]:
        """``(job, field)`` for every step field that differs, in step order."""
        return [(s.job, f) for s in self.steps for f in s.differences]

    @property
    def metric_differences(self) -> tuple[MetricDiff, ...]:
        return tuple(m for m in self.metrics if m.differs)

    @property
    def same_configuration(self) -> bool:
        """Same pipeline version, input values, and per step the same parameters, inputs,
        component, code, environment and compute (status, reuse and metrics may differ)."""
        return (self.same_pipeline and not self.run_differences
                and all(s.in_a == s.in_b for s in self.steps)
                and not any(f.configuration for _, f in self.step_differences()))

    @property
    def identical(self) -> bool:
        """Nothing compared differs: configuration, every step's status and reuse, and metrics."""
        return (self.same_pipeline and not self.run_differences
                and not any(s.differs for s in self.steps) and not self.metric_differences)


def pipeline_ref(run: RunRecord) -> str:
    """``name:version`` of the pipeline a run ran (its name alone when it was not registered)."""
    return f"{run.pipeline}:{run.version}" if run.version else run.pipeline


def code_digest_of(ingredients: Mapping[str, Any] | None) -> str | None:
    """The digest of a step's code from its recorded code manifest (relative path → file
    digest), computed as :func:`components.digest.files_digest` computes it from the files;
    ``None`` when nothing was recorded (a step that did not start) or it has no code."""
    manifest = (ingredients or {}).get("code_manifest") or {}
    if not manifest:
        return None
    hasher = blake3.blake3()
    for rel in sorted(manifest):
        hasher.update(rel.encode("utf-8") + b"\0" + str(manifest[rel]).encode("ascii") + b"\n")
    return hasher.hexdigest()


def compare_runs(ws: Workspace, run_a: str, run_b: str) -> RunComparison:
    """Compare two runs of the workspace (a unique start or end of an id is enough)."""
    return compare_records(get_run(ws, run_a), get_run(ws, run_b))


def compare_records(a: RunDetails, b: RunDetails) -> RunComparison:
    """Compare two runs' records (see the module docstring)."""
    pa, pb = pipeline_ref(a.run), pipeline_ref(b.run)
    # a run records its pipeline inputs, parameters and data paths alike, by input name
    run_fields = [FieldDiff(k, a.run.params.get(k), b.run.params.get(k))
                  for k in sorted(set(a.run.params) | set(b.run.params))]
    by_a, by_b = {s.job: s for s in a.steps}, {s.job: s for s in b.steps}
    steps = tuple(_compare_step(job, by_a.get(job), by_b.get(job)) for job in dict.fromkeys([*by_a, *by_b]))
    metrics = tuple(
        MetricDiff(job, name, ma.get(name), mb.get(name))
        for job in dict.fromkeys([*by_a, *by_b, *a.metrics, *b.metrics])
        for ma, mb in [(_last(a.metrics.get(job, [])), _last(b.metrics.get(job, [])))]
        for name in sorted(set(ma) | set(mb))
    )
    return RunComparison(a.run.id, b.run.id, pa, pb, tuple(run_fields), steps, metrics)


def _last(records: Iterable[MetricRecord]) -> dict[str, float]:
    return {m.name: m.value for m in records}  # ordered by time: the last one wins


def _compare_step(job: str, x: StepRunRecord | None, y: StepRunRecord | None) -> StepComparison:
    ix, iy = (s.ingredients or {} if s else {} for s in (x, y))
    fields = [FieldDiff("component", _component(x), _component(y))]
    cx, cy = code_digest_of(ix), code_digest_of(iy)
    fields.append(FieldDiff("code", cx and cx[:_SHORT], cy and cy[:_SHORT], _changed_files(ix, iy) if cx != cy else ""))
    px, py = ix.get("parameters") or {}, iy.get("parameters") or {}
    fields += [FieldDiff(f"parameter {k}", px.get(k), py.get(k)) for k in sorted(set(px) | set(py))]
    dx, dy = ix.get("inputs") or {}, iy.get("inputs") or {}
    sx, sy = ix.get("input_sources") or {}, iy.get("input_sources") or {}
    fields += [FieldDiff(f"input {k}", _data(dx.get(k)), _data(dy.get(k)), _sources(sx.get(k), sy.get(k)))
               for k in sorted(set(dx) | set(dy))]
    fields.append(FieldDiff("environment", _environment(ix), _environment(iy)))
    fields.append(FieldDiff("compute", x.compute if x else None, y.compute if y else None))
    fields.append(FieldDiff("status", x.status if x else None, y.status if y else None))
    fields.append(FieldDiff("reused", _reused(x), _reused(y)))
    return StepComparison(job, x is not None, y is not None, tuple(fields))


def _component(step: StepRunRecord | None) -> str | None:
    if step is None:
        return None
    ing = step.ingredients or {}
    if ing.get("component"):
        return f"{ing['component']}:{ing['version']}" if ing.get("version") else str(ing["component"])
    return step.component or None


def _changed_files(ix: Mapping[str, Any], iy: Mapping[str, Any], most: int = 5) -> str:
    mx, my = ix.get("code_manifest") or {}, iy.get("code_manifest") or {}
    changed = sorted(p for p in set(mx) | set(my) if mx.get(p) != my.get(p))
    if not changed:
        return ""
    shown = ", ".join(p if p in mx and p in my else (f"+{p}" if p in my else f"-{p}") for p in changed[:most])
    return "changed: " + shown + (f" and {len(changed) - most} more" if len(changed) > most else "")


def _data(digest: str | None) -> str | None:
    return digest[:_SHORT] if digest else None


def _environment(ing: Mapping[str, Any]) -> str | None:
    """The environment in words with what tells two apart: the Python version and, for a built
    environment, the end of its content digest (two pip requirement files are both "pip requirements")."""
    words, fingerprint = ing.get("environment_source") or "", str(ing.get("environment") or "")
    if not (words or fingerprint):
        return None
    python, _, rest = fingerprint.partition("/cache-")
    content = rest.split("/", 1)[1] if "/" in rest else ""
    detail = ", ".join(filter(None, [python, content[-_SHORT:]]))
    return f"{words} ({detail})" if words and detail else (words or fingerprint)


def _sources(sx: str | None, sy: str | None) -> str:
    """Where each run's data came from, when it was not the same place."""
    if sx == sy:
        return f"from {_source(sx)}" if sx else ""
    return f"from {_source(sx)} / {_source(sy)}"


def _source(source: str | None) -> str:
    if not source:
        return "—"
    kind, _, where = source.partition(":")
    return f"upstream {where}" if kind == "job" else where if kind == "path" else source


def _reused(step: StepRunRecord | None) -> str | None:
    if step is None:
        return None
    if step.status == StepStatus.REUSED:
        return f"yes (from run {step.reused_from})" if step.reused_from else "yes"
    return "no"
