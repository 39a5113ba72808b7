"""The parsed-YAML cache (components.yamlio.ParsedCache) that spares a rerun of a large
pipeline file its parse, and the run store's reading block that opens no connection when
nothing in it reads."""

from __future__ import annotations

import os
import pickle

import pytest

from components import yamlio
from components.errors import ValidationError
from components.pipeline_loader import load_pipeline_file
from components.yamlio import MarkedMap, ParsedCache, load_yaml_file


def _pipeline(path, jobs: int, salt: str = "x"):
    (path.parent / "step.yml").write_text(
        "type: command\nname: step\nversion: 1\ninputs:\n  i: {type: integer}\n  prev: {type: uri_folder, "
        "optional: true}\noutputs:\n  out: {type: uri_folder}\n"
        "command: echo ${{inputs.i}} > ${{outputs.out}}/i.txt $[[; cat ${{inputs.prev}}/i.txt]]\n")
    lines = ["type: pipeline", f"name: big_{salt}", "jobs:"]
    for i in range(jobs):
        lines += [f"  s{i}:", "    component: ./step.yml", "    inputs:", f"      i: {i}"]
        if i:
            lines.append(f"      prev: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _marks(data):
    """Every mapping's marks, depth first: what error messages are located by."""
    out = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, MarkedMap):
            out.append((item.mark, dict(item.key_marks), dict(item.value_marks)))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def test_a_large_file_is_parsed_once_and_read_back_the_same(tmp_path, monkeypatch):
    path = _pipeline(tmp_path / "p.yml", 300)
    assert path.stat().st_size >= ParsedCache.MIN_BYTES
    cache = ParsedCache(tmp_path / "cache")
    fresh = load_yaml_file(path)
    first = load_yaml_file(path, cache=cache)
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 1

    def no_parse(text):
        raise AssertionError("parsed again")

    monkeypatch.setattr(yamlio, "_load_documents", no_parse)
    again = load_yaml_file(path, cache=cache)
    assert again == fresh == first
    assert isinstance(again, MarkedMap)
    assert _marks(again) == _marks(fresh)
    # the spec built from it is the one built from a fresh parse
    monkeypatch.undo()
    assert load_pipeline_file(path, cache=cache) == load_pipeline_file(path)


def test_changed_bytes_are_parsed_again(tmp_path):
    path = _pipeline(tmp_path / "p.yml", 300)
    cache = ParsedCache(tmp_path / "cache")
    load_yaml_file(path, cache=cache)
    _pipeline(path, 300, salt="y")
    assert load_yaml_file(path, cache=cache)["name"] == "big_y"
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 2


def test_a_small_file_or_a_broken_one_is_never_kept(tmp_path):
    cache = ParsedCache(tmp_path / "cache")
    small = _pipeline(tmp_path / "small.yml", 3)
    load_yaml_file(small, cache=cache)
    broken = tmp_path / "broken.yml"
    broken.write_text("a: 1\n" * 5000)  # a key written twice
    with pytest.raises(ValidationError, match="appears twice"):
        load_yaml_file(broken, cache=cache)
    with pytest.raises(ValidationError, match="appears twice"):
        load_yaml_file(broken, cache=cache)
    assert not list((tmp_path / "cache").glob("*.pickle"))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned > owned.txt",))


def test_an_entry_naming_anything_else_is_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _pipeline(tmp_path / "p.yml", 300)
    cache = ParsedCache(tmp_path / "cache")
    key, found = cache.get(path.read_bytes())
    assert found is None
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{key}.pickle").write_bytes(pickle.dumps([_Evil()]))
    assert load_yaml_file(path, cache=cache)["name"] == "big_x"  # parsed: the entry was refused
    assert not (tmp_path / "owned.txt").exists()
    (tmp_path / "cache" / f"{key}.pickle").write_bytes(b"not a pickle")
    assert load_yaml_file(path, cache=cache)["name"] == "big_x"


def test_the_cache_keeps_at_most_its_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(ParsedCache, "KEEP", 2)
    cache = ParsedCache(tmp_path / "cache")
    for salt in "abc":
        load_yaml_file(_pipeline(tmp_path / f"{salt}.yml", 300, salt), cache=cache)
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 2


def test_a_reading_block_without_reads_opens_no_connection(tmp_path, monkeypatch):
    from engine.duckdb_store import DuckDBRunStore

    store = DuckDBRunStore(tmp_path / "runs.duckdb")
    opened = []
    real = store._connect
    monkeypatch.setattr(store, "_connect", lambda deadline: opened.append(1) or real(deadline))
    with store.reading():
        pass
    assert opened == []
    with store.reading():
        assert store.find_reuse(["a"]) == {}
        assert store.latest_step_runs("p", ["j"]) == {}
    assert opened == [1]  # two reads, one connection
