"""A Python SDK shaped like Azure ML SDK v2 (``azure.ai.ml``) with ``mldesigner``.

A script written for Azure runs after changing only its imports::

    from components.sdk import Input, Output, command_component, load_component, pipeline

    @command_component(name="train_model", environment={"pip": ["scikit-learn"]})
    def train(training_data: Input(type="uri_folder"), model_output: Output(type="uri_folder"),
              learning_rate: float = 0.01) -> None:
        "Train a model."

    prep = load_component(source="prep.yml")

    @pipeline(default_compute="cpu")
    def my_pipeline(data, lr=0.1):
        p = prep(raw_data=data)
        t = train(training_data=p.outputs.clean, learning_rate=lr)
        t.compute = "gpu"
        return {"model": t.outputs.model_output}

    job = my_pipeline(data=Input(type="uri_folder", path="./data"), lr=0.1)
    job.spec                        # a PipelineSpec, equal to what the same YAML loads to

Conventions the engine follows for a function component (execution lives in
``engine/``, not here): the worker puts the ``code`` folder first on
``sys.path``, imports ``function.module``, takes ``function.qualname`` (the
decorated object: calling it outside a pipeline calls the plain function) and
calls it with keyword arguments — parameters as values, data inputs and
outputs as paths (text). An output named ``output`` that is *not* a parameter
of the function receives the function's return value, written as JSON to
``<output folder>/output.json``.

Decisions: job names are the variable names the nodes were assigned to in
the pipeline function (as Azure does), else the component name (``_2``,
``_3`` … when repeated). Relative ``Input(path=…)`` values are resolved
against the folder of the file that defines the ``@pipeline`` function, so a
job means the same thing whatever the current directory. Registered
components are found through ``load_component("name:version", resolve=…)``
or a resolver installed with :func:`set_resolver` by the service layer.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from components.digest import automatic_version
from components.errors import DuctworkError, ValidationError
from components.fields import (
    Collector,
    did_you_mean,
    is_remote_path,
    parse_environment,
    parse_resources,
    suggest_name,
)
from components.loader import load_component_file
from components.pipeline_loader import parse_component_ref
from components.serialize import dump_yaml, pipeline_to_dict
from components.spec import (
    DATA_TYPES,
    PARAMETER_TYPES,
    ComponentRef,
    ComponentSpec,
    EnvironmentSpec,
    ExternalData,
    FunctionEntry,
    InputSpec,
    JobOutput,
    JobSpec,
    LiteralValue,
    OutputSpec,
    ParentInput,
    PipelineInput,
    PipelineOutput,
    PipelineSettings,
    PipelineSpec,
    Resources,
)
from components.validate import validate_component

__all__ = [
    "Input",
    "Output",
    "Component",
    "Node",
    "NodeOutput",
    "PipelineJob",
    "command_component",
    "pipeline",
    "load_component",
    "set_resolver",
]

_PRIMITIVES: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
_resolver: Callable[[ComponentRef], ComponentSpec] | None = None
_building = threading.local()


class Input:
    """A data input or typed parameter (annotation), or a value given to a pipeline (with ``path``)."""

    def __init__(self, *, type: str = "uri_folder", path: str | os.PathLike | None = None,  # noqa: A002
                 optional: bool = False, default: Any = None, min: float | None = None,  # noqa: A002
                 max: float | None = None, enum: list[Any] | None = None, description: str = "",  # noqa: A002
                 mode: str | None = None):
        if type not in DATA_TYPES + PARAMETER_TYPES:
            raise DuctworkError(f"Input type {type!r} is not known.{did_you_mean(type, DATA_TYPES + PARAMETER_TYPES)} "
                                f"Known types: {', '.join(DATA_TYPES + PARAMETER_TYPES)}")
        self.type, self.path, self.optional, self.default = type, path, optional, default
        self.min, self.max, self.enum, self.description, self.mode = min, max, enum, description, mode

    def __repr__(self) -> str:
        return f"Input(type={self.type!r}" + (f", path={str(self.path)!r})" if self.path is not None else ")")


class Output:
    """An output of a component (annotation): the function receives an empty folder's path."""

    def __init__(self, *, type: str = "uri_folder", description: str = "", mode: str | None = None,  # noqa: A002
                 path: str | None = None):
        if type not in DATA_TYPES:
            raise DuctworkError(f"Output type {type!r} is not a data type; outputs are folders or files "
                                f"({', '.join(DATA_TYPES)})")
        self.type, self.description, self.mode, self.path = type, description, mode, path

    def __repr__(self) -> str:
        return f"Output(type={self.type!r})"


