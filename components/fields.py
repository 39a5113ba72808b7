"""Parsers for the fields that component and pipeline files share.

Each parser takes the raw YAML value plus a :class:`Collector` and returns a
value type from :mod:`components.spec`; it never raises for bad input. Every
problem goes to the collector with the best location known, so a file's
problems are all reported at once; every Azure-only field goes to the
collector's warnings, one warning per field name.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.errors import Problem, ValidationError
from components.spec import DATA_TYPES, EnvironmentRef, EnvironmentSpec, Resources
from components.yamlio import MarkedMap, load_yaml_file, mark_of

__all__ = [
    "NAME_PATTERN",
    "REMOTE_PREFIXES",
    "Collector",
    "did_you_mean",
    "check_name",
    "suggest_name",
    "plain",
    "check_literal",
    "GivenText",
    "read_given",
    "parse_memory",
    "parse_resources",
    "parse_environment",
    "parse_environment_reference",
    "is_remote_path",
]

#: Component names: lowercase letters, digits and underscores, starting with a letter or underscore.
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Paths Ductwork keeps as written and cannot read locally.
REMOTE_PREFIXES: tuple[str, ...] = (
    "azureml:", "azureml://", "https://", "http://", "wasbs://", "wasb://", "abfss://", "abfs://",
    "adl://", "s3://", "gs://", "gcs://",
)


def did_you_mean(word: str, options: Any) -> str:
    """`` Did you mean 'x'?`` for the closest option, or an empty string."""
    word, names = str(word), [str(o) for o in options]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if not close and len(word) >= 3:  # 'model' for 'model_output': a unique prefix is a good guess too
        close = [n for n in names if n.startswith(word) or word.startswith(n)]
        close = close if len(close) == 1 else []
    return f" Did you mean '{close[0]}'?" if close else ""


def suggest_name(name: str) -> str:
    """A valid component or pipeline name close to ``name``: lowercased, other ASCII characters
    as ``_`` (``nlp-train`` → ``nlp_train``). A name with other characters (``日本``) also gets 8
    hex digits of its digest (``name_cf2abf0c``), so two such names never fold into one."""
    text = unicodedata.normalize("NFC", str(name).strip())
    fixed = re.sub(r"[^a-z0-9_]", "_", text.lower())
    if not text.isascii():
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        fixed = f"{re.sub(r'_+', '_', fixed).strip('_') or 'name'}_{digest}"
    if not fixed or fixed[0].isdigit():
        fixed = "_" + fixed
    return fixed


def check_name(name: Any) -> str | None:
    """The problem with a component name, or ``None`` when it is valid."""
    if not isinstance(name, str) or not name:
        return f"name {name!r} must be a non-empty string of lowercase letters, digits and underscores"
    if not NAME_PATTERN.match(name):
        return (f"name '{name}' may contain only lowercase letters, digits and underscores "
                f"(and must not start with a digit); use '{suggest_name(name)}'")
    return None


def plain(value: Any) -> Any:
    """``value`` with YAML's marked mappings turned into plain dicts (recursively)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def check_literal(value: Any, type_: str) -> tuple[Any, str | None]:
    """Check (and lightly coerce) a literal for a parameter type → (value, problem text).

    Integers are accepted for ``number``; numbers for ``string`` become text;
    anything else of the wrong kind is a problem that says what to write.
    """
    if type_ == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value), None
            hint = f"; write {value} without quotes" if isinstance(value, str) and _parses(value, int) else ""
            return value, f"{value!r} is not an integer{hint}"
    elif type_ == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = f"; write {value} without quotes" if isinstance(value, str) and _parses(value, float) else ""
            return value, f"{value!r} is not a number{hint}"
    elif type_ == "boolean":
        if not isinstance(value, bool):
            hint = f"; write {str(value).lower()} without quotes" if str(value).lower() in ("true", "false") else ""
            return value, f"{value!r} is not a boolean (true or false){hint}"
    elif type_ == "string":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return value, f"{value!r} is not a string"
        if not isinstance(value, str):
            return str(value), None
    return value, None


