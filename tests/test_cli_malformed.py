"""The malformed-file corpus through the real CLI: exit 2, every expected phrase, file named, no traceback.

``tests/resources/malformed/EXPECTED.yml`` maps each malformed file to substrings its
message must contain (written with the loader and validator; ``tests/test_validate.py``
checks the same corpus through the API).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parent / "resources" / "malformed"
EXPECTED: dict[str, list[str]] = yaml.safe_load((CORPUS / "EXPECTED.yml").read_text())


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.name != "EXPECTED.yml")
    assert len(files) >= 40
    assert sorted(EXPECTED) == files


def _prepare(cli) -> None:
    """The workspace the corpus is written against: basic's components and three compute targets."""
    for name in ("cpu", "cpu-highmem", "gpu"):
        assert cli("compute", "add", name).returncode == 0
    basic = CORPUS.parent / "basic"
    assert cli("component", "register", basic / "prep.yml", basic / "train.yml").returncode == 0


def test_every_malformed_file_is_reported_by_validate(cli, tmp_path: Path) -> None:
    _prepare(cli)
    files = [CORPUS / name for name in sorted(EXPECTED)]
    result = cli("validate", "--json", *files, cwd=CORPUS)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    reports = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert sorted(reports) == sorted(EXPECTED)
    failures = []
    for name, phrases in EXPECTED.items():
        report = reports[name]
        text = report["message"]
        if report["ok"] or not report["problems"]:
            failures.append(f"{name}: reported valid")
            continue
        failures.extend(f"{name}: missing {phrase!r} in {text!r}" for phrase in phrases if phrase not in text)
        unlocated = [p["text"] for p in report["problems"] if not p["file"]]
        if unlocated:  # every problem names its file (the pipeline, or the component file it refers to)
            failures.append(f"{name}: problems without a file: {unlocated!r}")
    assert not failures, "\n".join(failures)

    human = cli("validate", *files, cwd=CORPUS)
    assert human.returncode == 2
    assert "Traceback" not in human.stdout + human.stderr
    assert human.stdout == ""  # no file is ok
    for name, phrases in EXPECTED.items():
        assert name in human.stderr, name
        for phrase in phrases:
            assert phrase in human.stderr, (name, phrase)


def test_one_file_at_a_time_exits_2(cli) -> None:
    _prepare(cli)
    for name in ("yaml_tabs.yml", "comp_bad_name.yml", "pipe_many_problems.yml"):
        result = cli("validate", CORPUS / name, cwd=CORPUS)
        assert result.returncode == 2, name
        assert "Traceback" not in result.stderr
        assert all(phrase in result.stderr for phrase in EXPECTED[name]), (name, result.stderr)
