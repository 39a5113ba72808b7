"""Input cannot hurt: alias bombs, paths to files that are not Ductwork files, links out of a
code folder, huge values and non-ASCII names each give a located message, never a hang, a
traceback, another file's content or two things mixed into one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.services.pipelines import load_pipeline
from components.errors import ValidationError
from components.loader import load_component_file
from components.validate import MAX_VALUE_BYTES
from components.yamlio import load_yaml_text
from engine.runtime import StepTask, run_step

BOMB = "".join(f"  {a}: &{a} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
               for p, a in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def pipeline_text(name: str, jobs: str, inputs: str = "") -> str:
    return f"type: pipeline\nname: {name}\n{inputs}jobs:\n{jobs}"


INLINE_JOB = "  hello:\n    command: echo hi > ${{outputs.out}}/hi.txt\n    outputs: {out: {type: uri_folder}}\n"


def output(result) -> str:
    return result.stdout + result.stderr


# 1. YAML aliases


def test_an_alias_bomb_is_refused_with_its_line_by_validate_and_by_the_service(cli, tmp_path: Path, ws) -> None:
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(pipeline_text("bomb", "  x:\n    component: ./nothing.yml\n", "inputs:\n" + BOMB))
    assert len(bomb.read_bytes()) < 600
    result = cli("validate", str(bomb))
    assert result.returncode == 2, output(result)
    assert f"{bomb}:9:" in result.stderr  # f: &f, the first value past 100000 nodes and "alias expansion exceeds 100000 nodes" in result.stderr
    assert "YAML aliases (*name) may not multiply" in result.stderr and "Traceback" not in output(result)
    with pytest.raises(ValidationError, match="alias expansion exceeds"):
        load_pipeline(ws, bomb)


def test_modest_anchors_and_merge_keys_still_load() -> None:
    data = load_yaml_text("base: &base {cpu: 2, memory: 4G}\nprep: {<<: *base, cpu: 4}\ntrain: *base\n"
                          "lists: [&l [1, 2], *l, *l]\n")
    assert data["prep"] == {"cpu": 4, "memory": "4G"} and data["train"] == {"cpu": 2, "memory": "4G"}
    assert data["lists"] == [[1, 2]] * 3


def test_a_deeply_nested_document_is_refused_with_its_line() -> None:
    for text in ("a: " + "[" * 5000 + "]" * 5000, "a:\n" + "".join("  " * i + "-\n" for i in range(1, 300))):
        with pytest.raises(ValidationError, match="nests deeper than 100 levels") as err:
            load_yaml_text(text, "deep.yml")
        assert err.value.problems[0].line is not None


# 2. paths to files that are not Ductwork files


@pytest.mark.parametrize("kind", ["text", "list", "binary", "huge", "folder", "device"])
def test_a_component_path_to_a_file_that_is_no_component_is_named_never_quoted(cli, tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    line = "SECRET-LINE-4711 do not show"
    contents = {"text": f"{line}\nmore of it\n", "list": f"- {line}\n", "binary": f"\0{line}\n",
                "huge": f"{line}\n" + "x" * (2 << 20)}
    if kind in contents:
        secret.write_text(contents[kind])
    target = {"folder": str(secret.parent), "device": "/dev/zero"}.get(kind, "../outside/secret.txt")
    project = tmp_path / "project"
    project.mkdir()
    (project / "p.yml").write_text(pipeline_text("p", f"  x:\n    component: {target}\n"))
    result = cli("validate", str(project / "p.yml"))
    assert result.returncode == 2, output(result)
    assert line not in output(result) and "Traceback" not in output(result)
    named = str(secret) if kind in contents else ("/dev/zero" if kind == "device" else str(secret.parent))
    assert named in result.stderr and "job 'x'" in result.stderr
    expected = {"text": "top level of the file is text, not a mapping", "list": "is a list, not a mapping",
                "binary": "the file is binary", "huge": "is larger than 1024 KiB", "folder": "is a folder",
                "device": "is not a regular file"}[kind]
    assert expected in result.stderr


def test_a_traversal_to_etc_passwd_names_the_path_only(cli, tmp_path: Path) -> None:
    passwd = Path("/etc/passwd")
    if not passwd.is_file() or not passwd.read_text().strip():
        pytest.fail("this test needs a readable /etc/passwd")
    first = passwd.read_text().splitlines()[0]
    depth = "../" * len(tmp_path.parts)
    (tmp_path / "p.yml").write_text(pipeline_text("p", f"  x:\n    component: {depth}etc/passwd\n"))
    result = cli("validate", str(tmp_path / "p.yml"))
    assert result.returncode == 2 and "/etc/passwd" in result.stderr
    assert first not in output(result) and first.split(":")[0] + ":x:" not in output(result)


# 3. links in a code folder


def component_with_code(tmp_path: Path, basic: Path) -> tuple[Path, Path]:
    code = tmp_path / "linked" / "src"
    code.mkdir(parents=True)
    (code / "prep.py").write_text((basic / "prep_src" / "prep.py").read_text())
    comp = tmp_path / "linked" / "prep.yml"
    comp.write_text((basic / "prep.yml").read_text().replace("./prep_src", "./src"))
    return comp, code


@pytest.mark.parametrize("target,says", [("/", "points outside the folder"),
                                         ("../../../elsewhere", "points outside the folder"),
                                         ("/nonexistent/ductwork", "points to nothing (a dangling link)")])
def test_a_link_out_of_the_code_folder_or_dangling_is_refused_with_its_location(
        cli, tmp_path: Path, basic: Path, target: str, says: str) -> None:
    comp, code = component_with_code(tmp_path, basic)
    (tmp_path / "elsewhere").mkdir()
    (code / "sub").mkdir()
    (code / "sub" / "data").symlink_to(target)
    expected = f"code folder '{code}': link 'sub/data' -> '{target}' {says}; copy the file in or remove the link"
    for args in (["validate", str(comp)], ["component", "register", str(comp)]):
        result = cli(*args)
        assert result.returncode == 2, output(result)
        assert expected in result.stderr and "Traceback" not in output(result)
    assert f"{comp}:11:7" in cli("validate", str(comp)).stderr  # the line of 'code:'
    assert not list((tmp_path / "home" / "snapshots").glob("*")) if (tmp_path / "home" / "snapshots").exists() else True


def test_a_link_inside_the_code_folder_is_kept_as_a_link(cli, tmp_path: Path, basic: Path) -> None:
    comp, code = component_with_code(tmp_path, basic)
    (code / "helpers").mkdir()
    (code / "helpers" / "again.py").symlink_to(code / "prep.py")  # absolute, inside
    (code / "same").symlink_to("helpers")
    registered = cli("component", "register", str(comp))
    assert registered.returncode == 0, output(registered)
    shown = json.loads(cli("component", "show", "prep_data:1", "--json").stdout)
    snapshot = Path(shown["snapshot"])
    assert os.readlink(snapshot / "helpers" / "again.py") == "../prep.py"
    assert os.readlink(snapshot / "same") == "helpers"
    assert (snapshot / "prep.py").is_file() and not (snapshot / "prep.py").is_symlink()
    spec = load_component_file(comp)
    assert spec.code == code


# 4. huge values


def test_a_100_kib_value_is_refused_up_front_with_the_hint_and_never_printed(cli, basic: Path) -> None:
    value = "Q" * (100 * 1024)
    result = cli("run", str(basic / "pipeline.yml"), "--in-process", "--set", f"max_epochs={value}")
    assert result.returncode == 2, output(result)
    assert "the value of input 'max_epochs' is 100.0 KiB, above the limit of 64 KiB" in result.stderr
    assert "pass the file as a uri_file input" in result.stderr and "Q" * 100 not in output(result)
    text = (basic / "pipeline.yml").read_text().replace("learning_rate: 0.05", f"learning_rate: '{value}'")
    (basic / "big.yml").write_text(text)
    result = cli("validate", str(basic / "big.yml"))
    assert result.returncode == 2 and "job 'train', field 'inputs.learning_rate'" in result.stderr
    assert "100.0 KiB, above the limit" in result.stderr and "Q" * 100 not in output(result)


def test_component_run_refuses_a_100_kib_value_with_the_hint(cli, basic: Path) -> None:
    result = cli("component", "run", str(basic / "prep.yml"), "--in-process", "--input", f"raw_data={basic / 'data'}",
                 "--set", f"min_len={'7' * (100 * 1024)}")
    assert result.returncode == 2, output(result)
    assert "parameter 'min_len': the value is 100.0 KiB, above the limit of 64 KiB" in result.stderr
    assert "uri_file" in result.stderr and "7" * 100 not in output(result)


def test_a_value_over_the_limit_is_refused_by_the_service(ws, basic: Path) -> None:
    with pytest.raises(ValidationError, match="above the limit of 64 KiB") as err:
        load_pipeline(ws, basic / "pipeline.yml", {"max_epochs": "1" * (MAX_VALUE_BYTES + 1)})
    assert "1" * 100 not in str(err.value)


def test_the_values_of_one_step_together_stay_under_the_os_limit(ws, tmp_path: Path) -> None:
    command = " ".join(f"${{{{inputs.v{i}}}}}" for i in range(10))
    bound = "".join(f"      v{i}: '{'x' * 60000}'\n" for i in range(10))  # each under 64 KiB
    (tmp_path / "p.yml").write_text(pipeline_text("many", f"  j:\n    command: echo {command}\n    inputs:\n{bound}"))
    with pytest.raises(ValidationError, match=r"job 'j': its values add up to 585\.\d KiB, above the limit of 512 KiB"):
        load_pipeline(ws, tmp_path / "p.yml")


def test_a_command_that_cannot_start_fails_with_one_line_no_traceback(tmp_path: Path) -> None:
    task = StepTask(run_id="r", job="big", kind="command", area=str(tmp_path / "area"),
                    log_path=str(tmp_path / "big.log"), command='echo "${DUCTWORK_VALUE_1}"',
                    values={"DUCTWORK_VALUE_1": "v" * (200 * 1024)}, mark_start=False)
    os.makedirs(task.area)
    outcome = run_step(task)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.startswith("the command could not start") and "Argument list too long" in outcome.error
    assert "uri_file" in outcome.error and "v" * 100 not in outcome.error
    assert "Traceback" not in Path(task.log_path).read_text()


# 5. names


def test_pipelines_named_in_other_scripts_keep_apart(cli, tmp_path: Path) -> None:
    for name in ("日本", "中国"):
        (tmp_path / f"{name}.yml").write_text(pipeline_text(name, INLINE_JOB))
        result = cli("run", str(tmp_path / f"{name}.yml"), "--in-process")
        assert result.returncode == 0, output(result)
    runs = json.loads(cli("runs", "list", "--json").stdout)
    names = {r["pipeline"] for r in runs}
    assert len(runs) == 2 and len(names) == 2 and "__" not in names
    for name in ("日本", "中国"):
        mine = json.loads(cli("runs", "list", "--pipeline", name, "--json").stdout)
        assert len(mine) == 1
    assert {r["pipeline"] for r in json.loads(cli("runs", "list", "--pipeline", "日本", "--json").stdout)} != {
        r["pipeline"] for r in json.loads(cli("runs", "list", "--pipeline", "中国", "--json").stdout)}


def test_registered_pipelines_named_in_other_scripts_keep_apart(ws, tmp_path: Path) -> None:
    from app.services.pipelines import register_pipeline

    records = []
    for name in ("日本", "中国"):
        (tmp_path / f"{name}.yml").write_text(pipeline_text(name, INLINE_JOB))
        records.append(register_pipeline(ws, tmp_path / f"{name}.yml").pipeline)
    assert records[0].name != records[1].name and all(r.version == "1" for r in records)
    assert [load_pipeline(ws, name).display_name for name in ("日本", "中国")] == ["日本", "中国"]
