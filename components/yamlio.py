"""YAML reading that remembers where every key and value came from.

``load_yaml_file(path)`` and ``load_yaml_text(text, file)`` return plain Python
data in which every mapping is a :class:`MarkedMap` (a ``dict`` that also knows
the 1-based line/column of each key and value), so the loader can attach a
precise location to every :class:`~components.errors.Problem`.

Anything that is not a readable YAML mapping — a syntax error, tabs used for
indentation, a duplicate key, an empty file, binary junk, a list at the top
level — raises ``ValidationError`` with one problem that names the file, line
and column and says how to fix it.
"""

from __future__ import annotations

import os
import pickle
import stat
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from components.errors import Problem, ValidationError

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "MAX_YAML_BYTES", "Mark", "MarkedMap", "ParsedCache", "load_yaml_file",
           "load_yaml_text", "mark_of"]

#: The largest YAML file read (a component or pipeline file, an upload): bigger ones are refused unread.
MAX_YAML_BYTES = 1024 * 1024
#: The most nodes one document may expand to through its aliases (``*name``): a "billion laughs"
#: document of a few hundred bytes expands to billions; normal anchors add a handful.
MAX_ALIAS_NODES = 100_000
#: The deepest nesting of mappings and lists (construction is recursive).
MAX_DEPTH = 100

#: (line, column), both 1-based
Mark = tuple[int, int]


class MarkedMap(dict):
    """A ``dict`` from YAML that knows where it, its keys and its values start."""

    mark: Mark | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}

    def key_mark(self, key: Any) -> Mark | None:
        """Where ``key`` is written, or where this mapping starts if unknown."""
        return self.key_marks.get(key, self.mark)

    def value_mark(self, key: Any) -> Mark | None:
        """Where the value of ``key`` is written (falls back to the key's mark)."""
        return self.value_marks.get(key) or self.key_mark(key)


def mark_of(data: Any, key: Any = None, *, value: bool = True) -> Mark | None:
    """The location of ``data[key]`` (or of ``data`` itself) if ``data`` came from YAML."""
    if not isinstance(data, MarkedMap):
        return None
    if key is None:
        return data.mark
    return data.value_mark(key) if value else data.key_mark(key)


def _mark(node: yaml.Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: Mark, second: Mark):
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


class _TooBig(Exception):
    """A document refused before construction: ``what`` says why, ``mark`` where, ``hint`` what to do."""

    def __init__(self, what: str, mark: Mark, hint: str):
        super().__init__(what)
        self.what, self.mark, self.hint = what, mark, hint


_ALIAS_HINT = "YAML aliases (*name) may not multiply the document; write the values out or use fewer aliases"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a composed document that nests deeper than :data:`MAX_DEPTH` or that would
    expand (aliases written out) to more than :data:`MAX_ALIAS_NODES` nodes.

    An alias is the same node object as its anchor, so the expanded size of every node is
    counted once, bottom-up, without expanding anything, and the walk stops after
    :data:`MAX_ALIAS_NODES` distinct nodes: time and memory stay bounded whatever the text.
    """
    size: dict[int, int] = {}
    aliased = False  # whether any node is reached twice
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if done:
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_ALIAS_NODES:
                raise _TooBig(f"alias expansion exceeds {MAX_ALIAS_NODES} nodes", _mark(node), _ALIAS_HINT)
            size[id(node)] = total
            continue
        if id(node) in size:
            aliased = True
            continue
        if depth > MAX_DEPTH:
            raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels", _mark(node), "flatten the structure")
        if len(size) >= MAX_ALIAS_NODES:
            raise (_TooBig(f"alias expansion exceeds {MAX_ALIAS_NODES} nodes", _mark(node), _ALIAS_HINT) if aliased
                   else _TooBig(f"the document holds more than {MAX_ALIAS_NODES} values", _mark(node),
                                "split it into smaller files"))
        if isinstance(node, yaml.ScalarNode):
            size[id(node)] = 1
            continue
        size[id(node)] = 0  # a node that holds itself (an anchor used inside itself) adds nothing more
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node))


class _MarkedMixin:
    """Mappings become :class:`MarkedMap` and refuse duplicate keys; documents that alias
    expansion or nesting would blow up are refused before construction."""

    def construct_document(self, node: yaml.Node) -> Any:  # type: ignore[override]
        _check_expansion(node)
        return super().construct_document(node)  # type: ignore[misc]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> MarkedMap:  # type: ignore[override]
        own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        self.flatten_mapping(node)  # merged pairs (<<: *base) first, then the mapping's own
        result = MarkedMap()
        result.mark = _mark(node)
        merged: set[Any] = set()
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found an unhashable key", key_node.start_mark) from None
            if key in result and key not in merged:  # a key written twice; one the mapping overrides is fine
                raise _DuplicateKey(key, result.key_marks[key], _mark(key_node))
            (merged.discard if id(key_node) in own else merged.add)(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_marks[key] = _mark(key_node)
            result.value_marks[key] = _mark(value_node)
        return result


def _construct_marked_map(loader: _MarkedLoader, node: yaml.MappingNode) -> Any:
    return loader.construct_mapping(node, deep=True)


class _MarkedLoader(_MarkedMixin, yaml.SafeLoader):
    """The pure-Python SafeLoader with marked mappings: its error messages are the ones shown."""


#: The same with libyaml's C parser (≈ 5x faster; its nodes carry the same line/column marks).
#: Used first; anything it rejects is parsed again by :class:`_MarkedLoader`, so every error
#: message is the pure-Python loader's.
_FastMarkedLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastMarkedLoader(_MarkedMixin, yaml.CSafeLoader):  # type: ignore[no-redef]
        """libyaml's parser, Python construction with marked mappings."""

