"""Generated pipelines for the benchmarks: chains and fan-outs of trivial steps."""

from __future__ import annotations

import json
import os
import time
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


def wait_for_standby(home: Path, tree: Path, timeout: float = 60.0) -> float:
    """Wait until the warm Ray's standby driver listens (a tree that has one): the steady state of
    a person who reruns after a change, seconds after the last run. Returns the seconds waited."""
    if not (tree / "app" / "standby.py").exists():
        return 0.0
    started = time.monotonic()
    marker = home / "ray" / "standby.json"
    while time.monotonic() - started < timeout:
        try:
            os.kill(json.loads(marker.read_text())["pid"], 0)
            return time.monotonic() - started
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"no standby driver listened within {timeout:g} s; see {home / 'ray' / 'keeper.log'}")