def set_resolver(resolve: Callable[[ComponentRef], ComponentSpec] | None) -> None:
    """Install the resolver ``load_component("name:version")`` uses (the service layer does this)."""
    global _resolver
    _resolver = resolve


# --------------------------------------------------------------------------- components

def _annotation_kind(name: str, annotation: Any, default: Any, func_name: str) -> tuple[str, Any]:
    """("input", InputSpec kwargs) / ("output", OutputSpec kwargs) for one function parameter."""
    empty = inspect.Parameter.empty
    if isinstance(annotation, Output) or annotation is Output:
        out = annotation if isinstance(annotation, Output) else Output()
        return "output", {"type": out.type, "description": out.description}
    if isinstance(annotation, Input) or annotation is Input:
        inp = annotation if isinstance(annotation, Input) else Input()
        value = inp.default if inp.default is not None else (None if default is empty else default)
        return "input", {"type": inp.type, "default": value, "optional": inp.optional or (default is None),
                         "min": inp.min, "max": inp.max, "enum": tuple(inp.enum) if inp.enum else None,
                         "description": inp.description}
    if annotation is not empty:
        type_ = _PRIMITIVES.get(annotation)
        if type_ is None:
            raise DuctworkError(
                f"parameter '{name}' of function '{func_name}' is annotated {annotation!r}; annotate parameters "
                "with int, float, str, bool, Input(type=...) or Output(type=...)")
    elif default is not empty and default is not None and type(default) in _PRIMITIVES:
        type_ = _PRIMITIVES[type(default)]
    else:
        raise DuctworkError(
            f"parameter '{name}' of function '{func_name}' has no type; annotate it (int, float, str, bool, "
            "Input(type='uri_folder'), Output(type='uri_folder')) or give it a default value")
    value = None if default is empty else default
    return "input", {"type": type_, "default": value, "optional": default is None}


