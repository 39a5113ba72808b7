"""``--json`` stdout carries exactly one JSON object, whatever Ray or a step prints: while a
``--json`` run executes, descriptor 1 is stderr and only the JSON reaches the real stdout
(app/cli/common.py ``stdout_reserved_for_json``)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def _function_pipeline(folder: Path, name: str, body: str) -> Path:
    """A one-job pipeline whose job is the function component ``steps:<name>``."""
    (folder / "fn").mkdir(parents=True, exist_ok=True)
    (folder / "fn" / "steps.py").write_text("import os\nimport sys\n\n\ndef " + name + "() -> None:\n"
                                            + textwrap.indent(textwrap.dedent(body), "    "))
    (folder / f"{name}.yml").write_text(f"type: command\nname: jc_{name}\nversion: 1\ncode: ./fn\n"
                                        f"function: steps:{name}\n")
    path = folder / f"{name}_pipeline.yml"
    path.write_text(f"type: pipeline\nname: jc_{name}_pipeline\njobs:\n  {name}:\n    component: ./{name}.yml\n")
    return path


def test_a_worker_killed_mid_step_leaves_stdout_one_json_object_and_rays_notice_on_stderr(cli, tmp_path):
    # The step kills its own Ray worker (SIGKILL): Ray's driver prints "(raylet) A worker died ...".
    pipeline = _function_pipeline(tmp_path / "p", "die", """
        print("about to die", flush=True)
        os.kill(os.getpid(), 9)
    """)
    done = cli("run", pipeline, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(done.stdout)  # exactly one JSON document, nothing before or after
    assert data["status"] == "failed" and data["steps"][0]["status"] == "failed"
    assert "A worker died" in done.stderr
    assert "A worker died" not in done.stdout


def test_an_in_process_function_step_printing_on_stdout_and_descriptor_1_leaves_stdout_clean(cli, tmp_path):
    pipeline = _function_pipeline(tmp_path / "p", "chatty", """
        print("printed by the step", flush=True)
        os.write(1, b"written to descriptor 1 by the step\\n")
        print("printed on stderr by the step", file=sys.stderr, flush=True)
    """)
    done = cli("run", pipeline, "--json", "--in-process")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "completed"
    assert "written to descriptor 1 by the step" in done.stderr  # a C library's write would go there too
    log = Path(data["steps"][0]["log"]).read_text()
    assert "printed by the step" in log and "printed on stderr by the step" in log


def test_component_run_json_is_clean_too(cli, tmp_path):
    module = tmp_path / "loud.py"
    module.write_text(textwrap.dedent("""
        import os

        from components.sdk import command_component

        @command_component()
        def loud() -> int:
            os.write(1, b"descriptor 1 noise\\n")
            return 7
    """))
    done = cli("component", "run", f"{module}:loud", "--json", "--in-process")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    assert "descriptor 1 noise" in done.stderr
