"""Generated pipelines for the benchmarks: chains and fan-outs of trivial steps."""

from __future__ import annotations

from pathlib import Path

from components.spec import (
    ComponentSpec,
    FunctionEntry,
    InputSpec,
    JobOutput,
    JobSpec,
    LiteralValue,
    OutputSpec,
    PipelineSpec,
)

HERE = Path(__file__).resolve().parent

LINK = ComponentSpec(
    name="link", version="1", kind="function", code=HERE / "fn", function=FunctionEntry("bench_steps", "link"),
    inputs={"i": InputSpec("i", "integer"), "prev": InputSpec("prev", "uri_folder", optional=True)},
    outputs={"out": OutputSpec("out")})


def function_chain(n: int) -> PipelineSpec:
    jobs = {}
    for i in range(n):
        inputs = {"i": LiteralValue(i)}
        if i:
            inputs["prev"] = JobOutput(f"s{i - 1}", "out")
        jobs[f"s{i}"] = JobSpec(f"s{i}", LINK, inputs)
    return PipelineSpec(name=f"bench_chain_{n}", jobs=jobs)


def function_fanout(n: int) -> PipelineSpec:
    jobs = {"root": JobSpec("root", LINK, {"i": LiteralValue(-1)})}
    for i in range(n):
        jobs[f"s{i}"] = JobSpec(f"s{i}", LINK, {"i": LiteralValue(i), "prev": JobOutput("root", "out")})
    return PipelineSpec(name=f"bench_fanout_{n}", jobs=jobs)


STEP_YML = """type: command
name: bench_step
version: 1
inputs:
  i: {type: integer}
  prev: {type: uri_folder, optional: true}
outputs:
  out: {type: uri_folder}
command: echo ${{inputs.i}} > ${{outputs.out}}/i.txt $[[; cat ${{inputs.prev}}/i.txt > /dev/null]]
"""


def write_command_chain(folder: Path, n: int) -> Path:
    """A pipeline YAML of ``n`` trivial command steps in a chain, with its component file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.yml").write_text(STEP_YML)
    lines = ["type: pipeline", f"name: bench_command_chain_{n}", "jobs:"]
    for i in range(n):
        lines += [f"  s{i}:", "    type: command", "    component: ./step.yml", "    inputs:", f"      i: {i}"]
        if i:
            lines.append(f"      prev: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}")
    path = folder / "pipeline.yml"
    path.write_text("\n".join(lines) + "\n")
    return path