class GivenText(str):
    """A value typed on a command line (``--set NAME=VALUE``): the input it sets decides how it
    is read (:func:`read_given`), so a string input gets exactly the text given."""


def read_given(value: Any, type_: str | None) -> Any:
    """``value`` for an input of ``type_``: a :class:`GivenText` is the text as given for a
    ``string`` or data input, else JSON when it parses (``0.1``, ``true``, ``[1, 2]``), else the
    text; any other value is returned as it is."""
    if not isinstance(value, GivenText):
        return value
    text = str(value)
    if type_ == "string" or type_ in DATA_TYPES:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parses(text: str, kind: type) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def is_remote_path(path: str) -> bool:
    """True for ``azureml:``, ``https://``, ``wasbs://`` … paths that cannot be read here."""
    return isinstance(path, str) and path.lower().startswith(REMOTE_PREFIXES)


@dataclass
class Collector:
    """Problems and warnings found while reading one file."""

    file: str | None
    problems: list[Problem] = field(default_factory=list)
    _ignored: dict[str, list[str]] = field(default_factory=dict)
    _warnings: list[str] = field(default_factory=list)

    def problem(self, message: str, data: Any = None, key: Any = None, *, job: str | None = None,
                field: str | None = None, on_key: bool = False) -> None:
        """Record a problem located at ``data[key]`` (or ``data``) when it came from YAML."""
        mark = mark_of(data, key, value=not on_key) if data is not None else None
        line, column = mark if mark else (None, None)
        self.problems.append(Problem(message, file=self.file, job=job, field=field, line=line, column=column))

    def ignore(self, field_name: str, where: str) -> None:
        """An Azure-only field that is accepted and ignored: one warning per field name."""
        self._ignored.setdefault(field_name, [])
        if where not in self._ignored[field_name]:
            self._ignored[field_name].append(where)

    def warn(self, message: str) -> None:
        if message not in self._warnings:
            self._warnings.append(message)

    @property
    def warnings(self) -> tuple[str, ...]:
        ignored = []
        for name, places in self._ignored.items():
            shown = ", ".join(places[:4]) + (f" and {len(places) - 4} more" if len(places) > 4 else "")
            ignored.append(f"Azure-only field '{name}' is ignored here ({shown})")
        return tuple(self._warnings + ignored)

    def check_keys(self, data: MarkedMap, allowed: Any, ignored: Any, where: str, *,
                   job: str | None = None, prefix: str = "") -> None:
        """Unknown keys are warnings that say where they are and suggest the closest known key
        (Azure's CLI v2 warns "Unknown field" and goes on, so a file Azure runs runs here);
        Azure-only ones are ignored with one warning per field name."""
        known = [*allowed, *ignored]
        for key in data:
            if key in allowed:
                continue
            if key in ignored:
                self.ignore(f"{prefix}{key}", where)
                continue
            mark = mark_of(data, key, value=False)
            at = f" (line {mark[0]}, column {mark[1]})" if mark else ""
            self.warn(f"unknown field '{key}' in {where}{at} is ignored.{did_you_mean(key, known)} "
                      f"Known fields: {', '.join(sorted(a for a in allowed if not a.startswith('$')))}")

    def missing(self, message: str, data: MarkedMap, wanted: str, known: Any, *, job: str | None = None,
                field: str | None = None) -> None:
        """A problem for the required key ``wanted`` missing from ``data``: located at an unknown
        key that looks like a misspelling of it (and saying so), else at the mapping."""
        unknown = [k for k in data if isinstance(k, str) and k not in known]
        close = difflib.get_close_matches(wanted, unknown, n=1, cutoff=0.6)
        if close:
            self.problem(f"{message} The unknown field '{close[0]}' is ignored. Did you mean '{wanted}'?",
                         data, close[0], job=job, field=field, on_key=True)
        else:
            self.problem(message, data, job=job, field=field)