for _loader in (_MarkedLoader, _FastMarkedLoader):
    if _loader is not None:
        _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_marked_map)


def _load_documents(text: str) -> list[Any]:
    if _FastMarkedLoader is not None:
        try:
            return list(yaml.load_all(text, Loader=_FastMarkedLoader))  # noqa: S506 - CSafeLoader subclass
        except _TooBig:
            raise
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            if "maximum nesting depth" in str(err) and mark is not None:  # libyaml's own limit (1000)
                raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels",
                              (mark.line + 1, mark.column + 1), "flatten the structure") from None
        except Exception:  # noqa: BLE001 - any rejection: the Python loader below reports it exactly
            pass
    return list(yaml.load_all(text, Loader=_MarkedLoader))  # noqa: S506 - SafeLoader subclass


def _syntax_problem(err: yaml.YAMLError, file: str, text: str) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    what = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    detail = f"{context}, {what}" if context else what
    hint = "check the indentation and quoting near that line"
    if line is not None:
        lines = text.splitlines()
        bad_line = lines[line - 1] if 0 < line <= len(lines) else ""
        if "\t" in bad_line or "'\\t'" in str(what):
            hint = "YAML does not allow tabs for indentation; indent with spaces"
        elif "${{" in bad_line or "$[[" in bad_line:
            hint = "quote values that contain '${{' or ': ' inside flow mappings"
    return Problem(f"malformed YAML: {detail} (line {line}, column {column}); {hint}",
                   file=file, line=line, column=column)


