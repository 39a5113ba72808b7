"""``ductwork component``: register (files, folders), list, show, immutability — through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path


def test_register_folder_list_show(cli, basic: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    for name in ("train.yml", "prep.yml", "pipeline.yml", "train_src", "prep_src"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (basic / name).rename(folder / name)
    registered = cli("component", "register", folder, "--json")
    assert registered.returncode == 0, registered.stderr
    refs = sorted((r["ref"], r["created"]) for r in json.loads(registered.stdout))
    assert refs == [("prep_data:1", True), ("train_model:3", True)]  # the folder's pipeline.yml is skipped

    again = cli("component", "register", folder / "train.yml")
    assert again.returncode == 0
    assert "component 'train_model:3' is already registered (unchanged)" in again.stdout

    listed = json.loads(cli("component", "list", "--json").stdout)
    assert [(c["name"], c["version"]) for c in listed] == [("prep_data", "1"), ("train_model", "3")]
    found = json.loads(cli("component", "list", "--search", "short rows", "--json").stdout)
    assert [c["name"] for c in found] == ["prep_data"]

    shown = json.loads(cli("component", "show", "train_model", "--json").stdout)
    assert shown["version"] == "3" and shown["versions"] == ["3"]
    assert shown["spec"]["inputs"]["learning_rate"] == {"type": "number", "default": 0.01, "min": 0, "max": 1}
    snapshot = Path(shown["snapshot"])
    assert (snapshot / "train.py").read_text() == (folder / "train_src" / "train.py").read_text()

    human = cli("component", "show", "train_model:3")
    assert human.returncode == 0
    assert "learning_rate" in human.stdout and "model_output" in human.stdout and str(snapshot) in human.stdout


def test_changed_content_under_the_same_version_is_refused(cli, basic: Path) -> None:
    assert cli("component", "register", basic / "train.yml").returncode == 0
    (basic / "train_src" / "train.py").write_text("print('a different training script')\n")
    refused = cli("component", "register", basic / "train.yml")
    assert refused.returncode == 2
    assert "component 'train_model:3' is already registered with different content" in refused.stderr
    assert "Register it as a new version, e.g. version: 4" in refused.stderr
    assert "Traceback" not in refused.stderr

    text = (basic / "train.yml").read_text().replace("version: 3", "version: 4")
    (basic / "train.yml").write_text(text)
    assert cli("component", "register", basic / "train.yml").returncode == 0
    shown = json.loads(cli("component", "show", "train_model", "--json").stdout)
    assert shown["version"] == "4" and shown["versions"] == ["4", "3"]


def test_unknown_names_and_bad_files(cli, basic: Path, tmp_path: Path) -> None:
    assert cli("component", "register", basic / "train.yml").returncode == 0
    unknown = cli("component", "show", "trian_model")
    assert unknown.returncode == 2
    assert "component 'trian_model' not found. Did you mean 'train_model'?" in unknown.stderr
    version = cli("component", "show", "train_model:9")
    assert version.returncode == 2 and "has no version '9'" in version.stderr

    (tmp_path / "broken.yml").write_text("type: command\nname: Bad Name\ninputs: {x: {type: strng}}\n")
    bad = cli("component", "register", tmp_path / "broken.yml", basic / "prep.yml", tmp_path / "missing.yml")
    assert bad.returncode == 2
    for expected in ("broken.yml", "strng", "missing.yml' does not exist"):
        assert expected in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    # nothing was registered from a batch with problems
    listed = json.loads(cli("component", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["train_model"]

    pipeline = cli("component", "register", basic / "pipeline.yml")
    assert pipeline.returncode == 2 and "ductwork pipeline register" in pipeline.stderr


def test_register_a_python_module_of_function_components(cli, basic: Path) -> None:
    module = basic / "fn_src" / "count_words.py"
    registered = cli("component", "register", module, "--json")
    assert registered.returncode == 0, registered.stderr
    refs = {r["ref"].split(":")[0]: r for r in json.loads(registered.stdout)}
    assert {"count_words", "total"} <= set(refs) and refs["count_words"]["kind"] == "function"
    assert refs["count_words"]["version"] == "1"

    shown = json.loads(cli("component", "show", "count_words:1", "--json").stdout)
    snapshot = Path(shown["snapshot"])
    # only the function's module and the local modules it imports are snapshotted
    files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    assert files == ["count_words.py", "helpers/__init__.py", "helpers/text.py"]
    assert shown["spec"]["function"] == "count_words:count_words"

    (basic / "fn_src" / "unrelated.py").write_text("# not imported by the function\n")
    assert "(unchanged)" in cli("component", "register", module).stdout
    (basic / "fn_src" / "helpers" / "text.py").write_text("def tokenize(text, lowercase=True):\n    return []\n")
    changed = cli("component", "register", module)
    assert changed.returncode == 2 and "component 'count_words:1' is already registered with different content" in changed.stderr

    (basic / "broken.py").write_text("import not_a_module_anywhere\n")
    broken = cli("component", "register", basic / "broken.py")
    assert broken.returncode == 2
    assert "broken.py:1" in broken.stderr and "ModuleNotFoundError" in broken.stderr and "Traceback" not in broken.stderr


def test_folders_skip_other_yaml_and_the_workspace(cli, basic: Path) -> None:
    project = basic.parent / "project"
    (project / "src").mkdir(parents=True)
    (basic / "train.yml").rename(project / "train.yml")
    (basic / "train_src" / "train.py").rename(project / "src" / "train.py")
    (project / "train.yml").write_text((project / "train.yml").read_text().replace("./train_src", "./src"))
    (project / "conda.yml").write_text("name: env\ndependencies: [python=3.11]\n")
    home = project / "workspace"  # a workspace inside the project, not named .ductwork
    assert cli("component", "register", project, home=home).returncode == 0
    validated = cli("validate", project, "--json", home=home)
    assert validated.returncode == 0, validated.stdout
    assert [Path(r["path"]).name for r in json.loads(validated.stdout)] == ["train.yml"]
    named = cli("validate", project / "conda.yml", home=home)
    assert named.returncode == 2 and "not a component or pipeline" in named.stderr
