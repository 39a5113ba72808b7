"""Values are data, never code: every substituted value reaches a command step as exactly its
bytes, in every shell position, through the real bash (engine/command.py, engine/shell.py);
and one placeholder grammar serves validation and substitution (components/placeholders.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_cli_run import cli
from test_engine_support import Harness, command, data_in, single_job, step

from components.errors import DuctworkError, ValidationError
from components.loader import component_from_dict
from components.pipeline_loader import load_pipeline_file
from components.spec import ExternalData, InputSpec, OutputSpec
from engine.command import render_command
from engine.runtime import StepTask, run_step

HOSTILE = [
    "a b; touch pwned",
    "it's \"quoted\" and 'single'",
    "$(touch pwned) `touch pwned` ${HOME} $HOME $1 $'\\n'",
    "*",
    "line one\nline two\n",
    "-n",
    "--flag=x y",
    "",
    " leading and trailing ",
    "back\\slash \\\" \\' end\\",
    "tab\there; exit 3 # not a comment",
    "}}${{inputs.m}}",
    "ünïcødé ✓",
]

#: Writes its arguments (after the output folder) to argv.json in the output folder.
DUMP = "python -c 'import json, sys; json.dump(sys.argv[2:], open(sys.argv[1] + \"/argv.json\", \"w\"))'"
POSITIONS = (
    "${{inputs.m}} \"${{inputs.m}}\" '${{inputs.m}}' --m=${{inputs.m}} ${{inputs.m}}_${{inputs.m}} "
    "\"pre ${{inputs.m}} post\" 'pre ${{inputs.m}} post' $'ansi ${{inputs.m}}' \"$(printf %s \"${{inputs.m}}\")\""
)


def expected(v: str) -> list[str]:
    return [v, v, v, f"--m={v}", f"{v}_{v}", f"pre {v} post", f"pre {v} post", f"ansi {v}", v.rstrip("\n")]


def run_rendered(tmp_path: Path, template: str, inputs: dict, paths: set[str] | None = None) -> tuple[list, str]:
    """Render ``template`` (``${{outputs.out}}`` is a fresh folder) and run it with run_step."""
    area, out = tmp_path / "area", tmp_path / "out dir"
    area.mkdir()
    out.mkdir()
    rendered = render_command(template, inputs, {"out": str(out)}, paths or set(), "j", "c:1")
    task = StepTask(run_id="r1", job="j", kind="command", area=str(area), log_path=str(tmp_path / "j.log"),
                    command=rendered.script, values=rendered.values, display=rendered.display,
                    output_dirs={"out": str(out)}, capture_fds=False, mark_start=False)
    outcome = run_step(task)
    log = (tmp_path / "j.log").read_text()
    assert outcome.ok, log
    return json.loads((out / "argv.json").read_text()), log


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_value_reaches_the_program_as_its_bytes_in_every_position(tmp_path, value):
    argv, _ = run_rendered(tmp_path, f"{DUMP} ${{{{outputs.out}}}} {POSITIONS}", {"m": value})
    assert argv == expected(value)
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_the_display_in_the_log_is_readable_and_means_what_ran(tmp_path):
    value = "a b; touch pwned"
    argv, log = run_rendered(tmp_path, f"{DUMP} ${{{{outputs.out}}}} {POSITIONS}", {"m": value})
    line = next(x for x in log.splitlines() if x.startswith("# command: "))
    assert "--m='a b; touch pwned'" in line and "DUCTWORK_VALUE" not in line
    display = line.removeprefix("# command: ")
    out = tmp_path / "out dir"
    (out / "argv.json").unlink()
    subprocess.run(["bash", "-c", display], check=True, cwd=tmp_path)  # the display, run as it is
    assert json.loads((out / "argv.json").read_text()) == argv
    assert not list(tmp_path.rglob("pwned"))


def test_parameters_keep_azure_formatting_and_paths_with_spaces_are_one_word(tmp_path):
    data = tmp_path / "my data" / "x; y"
    argv, _ = run_rendered(
        tmp_path, f"{DUMP} ${{{{outputs.out}}}} ${{{{inputs.on}}}} ${{{{inputs.off}}}} ${{{{inputs.lr}}}} "
                  f"${{{{inputs.n}}}} ${{{{inputs.my-data}}}} ${{{{inputs.my.param}}}}",
        {"on": True, "off": False, "lr": 0.01, "n": 3, "my-data": str(data), "my.param": "dotted"}, {"my-data"})
    assert argv == ["True", "False", "0.01", "3", str(data), "dotted"]


def test_python_c_reads_a_value_inside_its_code_and_as_an_argument(tmp_path):
    template = ("python -c \"import json, sys; json.dump(['${{inputs.m}}', sys.argv[2]], "
                "open(sys.argv[1] + '/argv.json', 'w'))\" ${{outputs.out}} ${{inputs.m}}")
    argv, _ = run_rendered(tmp_path, template, {"m": "a b $(touch pwned)"})
    assert argv == ["a b $(touch pwned)", "a b $(touch pwned)"]
    assert not list(tmp_path.rglob("pwned"))


def test_here_documents_comments_and_backslashes(tmp_path):
    value = "x'y\"z $(touch pwned)"
    template = (f"cat > ${{{{outputs.out}}}}/doc.txt <<EOF\n[${{{{inputs.m}}}}] \\${{{{inputs.m}}}}\nEOF\n"
                f"# a comment with ${{{{inputs.m}}}}; touch pwned\n"
                f"{DUMP} ${{{{outputs.out}}}} \\${{{{inputs.m}}}} \"\\${{{{inputs.m}}}}\" \\\\${{{{inputs.m}}}}")
    argv, _ = run_rendered(tmp_path, template, {"m": value})
    assert (tmp_path / "out dir" / "doc.txt").read_text() == f"[{value}] \\{value}\n"
    assert argv == [value, "\\" + value, "\\" + value]
    assert not list(tmp_path.rglob("pwned"))


def test_a_value_in_a_quoted_here_document_is_refused_with_the_fix():
    with pytest.raises(DuctworkError, match=r"quoted here-document \(<<'EOF'\).*Write <<EOF"):
        render_command("cat <<'EOF'\n${{inputs.m}}\nEOF", {"m": "x"}, {}, set(), "j", "c:1")


def test_optional_blocks_still_drop_and_keep(tmp_path):
    template = f"{DUMP} ${{{{outputs.out}}}} $[[--extra ${{{{inputs.extra}}}}]] $[[--gone ${{{{inputs.unset}}}}]]"
    argv, _ = run_rendered(tmp_path, template, {"extra": "a b"})
    assert argv == ["--extra", "a b"]


def test_a_job_through_the_scheduler_gets_its_values_and_its_own_environment(tmp_path):
    h = Harness(tmp_path)
    data = tmp_path / "in put"
    data.mkdir()
    (data / "f.txt").write_text("F")
    comp = command("dump", f"{DUMP} ${{{{outputs.out}}}} ${{{{inputs.msg}}}} '${{{{inputs.my-data}}}}' \"$MY_VAR\"",
                   None, {"msg": InputSpec("msg", "string"), "my-data": data_in("my-data")},
                   {"out": OutputSpec("out")})
    job = single_job(comp, {"msg": "a b; touch pwned", "my-data": ExternalData(str(data), "uri_folder")},
                     environment_variables={"MY_VAR": "$(touch pwned)"})
    only = step(h.run(job), "only")
    assert only.status == "completed", only.error
    argv = json.loads((h.artifacts.path(only.outputs["out"].digest) / "argv.json").read_text())
    assert argv[0] == "a b; touch pwned" and os.path.basename(argv[1]) == "in put" and argv[2] == "$(touch pwned)"
    assert not list(tmp_path.rglob("pwned"))


def component(command_text: str) -> dict:
    return {"name": "c", "version": 1, "command": command_text,
            "inputs": {"message": {"type": "string"}, "my-data": {"type": "uri_folder"}}, "outputs": {"out": {}}}


@pytest.mark.parametrize("text, fragment", [
    ("${{inputs.nope}}", "uses '${{inputs.nope}}', but input 'nope' is not declared. Declared inputs: message, my-data."),
    ("${{inputs.mesage}}", "but input 'mesage' is not declared. Did you mean 'message'?"),
    ("${{input.message}}", "which is not a placeholder. Write 'inputs', plural: ${{inputs.message}}"),
    ("${{outputs}}", "which is not a placeholder. Name the output: ${{outputs.out}}"),
    ("${{inputs.out}}", "but 'out' is declared as an output, not an input; write ${{outputs.out}}"),
    ("${{inptus.message}}", "Did you mean ${{inputs.message}}?"),
    ("${{parent.inputs.x}}", "a component's command uses ${{inputs.NAME}} or ${{outputs.NAME}}"),
    ("${{inputs.message}", "with no closing '}}'"),
])
def test_an_unknown_placeholder_is_refused_at_validation_with_its_location(tmp_path, text, fragment):
    with pytest.raises(ValidationError) as err:
        component_from_dict(component(f"echo {text}"), tmp_path, source=tmp_path / "c.yml")
    [problem] = err.value.problems
    assert fragment in problem.message and problem.message.startswith("component 'c:1' command ")
    assert (problem.file, problem.field) == (str(tmp_path / "c.yml"), "command")


def test_hyphenated_and_dotted_names_validate_and_substitute(tmp_path):
    spec = component_from_dict(component("echo ${{inputs.my-data}} ${{ inputs.message }} ${{outputs.out}}"), tmp_path)
    rendered = render_command(spec.command or "", {"my-data": "/d", "message": "m"}, {"out": "/o"}, {"my-data"})
    assert rendered.display == "echo /d m /o" and "${{" not in rendered.script


def test_an_inline_job_with_an_unknown_placeholder_is_located_at_the_pipeline_file_and_job(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("type: pipeline\njobs:\n  greet:\n    command: echo ${{inputs.nope}}\n"
                    "    inputs:\n      msg: hi\n")
    with pytest.raises(ValidationError) as err:
        load_pipeline_file(path)
    [problem] = err.value.problems
    assert (problem.file, problem.job, problem.field) == (str(path), "greet", "command")
    assert "but input 'nope' is not declared. Declared inputs: msg." in problem.message


def test_ductwork_run_set_passes_a_hostile_string_as_data(tmp_path):
    """End to end through the CLI: the step exits 0 only if it received the exact bytes."""
    check = "import sys; sys.exit(0 if sys.argv[1:] == [sys.argv[1]] * 3 == ['a b; touch pwned'] * 3 else 3)"
    (tmp_path / "echo.yml").write_text(
        "name: echo_msg\nversion: 1\ninputs:\n  msg: {type: string, default: hi}\n"
        f"command: python -c \"{check}\" ${{{{inputs.msg}}}} \"${{{{inputs.msg}}}}\" '${{{{inputs.msg}}}}'\n")
    (tmp_path / "p.yml").write_text(
        "type: pipeline\ninputs:\n  msg: hi\njobs:\n  say:\n    component: ./echo.yml\n"
        "    inputs:\n      msg: ${{parent.inputs.msg}}\n")
    result = cli(tmp_path / "ws", "run", str(tmp_path / "p.yml"), "--in-process", "--set", "msg=a b; touch pwned",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.rglob("pwned"))