_MEMORY_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "ki": 2**10, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mi": 2**20, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gi": 2**30, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "ti": 2**40, "tib": 2**40,
}
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_memory(value: Any) -> int:
    """Bytes from ``8GB`` (10^9), ``512Mi`` (2^20), ``1.5G`` or an integer of bytes.

    Raises ``ValueError`` with a message for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"memory {value!r} is not a size")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"memory {value!r} is negative")
        return int(value)
    match = _MEMORY_RE.match(str(value))
    if not match or match.group(2).lower() not in _MEMORY_UNITS:
        raise ValueError(f"memory '{value}' is not a size; write bytes or a number with a unit "
                         "such as 8GB, 512MB, 2Gi or 512Mi")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])


_RESOURCE_KEYS = ("cpus", "gpus", "memory", "custom")
_AZURE_RESOURCE_KEYS = ("instance_count", "instance_type", "shm_size", "docker_args", "properties",
                        "locations", "max_instance_count")


def _non_negative(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return value


def parse_resources(data: Any, col: Collector, where: str, *, job: str | None = None) -> Resources | None:
    """``{cpus, gpus, memory, custom}`` (ext) → :class:`Resources`; Azure's keys are ignored."""
    if data is None:
        return None
    if not isinstance(data, dict):
        col.problem(f"'resources' in {where} must be a mapping such as {{cpus: 2, memory: 8GB}}, "
                    f"not {data!r}", job=job, field="resources")
        return None
    col.check_keys(data, _RESOURCE_KEYS, _AZURE_RESOURCE_KEYS, f"the resources of {where}", job=job,
                   prefix="resources.")
    values: dict[str, Any] = {}
    for key in ("cpus", "gpus"):
        if key in data and data[key] is not None:
            number = _non_negative(data[key])
            if number is None:
                col.problem(f"resources.{key} in {where} is {data[key]!r}; expected a number of {key[:-1].upper()}s "
                            "that is 0 or more, e.g. 2", data, key, job=job, field=f"resources.{key}")
            values[key] = number
    if data.get("memory") is not None:
        try:
            values["memory"] = parse_memory(data["memory"])
        except ValueError as err:
            col.problem(f"resources.memory in {where}: {err}", data, "memory", job=job, field="resources.memory")
    custom: dict[str, float] = {}
    raw_custom = data.get("custom")
    if raw_custom is not None:
        if not isinstance(raw_custom, dict):
            col.problem(f"resources.custom in {where} must map resource names to amounts, e.g. "
                        f"{{highmem: 1}}, not {raw_custom!r}", data, "custom", job=job, field="resources.custom")
        else:
            for name, amount in raw_custom.items():
                number = _non_negative(amount)
                if number is None:
                    col.problem(f"resources.custom '{name}' in {where} is {amount!r}; expected a number "
                                "that is 0 or more", raw_custom, name, job=job, field=f"resources.custom.{name}")
                else:
                    custom[str(name)] = number
    if not any(k in data for k in _RESOURCE_KEYS):
        return None
    return Resources(cpus=values.get("cpus"), gpus=values.get("gpus"), memory=values.get("memory"), custom=custom)


_ENV_KEYS = ("image", "conda_file", "pip", "name", "version", "description", "tags", "$schema")
_AZURE_ENV_KEYS = ("build", "inference_config", "os_type", "datastore", "properties")


