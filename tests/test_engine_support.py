"""Helpers for the engine tests (no tests here): example components built as specs, and a
harness that runs pipelines against a real artifact store and a chosen run store/executor."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.spec import (
    ComponentSpec,
    ExternalData,
    FunctionEntry,
    InputSpec,
    JobOutput,
    JobSpec,
    LiteralValue,
    OutputSpec,
    ParentInput,
    PipelineInput,
    PipelineSettings,
    PipelineSpec,
)
from engine.artifacts import LocalArtifactStore
from engine.compute import ComputeSpec
from engine.executors import InProcessExecutor
from engine.graph import compile_pipeline
from engine.inputs import bind_pipeline_inputs
from engine.runstore import InMemoryRunStore
from engine.scheduler import RunResult, execute_run

RESOURCES = Path(__file__).parent / "resources" / "engine"


def copy_code(tmp_path: Path, which: str = "src") -> Path:
    """A private copy of an example code folder (tests edit scripts in it)."""
    target = tmp_path / which
    shutil.copytree(RESOURCES / which, target)
    return target


def make_data(tmp_path: Path, text: str = "hello") -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "a.txt").write_text(text)
    return data


def command(name: str, cmd: str, code: Path | None, inputs: dict[str, InputSpec] | None = None,
            outputs: dict[str, OutputSpec] | None = None, **kw: Any) -> ComponentSpec:
    return ComponentSpec(name=name, version="1", command=cmd, code=code, inputs=inputs or {},
                         outputs=outputs or {}, **kw)


def function(name: str, qualname: str, code: Path, inputs: dict[str, InputSpec] | None = None,
             outputs: dict[str, OutputSpec] | None = None, **kw: Any) -> ComponentSpec:
    return ComponentSpec(name=name, version="1", kind="function", code=code,
                         function=FunctionEntry("steps", qualname), inputs=inputs or {}, outputs=outputs or {}, **kw)


def data_in(name: str, type_: str = "uri_folder", **kw: Any) -> InputSpec:
    return InputSpec(name, type_, **kw)


def chain_pipeline(code: Path, data: Path, *, train_kw: dict[str, Any] | None = None,
                   settings: PipelineSettings | None = None, jobs_kw: dict[str, dict[str, Any]] | None = None
                   ) -> PipelineSpec:
    """prep → train → evaluate, and report (independent of train) reading prep's output.
    Each command component has its own code folder under ``code``."""
    jobs_kw = jobs_kw or {}
    prep = command("prep", "python prep.py ${{inputs.raw}} ${{outputs.clean}}", code / "prep",
                   {"raw": data_in("raw")}, {"clean": OutputSpec("clean")})
    train = command("train", "python train.py ${{inputs.data}} ${{inputs.lr}} ${{outputs.model}}", code / "train",
                    {"data": data_in("data"), "lr": InputSpec("lr", "number", default=0.01)},
                    {"model": OutputSpec("model")}, **(train_kw or {}))
    evaluate = command("evaluate", "python evaluate.py ${{inputs.model}} ${{outputs.score}}", code / "evaluate",
                       {"model": data_in("model")}, {"score": OutputSpec("score", "uri_file")})
    report = command("report", "ls ${{inputs.clean}} > ${{outputs.listing}}/files.txt", None,
                     {"clean": data_in("clean")}, {"listing": OutputSpec("listing")})
    return PipelineSpec(
        name="chain",
        inputs={"raw": PipelineInput("raw", "uri_folder", path=str(data)),
                "lr": PipelineInput("lr", "number", value=0.1)},
        settings=settings or PipelineSettings(),
        jobs={
            "prep": JobSpec("prep", prep, inputs={"raw": ParentInput("raw")}, **jobs_kw.get("prep", {})),
            "train": JobSpec("train", train, inputs={"data": JobOutput("prep", "clean"), "lr": ParentInput("lr")},
                             **jobs_kw.get("train", {})),
            "evaluate": JobSpec("evaluate", evaluate, inputs={"model": JobOutput("train", "model")},
                                **jobs_kw.get("evaluate", {})),
            "report": JobSpec("report", report, inputs={"clean": JobOutput("prep", "clean")},
                              **jobs_kw.get("report", {})),
        })


def single_job(component: ComponentSpec, inputs: dict[str, Any] | None = None, **job_kw: Any) -> PipelineSpec:
    binds = {k: v if isinstance(v, ExternalData) else LiteralValue(v) for k, v in (inputs or {}).items()}
    return PipelineSpec(name=f"single_{component.name}", jobs={"only": JobSpec("only", component, binds, **job_kw)})


class Harness:
    """Runs pipelines against one workspace-like folder (artifacts, tmp, logs) and one run store."""

    def __init__(self, root: Path, store: Any = None,
                 executor_factory: Callable[[], Any] = InProcessExecutor,
                 computes: dict[str, ComputeSpec] | None = None):
        self.root = root
        self.store = store if store is not None else InMemoryRunStore()
        self.artifacts = LocalArtifactStore(root / "artifacts", root / "tmp")
        self.logs = root / "logs"
        self.executor_factory = executor_factory
        self.computes = computes or {}

    def run(self, spec: PipelineSpec, params: dict[str, Any] | None = None, force: bool = False,
            **kw: Any) -> RunResult:
        graph = compile_pipeline(spec, computes=self.computes)
        return execute_run(graph, bind_pipeline_inputs(spec, params), store=self.store, artifacts=self.artifacts,
                           logs_dir=self.logs, executor_factory=self.executor_factory, force=force, **kw)


def statuses(result: RunResult) -> dict[str, str]:
    return {s.job: s.status for s in result.steps}


def step(result: RunResult, job: str):
    return next(s for s in result.steps if s.job == job)