def _function_entry(func: Callable, code: str | os.PathLike | None) -> tuple[Path, FunctionEntry]:
    qualname = getattr(func, "__qualname__", "")
    if getattr(func, "__name__", "") == "<lambda>" or "<locals>" in qualname:
        what = "a lambda" if func.__name__ == "<lambda>" else "a function defined inside another function"
        raise DuctworkError(
            f"'{qualname}' is {what}; a component's function must be defined at the top level of a module, "
            "because each step runs in a worker process that imports it by module and name "
            "(lambdas and closures cannot be imported or reliably pickled)")
    try:
        file = Path(inspect.getfile(func)).resolve()
    except TypeError:
        raise DuctworkError(f"function '{qualname}' has no source file; define it in a .py file") from None
    folder = Path(code).resolve() if code is not None else file.parent
    try:
        rel = file.relative_to(folder).with_suffix("")
    except ValueError:
        raise DuctworkError(f"function '{qualname}' lives in '{file}', outside its code folder '{folder}'; "
                            "pass code= a folder that contains the file") from None
    parts = list(rel.parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return folder, FunctionEntry(module=".".join(parts), qualname=qualname)


def _component_spec(func: Callable, *, name: str | None, version: Any, display_name: str | None,
                    description: str | None, environment: Any, code: Any, is_deterministic: bool,
                    compute: str | None, resources: Any) -> ComponentSpec:
    folder, entry = _function_entry(func, code)
    signature = inspect.signature(func, eval_str=True)
    inputs: dict[str, InputSpec] = {}
    outputs: dict[str, OutputSpec] = {}
    for pname, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DuctworkError(f"function '{entry.qualname}' takes *{pname}; components need named parameters")
        kind, kwargs = _annotation_kind(pname, param.annotation, param.default, entry.qualname)
        if kind == "output":
            outputs[pname] = OutputSpec(name=pname, **kwargs)
        else:
            inputs[pname] = InputSpec(name=pname, **kwargs)
    if signature.return_annotation in _PRIMITIVES:
        if "output" in outputs or "output" in inputs:
            raise DuctworkError(f"function '{entry.qualname}' returns a value and also has a parameter 'output'; "
                                "rename the parameter (the returned value becomes output 'output')")
        outputs["output"] = OutputSpec(name="output", type="uri_folder",
                                       description="the returned value, as output.json")
    doc = inspect.getdoc(func) or ""
    col = Collector(str(Path(inspect.getfile(func)).resolve()))
    where = f"component '{name or func.__name__}'"
    env = environment if isinstance(environment, EnvironmentSpec) else parse_environment(environment, folder, col, where)
    res = resources if isinstance(resources, Resources) or resources is None else parse_resources(resources, col, where)
    if col.problems:
        raise ValidationError(col.problems)
    spec = ComponentSpec(
        name=name or func.__name__, version=None if version is None else str(version), kind="function",
        display_name=display_name or "", description=description if description is not None else doc.split("\n")[0],
        is_deterministic=is_deterministic, inputs=inputs, outputs=outputs, code=folder, function=entry,
        environment=env, compute=compute, resources=res, source=Path(col.file or ""), warnings=col.warnings)
    problems = validate_component(spec)
    if problems:
        raise ValidationError(problems)
    if spec.version is None:
        spec = replace(spec, version=automatic_version(spec))
    return spec


class Component:
    """A component as a callable: inside a ``@pipeline`` function a call adds a :class:`Node`.

    Outside a pipeline, a function component calls its plain function; a YAML
    or registered one cannot run on its own and says so.
    """

    def __init__(self, spec: ComponentSpec, func: Callable | None = None):
        self.spec = spec
        self.func = func
        if func is not None:
            functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<Component {self.spec.ref}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = getattr(_building, "current", None)
        if builder is None:
            if self.func is not None:
                return self.func(*args, **kwargs)
            raise DuctworkError(f"component '{self.spec.ref}' can only be called inside a @pipeline function; "
                                "to run it, put it in a pipeline and use 'ductwork run'")
        if args:
            raise DuctworkError(f"component '{self.spec.ref}' takes keyword arguments only, e.g. "
                                f"{self.spec.name}({', '.join(f'{n}=...' for n in list(self.spec.inputs)[:2])})")
        return builder.add(self.spec, kwargs)


def command_component(func: Callable | None = None, *, name: str | None = None, version: Any = None,
                      display_name: str | None = None, description: str | None = None, environment: Any = None,
                      code: str | os.PathLike | None = None, is_deterministic: bool = True,
                      compute: str | None = None, resources: Any = None) -> Any:
    """Make a typed top-level function a component (usable bare or with arguments).

    Parameters annotated ``Input(...)`` are data inputs (or typed parameters),
    ``Output(...)`` outputs; ``int/float/str/bool`` annotations, or a plain
    default, make parameters. A primitive return annotation adds output
    ``output``. ``code`` defaults to the folder of the function's file; the
    docstring's first line is the description.
    """
    def wrap(f: Callable) -> Component:
        return Component(_component_spec(
            f, name=name, version=version, display_name=display_name, description=description,
            environment=environment, code=code, is_deterministic=is_deterministic, compute=compute,
            resources=resources), f)

    return wrap(func) if func is not None else wrap


def load_component(source: str | os.PathLike | None = None, *,
                   resolve: Callable[[ComponentRef], ComponentSpec] | None = None, **_azure: Any) -> Component:
    """A component from a YAML file (``source="train.yml"``) or a registered ``"name:version"``."""
    if source is None:
        raise DuctworkError("load_component needs source=, a YAML file or 'name:version'")
    text = str(source)
    path = Path(text)
    if path.suffix in (".yml", ".yaml") or path.exists():
        if not path.is_absolute() and not path.exists():
            caller = Path(inspect.stack()[1].filename).resolve().parent
            path = caller / path if (caller / path).exists() else path
        return Component(load_component_file(path))
    ref = parse_component_ref(text)
    if ref is None:
        raise DuctworkError(f"load_component source '{text}' is neither a YAML file nor 'name:version'")
    resolver = resolve or _resolver
    if resolver is None:
        raise DuctworkError(f"component '{text}' is a registry reference, but no registry is connected; "
                            "pass resolve= or open a workspace first")
    try:
        return Component(resolver(ref))
    except KeyError as err:
        raise DuctworkError(err.args[0] if err.args else f"component '{ref}' is not registered") from None


# --------------------------------------------------------------------------- pipelines

class _Param:
    """Stands for a pipeline function parameter while the pipeline is being built."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"${{{{parent.inputs.{self.name}}}}}"


class NodeOutput:
    """``node.outputs.NAME``: bind it to a later node's input or return it as a pipeline output."""

    def __init__(self, node: Node, name: str):
        self.node, self.name = node, name

    def __repr__(self) -> str:
        return f"${{{{parent.jobs.{self.node.name}.outputs.{self.name}}}}}"


class _Outputs:
    def __init__(self, node: Node):
        self._node = node

    def __getattr__(self, name: str) -> NodeOutput:
        if name.startswith("_"):
            raise AttributeError(name)
        declared = self._node.component.outputs
        if name not in declared:
            raise DuctworkError(f"component '{self._node.component.ref}' has no output '{name}'."
                                f"{did_you_mean(name, declared) or ' Its outputs: ' + (', '.join(declared) or 'none')}")
        return NodeOutput(self._node, name)

    def __getitem__(self, name: str) -> NodeOutput:
        return self.__getattr__(name)


class Node:
    """One job of a pipeline being built. Set ``compute``, ``timeout``, ``retries``,
    ``environment_variables``, ``force_rerun``, ``display_name`` or ``name`` on it."""

    def __init__(self, component: ComponentSpec, inputs: dict[str, Any]):
        self.component = component
        self.inputs = inputs
        self.outputs = _Outputs(self)
        self.name: str | None = None
        self.compute: str | None = None
        self.timeout: float | None = None
        self.retries = 0
        self.environment_variables: dict[str, str] = {}
        self.force_rerun = False
        self.display_name = ""

    def set_limits(self, *, timeout: float | None = None, **_azure: Any) -> None:
        """Azure's ``node.set_limits(timeout=SECONDS)``."""
        self.timeout = timeout


class _Builder:
    def __init__(self, base_dir: Path):
        self.nodes: list[Node] = []
        self.base_dir = base_dir

    def add(self, spec: ComponentSpec, kwargs: dict[str, Any]) -> Node:
        for key, value in kwargs.items():
            if key not in spec.inputs:
                raise DuctworkError(f"component '{spec.ref}' has no input '{key}'."
                                    f"{did_you_mean(key, spec.inputs) or ' Its inputs: ' + ', '.join(spec.inputs)}")
            if isinstance(value, (Node, PipelineJob)):
                raise DuctworkError(f"input '{key}' of component '{spec.ref}' is given a whole node; "
                                    "bind one of its outputs, e.g. node.outputs.NAME")
        node = Node(spec, dict(kwargs))
        self.nodes.append(node)
        return node


def _capture_locals(func: Callable, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Call ``func`` and return (result, its local variables at return)."""
    captured: dict[str, Any] = {}
    code = func.__code__
    previous = sys.getprofile()

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            captured.update(frame.f_locals)
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profiler)
    try:
        result = func(**kwargs)
    finally:
        sys.setprofile(previous)
    return result, captured


def _name_nodes(nodes: list[Node], local_vars: dict[str, Any]) -> None:
    by_id = {}
    for var, value in local_vars.items():
        if isinstance(value, Node) and id(value) not in by_id:
            by_id[id(value)] = var
    used: set[str] = {n.name for n in nodes if n.name}
    for node in nodes:
        if node.name:
            continue
        base = by_id.get(id(node)) or suggest_name(node.component.name)
        name, i = base, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        node.name = name
        used.add(name)


def _binding(value: Any, base_dir: Path) -> Any:
    if isinstance(value, NodeOutput):
        return JobOutput(value.node.name or "", value.name)
    if isinstance(value, _Param):
        return ParentInput(value.name)
    if isinstance(value, Input):
        if value.path is None:
            raise DuctworkError(f"{value!r} given to a job needs a path=")
        return ExternalData(path=_abs(value.path, base_dir), type=value.type)
    return LiteralValue(value)


def _abs(path: str | os.PathLike, base_dir: Path) -> str:
    text = str(path)
    if is_remote_path(text):
        return text
    return os.path.normpath(text if os.path.isabs(text) else base_dir / text)


class PipelineJob:
    """A pipeline with values, ready to run, register or export. ``spec`` is its :class:`PipelineSpec`."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self, *, relative_to: str | os.PathLike | None = None) -> dict[str, Any]:
        return pipeline_to_dict(self.spec, relative_to=relative_to)

    def dump(self, path: str | os.PathLike) -> Path:
        """Write the pipeline as YAML (paths relative to the file's folder)."""
        path = Path(path)
        path.write_text(dump_yaml(pipeline_to_dict(self.spec, relative_to=path.parent.resolve())))
        return path

    def __repr__(self) -> str:
        return f"<PipelineJob {self.spec.name}: {', '.join(self.spec.jobs)}>"


class _PipelineFunction:
    def __init__(self, func: Callable, name: str | None, description: str | None, display_name: str | None,
                 default_compute: str | None, version: Any, tags: dict[str, str] | None,
                 continue_on_step_failure: bool, force_rerun: bool):
        if getattr(func, "__name__", "") == "<lambda>":
            raise DuctworkError("@pipeline needs a named function, not a lambda")
        functools.update_wrapper(self, func)
        self.func = func
        self.name = name or suggest_name(func.__name__)
        self.description = description if description is not None else (inspect.getdoc(func) or "").split("\n")[0]
        self.display_name = display_name or ""
        self.settings = PipelineSettings(default_compute=default_compute,
                                         continue_on_step_failure=continue_on_step_failure, force_rerun=force_rerun)
        self.version = None if version is None else str(version)
        self.tags = dict(tags or {})
        try:
            self.base_dir = Path(inspect.getfile(func)).resolve().parent
        except TypeError:
            self.base_dir = Path.cwd()

    def __call__(self, *args: Any, **values: Any) -> PipelineJob:
        if getattr(_building, "current", None) is not None:
            raise DuctworkError(f"pipeline '{self.name}' is called inside another pipeline; nested pipelines "
                                "are not supported yet; call its components directly")
        signature = inspect.signature(self.func)
        if args:
            raise DuctworkError(f"pipeline '{self.name}' takes keyword arguments only")
        unknown = [k for k in values if k not in signature.parameters]
        if unknown:
            raise DuctworkError(f"pipeline '{self.name}' has no input '{unknown[0]}'."
                                f"{did_you_mean(unknown[0], signature.parameters)}")
        inputs: dict[str, PipelineInput] = {}
        for pname, param in signature.parameters.items():
            value = values.get(pname, None if param.default is param.empty else param.default)
            inputs[pname] = self._input(pname, value, param.annotation)
        builder = _Builder(self.base_dir)
        _building.current = builder
        try:
            result, local_vars = _capture_locals(self.func, {p: _Param(p) for p in signature.parameters})
        finally:
            _building.current = None
        _name_nodes(builder.nodes, local_vars)
        published = self._outputs(result)
        jobs: dict[str, JobSpec] = {}
        for node in builder.nodes:
            jobs[node.name or ""] = JobSpec(
                name=node.name or "", component=node.component,
                inputs={k: _binding(v, self.base_dir) for k, v in node.inputs.items()},
                outputs={out: target for (n, out), target in published.items() if n is node},
                compute=node.compute, timeout=None if node.timeout is None else float(node.timeout),
                retries=node.retries, environment_variables=dict(node.environment_variables),
                force_rerun=node.force_rerun, display_name=node.display_name)
        spec = PipelineSpec(
            name=self.name, version=self.version, display_name=self.display_name, description=self.description,
            tags=self.tags, inputs=inputs, outputs={t: PipelineOutput(t) for t in published.values()},
            settings=self.settings, jobs=jobs)
        return PipelineJob(spec)

    def _input(self, name: str, value: Any, annotation: Any) -> PipelineInput:
        if isinstance(value, Input):
            if value.type in DATA_TYPES:
                return PipelineInput(name=name, type=value.type,
                                     path=_abs(value.path, self.base_dir) if value.path is not None else None,
                                     optional=value.optional, description=value.description)
            return PipelineInput(name=name, type=value.type, value=value.default, optional=value.optional,
                                 description=value.description)
        if isinstance(annotation, Input) and value is None:
            return PipelineInput(name=name, type=annotation.type, optional=annotation.optional)
        if isinstance(value, (NodeOutput, Node, _Param)):
            raise DuctworkError(f"pipeline input '{name}' is given {value!r}; give it a value or Input(path=...)")
        return PipelineInput(name=name, value=value)

    def _outputs(self, result: Any) -> dict[tuple[Node, str], str]:
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise DuctworkError(f"pipeline '{self.name}' returned {result!r}; return None or a dict such as "
                                "{'model': train_node.outputs.model_output}")
        published: dict[tuple[Node, str], str] = {}
        for key, value in result.items():
            if not isinstance(value, NodeOutput):
                raise DuctworkError(f"pipeline '{self.name}' output '{key}' is {value!r}; it must be a node "
                                    "output such as train_node.outputs.model_output")
            published[(value.node, value.name)] = str(key)
        return published


def pipeline(func: Callable | None = None, *, name: str | None = None, description: str | None = None,
             display_name: str | None = None, default_compute: str | None = None, version: Any = None,
             tags: dict[str, str] | None = None, continue_on_step_failure: bool = False,
             force_rerun: bool = False, **_azure: Any) -> Any:
    """Make a function a pipeline: its parameters are pipeline inputs, a returned dict names outputs.

    Calling the decorated function with values gives a :class:`PipelineJob`.
    """
    def wrap(f: Callable) -> _PipelineFunction:
        return _PipelineFunction(f, name, description, display_name, default_compute, version, tags,
                                 continue_on_step_failure, force_rerun)

    return wrap(func) if func is not None else wrap