class ParsedCache:
    """Parsed YAML files kept by the digest of their bytes, so that a file read again unchanged
    (a pipeline rerun: ≈ 0.2 s of parsing for 1,000 jobs) is not parsed again.

    Only what parsed without a problem is kept, and an entry is read back only for the very
    bytes it was parsed from, by the same PyYAML, Python and version of this module: a hit is
    the parse's own result (marks included). Entries are pickles read through an unpickler
    that knows only :class:`MarkedMap` and the date types YAML makes, so an entry can hold
    nothing else; an entry that does not load is ignored (the file is parsed). Files under
    :data:`MIN_BYTES` parse faster than a cache file is read and are never kept; at most
    :data:`KEEP` entries are kept, the least recently used removed first.
    """

    MIN_BYTES = 2 * 1024  #: a 100-job pipeline (12 KB) parses in ≈ 20–40 ms here and reads back in ≈ 1 ms
    KEEP = 64

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @staticmethod
    def _key(raw: bytes) -> str:
        import blake3

        here = os.stat(__file__)
        tag = f"{yaml.__version__}:{sys.version_info[:2]}:{here.st_size}:{here.st_mtime_ns}\0".encode()
        return blake3.blake3(tag + raw).hexdigest()

    def get(self, raw: bytes) -> tuple[str, list[Any] | None]:
        """(key, the documents parsed from ``raw`` or ``None``)."""
        key = self._key(raw)
        path = self.folder / f"{key}.pickle"
        try:
            with open(path, "rb") as fh:
                documents = _CacheUnpickler(fh).load()
        except FileNotFoundError:
            return key, None
        except Exception:  # noqa: BLE001 - a damaged or foreign entry: parse the file instead
            return key, None
        if not isinstance(documents, list):
            return key, None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return key, documents

    def put(self, key: str, documents: list[Any]) -> None:
        """Keep ``documents`` under ``key``; a cache that cannot be written is no error."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(documents, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.folder / f"{key}.pickle")
            entries = [e for e in os.scandir(self.folder) if e.name.endswith(".pickle")]
            if len(entries) > self.KEEP:
                entries.sort(key=lambda e: e.stat().st_mtime_ns)
                for old in entries[: len(entries) - self.KEEP]:
                    os.unlink(old.path)
        except (OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError):
            pass


#: what a cache entry may name: YAML's own types (the rest are pickle's built-in opcodes)
_CACHE_CLASSES = {("components.yamlio", "MarkedMap"): MarkedMap}


def _allowed_classes() -> dict[tuple[str, str], Any]:
    import datetime

    return {**_CACHE_CLASSES, ("datetime", "date"): datetime.date, ("datetime", "datetime"): datetime.datetime,
            ("datetime", "timezone"): datetime.timezone, ("datetime", "timedelta"): datetime.timedelta}


class _CacheUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_classes().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a parsed-YAML cache entry")
        return found


def load_yaml_text(text: str, file: str = "<text>", *, require_mapping: bool = True,
                   _documents: list[Any] | None = None) -> Any:
    """Parse YAML ``text``; mappings become :class:`MarkedMap`.

    Raises ``ValidationError`` with one located problem if it cannot be parsed,
    or (with ``require_mapping``) if the top level is not a mapping.
    """
    try:
        documents = _load_documents(text) if _documents is None else _documents
    except _DuplicateKey as dup:
        raise ValidationError([Problem(
            f"malformed YAML: key '{dup.key}' appears twice (line {dup.first[0]} and line {dup.second[0]}); "
            "keep only one", file=file, line=dup.second[0], column=dup.second[1])]) from None
    except _TooBig as big:
        raise ValidationError([Problem(f"{big.what} (line {big.mark[0]}); {big.hint}", file=file,
                                       line=big.mark[0], column=big.mark[1])]) from None
    except yaml.YAMLError as err:
        raise ValidationError([_syntax_problem(err, file, text)]) from None
    except (ValueError, RecursionError) as err:  # e.g. bad dates or timestamps, deep nesting
        raise ValidationError([Problem(f"malformed YAML: {err}", file=file)]) from None
    if len(documents) > 1:
        raise ValidationError([Problem(
            f"malformed YAML: the file holds {len(documents)} documents separated by '---'; "
            "put one component or pipeline per file", file=file)])
    data = documents[0] if documents else None
    if not require_mapping:
        return data
    if data is None:
        raise ValidationError([Problem(
            "the file is empty; expected a mapping such as 'type: command' or 'type: pipeline'", file=file)])
    if not isinstance(data, dict):
        kind = {"str": "text", "int": "a number", "float": "a number", "bool": "a boolean",
                "list": "a list"}.get(type(data).__name__, type(data).__name__)
        raise ValidationError([Problem(  # the content is never quoted: the file may not be a Ductwork file
            f"the top level of the file is {kind}, not a mapping; expected a component or pipeline file "
            "with fields such as 'type: command' or 'type: pipeline'", file=file, line=1, column=1)])
    return data


def _read_limited(p: Path, file: str) -> bytes:
    """The bytes of ``p`` if it is a regular file of at most :data:`MAX_YAML_BYTES`; never more is read."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise ValidationError([Problem(f"file '{file}' does not exist; check the path", file=file)]) from None
    except OSError as err:
        raise ValidationError([Problem(f"file '{file}' cannot be read ({err.strerror}); check the path and "
                                       "its permissions", file=file)]) from None
    if stat.S_ISDIR(info.st_mode):
        raise ValidationError([Problem(f"'{file}' is a folder; expected a YAML file", file=file)])
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError([Problem(f"'{file}' is not a regular file (a device, pipe or socket); "
                                       "expected a YAML file", file=file)])
    too_big = ValidationError([Problem(
        f"'{file}' is larger than {MAX_YAML_BYTES // 1024} KiB; a component or pipeline file is smaller - "
        "check that you passed the right file", file=file)])
    if info.st_size > MAX_YAML_BYTES:
        raise too_big
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        raise ValidationError([Problem(f"file '{file}' cannot be read ({err.strerror}); check the path and "
                                       "its permissions", file=file)]) from None
    if len(raw) > MAX_YAML_BYTES:  # it grew since stat
        raise too_big
    return raw


def load_yaml_file(path: str | Path, *, require_mapping: bool = True, cache: ParsedCache | None = None) -> Any:
    """Read and parse a YAML file; see :func:`load_yaml_text`. With ``cache``, a large file
    whose bytes were parsed before is not parsed again (:class:`ParsedCache`)."""
    file = str(path)
    raw = _read_limited(Path(path), file)
    if cache is not None and len(raw) >= cache.MIN_BYTES and b"\x00" not in raw:
        key, documents = cache.get(raw)
        if documents is not None:
            return load_yaml_text("", file, require_mapping=require_mapping, _documents=documents)
        data = _load_yaml_bytes(raw, file, require_mapping)  # raises what the file's problem is
        cache.put(key, [data])
        return data
    return _load_yaml_bytes(raw, file, require_mapping)


def _load_yaml_bytes(raw: bytes, file: str, require_mapping: bool) -> Any:
    if b"\x00" in raw:
        raise ValidationError([Problem(
            "the file is binary (it contains NUL bytes), not YAML text; check that you passed the right file",
            file=file)])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValidationError([Problem(
            f"the file is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}, line {line}); "
            "save it as UTF-8", file=file, line=line)]) from None
    return load_yaml_text(text, file, require_mapping=require_mapping)
