"""The component model: specs, loaders, the Python SDK, and the built-in library.

Pure Python plus PyYAML: no database, no Ray. The names below are the public
API other layers import (``from components import load_pipeline_file``).
"""

from components.codefiles import function_source_files
from components.digest import (
    canonical_json,
    code_digest,
    component_digest,
    spec_digest,
)
from components.errors import DuctworkError, Problem, ValidationError
from components.loader import component_from_dict, load_component_file
from components.pipeline_loader import load_pipeline_file, pipeline_from_dict
from components.serialize import component_to_dict, dump_yaml, pipeline_to_dict
from components.spec import (
    ComponentRef,
    ComponentSpec,
    EnvironmentSpec,
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
from components.validate import compute_for_job, resolve_pipeline, validate_component, validate_pipeline

__all__ = [
    "ComponentRef",
    "ComponentSpec",
    "DuctworkError",
    "EnvironmentSpec",
    "FunctionEntry",
    "InputSpec",
    "JobOutput",
    "JobSpec",
    "LiteralValue",
    "OutputSpec",
    "ParentInput",
    "PipelineInput",
    "PipelineOutput",
    "PipelineSettings",
    "PipelineSpec",
    "Problem",
    "Resources",
    "ValidationError",
    "canonical_json",
    "code_digest",
    "component_digest",
    "component_from_dict",
    "component_to_dict",
    "compute_for_job",
    "dump_yaml",
    "function_source_files",
    "load_component_file",
    "load_pipeline_file",
    "pipeline_from_dict",
    "pipeline_to_dict",
    "resolve_pipeline",
    "spec_digest",
    "validate_component",
    "validate_pipeline",
]
