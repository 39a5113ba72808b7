"""The component model: frozen value types shared by every layer.

A ``ComponentSpec`` is what a component YAML file or a ``@command_component``
function becomes; a ``PipelineSpec`` is what a pipeline YAML file or a
``@pipeline`` function becomes. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "PARAMETER_TYPES",
    "DATA_TYPES",
    "InputSpec",
    "OutputSpec",
    "Resources",
    "EnvironmentRef",
    "RegisteredEnvironment",
    "EnvironmentSpec",
    "FunctionEntry",
    "ComponentSpec",
    "ComponentRef",
    "LiteralValue",
    "ParentInput",
    "JobOutput",
    "ExternalData",
    "Binding",
    "PipelineInput",
    "PipelineOutput",
    "PipelineSettings",
    "JobSpec",
    "PipelineSpec",
]

#: Types whose value is a literal (a "parameter").
PARAMETER_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean")
#: Types whose value is a path at run time (an "input" or "output" of data).
DATA_TYPES: tuple[str, ...] = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model")


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a component: a parameter or a data input."""

    name: str
    type: str
    default: Any = None  #: ``None`` means "no default"
    optional: bool = False
    min: float | None = None
    max: float | None = None
    enum: tuple[Any, ...] | None = None
    description: str = ""

    @property
    def is_data(self) -> bool:
        return self.type in DATA_TYPES

    @property
    def is_parameter(self) -> bool:
        return self.type in PARAMETER_TYPES

    @property
    def required(self) -> bool:
        return not self.optional and self.default is None


@dataclass(frozen=True)
class OutputSpec:
    """One declared output of a component: always data (a folder or a file in one)."""

    name: str
    type: str = "uri_folder"
    description: str = ""


@dataclass(frozen=True)
class Resources:
    """A Ray resource request. ``memory`` is in bytes; ``custom`` e.g. ``{"highmem": 1}``."""

    cpus: float | None = None
    gpus: float | None = None
    memory: int | None = None
    custom: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvironmentRef:
    """The environment an Azure reference names: ``azureml:NAME:VERSION``, ``azureml:NAME@latest``,
    ``azureml://registries/REG/environments/NAME/versions/V`` or ``…/labels/LABEL``.

    ``version`` ``None`` asks for the latest; ``label`` keeps a label other than ``latest`` (Azure's
    ``@prod``), which has no meaning here and also selects the latest, with a note.
    """

    name: str
    version: str | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.label or 'latest'}"


@dataclass(frozen=True)
class RegisteredEnvironment:
    """A registered environment an Azure reference resolved to (the service layer resolves it).

    ``kind`` and ``content_hash`` decide what is built, so they, not the name, are what the step
    signature sees. ``note`` says how it was chosen when that is not what the reference asked for
    (a version that is not registered, so the latest was taken).
    """

    name: str
    version: str
    kind: Literal["pip", "conda"]
    content_hash: str
    pip: tuple[str, ...] = ()
    conda: Mapping[str, Any] | None = None
    note: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class EnvironmentSpec:
    """Where a step runs. ``current`` is the interpreter Ductwork runs in.

    ``pip``/``conda`` are handed to Ray as a runtime environment. ``reference`` (the kind) is an
    Azure environment reference (``asset`` is what it names): it runs in the registered
    environment of that name once ``resolved`` is set, else in ``current`` with a warning.
    ``unsupported`` (a Docker image or build context, a bare image name) falls back to
    ``current`` with a warning. ``reference`` (the field) keeps the original text for display
    and export; ``resolved`` never changes either, so a component's digest is that of what
    it says, and what it resolved to enters the signature through the environment fingerprint.
    """

    kind: Literal["current", "pip", "conda", "reference", "unsupported"] = "current"
    pip: tuple[str, ...] = ()
    conda: Mapping[str, Any] | None = None
    reference: Any = None
    asset: EnvironmentRef | None = None
    resolved: RegisteredEnvironment | None = None


@dataclass(frozen=True)
class FunctionEntry:
    """Where a function component's callable lives: ``module`` inside ``code``."""

    module: str  #: dotted module name relative to the component's code folder
    qualname: str


@dataclass(frozen=True)
class ComponentSpec:
    """A command component (``command`` + ``code``) or a function component
    (``function`` + ``code``). ``code`` is an absolute folder path or ``None``."""

    name: str
    version: str | None
    kind: Literal["command", "function"] = "command"
    display_name: str = ""
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    is_deterministic: bool = True
    inputs: Mapping[str, InputSpec] = field(default_factory=dict)
    outputs: Mapping[str, OutputSpec] = field(default_factory=dict)
    command: str | None = None
    code: Path | None = None
    function: FunctionEntry | None = None
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)
    compute: str | None = None
    resources: Resources | None = None
    source: Path | None = None  #: the file it was loaded from, for messages
    warnings: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}" if self.version is not None else self.name


@dataclass(frozen=True)
class ComponentRef:
    """A reference to a registered component; ``version=None`` means latest."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name}:{self.version}" if self.version is not None else f"{self.name}@latest"


@dataclass(frozen=True)
class LiteralValue:
    value: Any


@dataclass(frozen=True)
class ParentInput:
    """``${{parent.inputs.NAME}}``"""

    name: str


@dataclass(frozen=True)
class JobOutput:
    """``${{parent.jobs.JOB.outputs.OUTPUT}}``"""

    job: str
    output: str


@dataclass(frozen=True)
class ExternalData:
    """A job input bound directly to data: ``{type: uri_folder, path: ./data}`` in a job's
    ``inputs`` (Azure allows this as well as a pipeline-level input). ``path`` is absolute
    once loaded from a file (remote URIs are kept as written)."""

    path: str
    type: str = "uri_folder"


Binding = LiteralValue | ParentInput | JobOutput | ExternalData


@dataclass(frozen=True)
class PipelineInput:
    """A pipeline-level input: a literal parameter (``value``) or external data (``path``).

    ``path`` is absolute once loaded from a file. ``type`` is ``None`` for an
    untyped literal (``max_epochs: 20``)."""

    name: str
    type: str | None = None
    value: Any = None
    path: str | None = None
    optional: bool = False
    description: str = ""

    @property
    def is_data(self) -> bool:
        return self.type in DATA_TYPES or self.path is not None


@dataclass(frozen=True)
class PipelineOutput:
    name: str
    type: str | None = None
    description: str = ""


@dataclass(frozen=True)
class PipelineSettings:
    default_compute: str | None = None
    continue_on_step_failure: bool = False
    force_rerun: bool = False


@dataclass(frozen=True)
class JobSpec:
    """One node of a pipeline. ``outputs`` maps a component output to the
    pipeline output it is published as (``${{parent.outputs.y}}``) or ``None``."""

    name: str
    component: ComponentSpec | ComponentRef
    inputs: Mapping[str, Binding] = field(default_factory=dict)
    outputs: Mapping[str, str | None] = field(default_factory=dict)
    compute: str | None = None
    timeout: float | None = None
    retries: int = 0
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    force_rerun: bool = False
    display_name: str = ""


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    version: str | None = None
    display_name: str = ""
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, PipelineInput] = field(default_factory=dict)
    outputs: Mapping[str, PipelineOutput] = field(default_factory=dict)
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    jobs: Mapping[str, JobSpec] = field(default_factory=dict)
    source: Path | None = None
    warnings: tuple[str, ...] = ()