def parse_environment(data: Any, base_dir: Path, col: Collector, where: str, *,
                      job: str | None = None) -> EnvironmentSpec:
    """Azure's environment forms and ``{pip: [...]}`` (ext) → :class:`EnvironmentSpec`.

    What cannot be built here (an ``azureml:`` reference, a bare image) becomes
    ``kind="unsupported"`` with one warning; the step then runs in the current
    environment.
    """
    fallback = "; the step runs in the Python environment Ductwork runs in"
    if data is None:
        return EnvironmentSpec()
    if isinstance(data, str):
        asset = parse_environment_reference(data)
        if asset is not None:  # whether it is registered, a run finds out (engine.environments)
            return EnvironmentSpec(kind="reference", reference=data, asset=asset)
        kind = ("an Azure environment reference" if data.lower().startswith("azureml")
                else "an environment image or name")
        col.warn(f"environment '{data}' in {where} is {kind} that cannot be built here{fallback}")
        return EnvironmentSpec(kind="unsupported", reference=data)
    if not isinstance(data, dict):
        col.problem(f"'environment' in {where} is {data!r}; expected an 'azureml:name:version' reference, "
                    "a mapping with 'image' and/or 'conda_file', or {pip: [packages]}", job=job, field="environment")
        return EnvironmentSpec()
    col.check_keys(data, _ENV_KEYS, _AZURE_ENV_KEYS, f"the environment of {where}", job=job, prefix="environment.")
    image = data.get("image")
    if "pip" in data and "conda_file" in data:
        col.problem(f"the environment of {where} has both 'pip' and 'conda_file'; list the pip packages "
                    "inside the conda file instead", data, "pip", job=job, field="environment.pip")
    if "pip" in data:
        pip = data["pip"]
        if not isinstance(pip, list) or not all(isinstance(p, str) and p.strip() for p in pip):
            col.problem(f"environment.pip in {where} is {pip!r}; expected a list of requirement strings "
                        "such as ['scikit-learn==1.5.2']", data, "pip", job=job, field="environment.pip")
            return EnvironmentSpec()
        return EnvironmentSpec(kind="pip", pip=tuple(pip), reference=image)
    if "conda_file" in data:
        conda = _read_conda(data, base_dir, col, where, job)
        if conda is None:
            return EnvironmentSpec()
        if image is not None:
            col.warn(f"environment image '{image}' in {where} cannot be built here; only its conda file is used")
        return EnvironmentSpec(kind="conda", conda=conda, reference=image)
    if "build" in data:
        col.warn(f"the environment of {where} is built from a Docker context that cannot be built here{fallback}")
    elif image is not None:
        col.warn(f"environment image '{image}' in {where} cannot be built here{fallback}")
    else:
        col.problem(f"the environment of {where} names neither 'image', 'conda_file' nor 'pip'",
                    data, job=job, field="environment")
        return EnvironmentSpec()
    return EnvironmentSpec(kind="unsupported", reference=plain(data))


_SHORT_REFERENCE = re.compile(r"^azureml:(?!//)(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)"
                              r"(?::(?P<version>[^:@/\s]+)|@(?P<label>[^:@/\s]+))?$")
_LONG_REFERENCE = re.compile(r"^azureml://(?:[^/\s]+/[^/\s]+/)*?environments/(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)"
                             r"(?:/versions/(?P<version>[^/\s]+)|/labels/(?P<label>[^/\s]+))?/?$")


def parse_environment_reference(text: str) -> EnvironmentRef | None:
    """The environment an Azure reference names, or ``None`` when ``text`` is not one.

    ``azureml:NAME:VERSION``, ``azureml:NAME@LABEL``, ``azureml:NAME`` and the long forms
    ``azureml://registries/REG/environments/NAME/versions/V`` and ``…/labels/LABEL`` (a
    workspace path ``azureml://subscriptions/…/workspaces/W/environments/…`` too). The label
    ``latest`` is the latest version (``version=None``).
    """
    match = _SHORT_REFERENCE.match(text.strip()) or _LONG_REFERENCE.match(text.strip())
    if match is None:
        return None
    label = match["label"]
    return EnvironmentRef(match["name"], match["version"], None if label in (None, "latest") else label)


def _read_conda(data: MarkedMap, base_dir: Path, col: Collector, where: str, job: str | None) -> dict | None:
    raw = data["conda_file"]
    if isinstance(raw, dict):
        return plain(raw)
    if not isinstance(raw, str):
        col.problem(f"environment.conda_file in {where} is {raw!r}; expected a path to a conda YAML file",
                    data, "conda_file", job=job, field="environment.conda_file")
        return None
    path = Path(raw[5:] if raw.startswith("file:") else raw)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        col.problem(f"environment.conda_file '{raw}' in {where} does not exist (looked for '{path}')",
                    data, "conda_file", job=job, field="environment.conda_file")
        return None
    try:
        content = load_yaml_file(path)
    except ValidationError as err:
        col.problems.extend(err.problems)
        return None
    return plain(content)
