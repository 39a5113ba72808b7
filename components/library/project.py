"""Write a self-contained project folder from a template (``ductwork init DIR --template NAME``).

The project is what a team checks into git: ``pipeline.yml`` and its Python twin
``pipeline.py``, one folder per step holding that step's ``component.yml`` and code, the
template's sample data in ``data/``, and a README saying who edits what. Component and
data paths are rewritten from the library's (``../../text/clean/component.yml``) to the
project's (``./clean/component.yml``), so nothing points outside the folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components.errors import DuctworkError
from components.library.catalog import TemplateInfo

__all__ = ["ProjectStep", "Project", "write_project"]

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ipynb_checkpoints")


@dataclass(frozen=True)
class ProjectStep:
    """One step folder of a project: the component it holds and the jobs that use it."""

    folder: str
    component: str  #: ``name:version``
    jobs: tuple[str, ...]
    compute: str
    description: str


@dataclass
class Project:
    """What :func:`write_project` wrote."""

    root: Path
    template: str
    steps: list[ProjectStep] = field(default_factory=list)
    data: list[str] = field(default_factory=list)  #: data folders copied (relative names)
    example_input: tuple[str, object] | None = None  #: a literal pipeline input, for the README's --set


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise DuctworkError(f"project folder '{target}' is a file; give a new or empty folder")
    if target.is_dir():
        entries = sorted(p.name for p in target.iterdir())
        if entries:
            shown = ", ".join(f"'{e}'" for e in entries[:3]) + (", …" if len(entries) > 3 else "")
            raise DuctworkError(
                f"project folder '{target}' is not empty ({len(entries)} entries: {shown}); "
                "ductwork init writes a new project and overwrites nothing. Choose a new or empty folder."
            )


def _unique(name: str, used: set[str], domain: str) -> str:
    candidate = name if name not in used else f"{domain}_{name}"
    while candidate in used:
        candidate += "_"
    used.add(candidate)
    return candidate


def _plan_copies(template: TemplateInfo, pipeline: dict) -> tuple[dict[str, Path], dict[str, str]]:
    """``{project folder: source folder}`` and ``{old path literal: new path literal}``."""
    copies: dict[str, Path] = {}
    rewrite: dict[str, str] = {}
    used: set[str] = {"pipeline.yml", "pipeline.py", "README.md", ".gitignore"}
    by_source: dict[Path, str] = {}
    for job in (pipeline.get("jobs") or {}).values():
        ref = job.get("component") if isinstance(job, dict) else None
        if not isinstance(ref, str) or not ref.endswith((".yml", ".yaml")) or ref in rewrite:
            continue
        source = (template.folder / ref).resolve()
        folder = by_source.get(source.parent)
        if folder is None:
            folder = _unique(source.parent.name, used, source.parent.parent.name)
            by_source[source.parent] = folder
            copies[folder] = source.parent
        rewrite[ref] = f"./{folder}/{source.name}"
    for value in (pipeline.get("inputs") or {}).values():
        path = value.get("path") if isinstance(value, dict) else None
        if not isinstance(path, str) or path in rewrite or "://" in path:
            continue
        source = (template.folder / path).resolve()
        folder = _unique("data" if "data" not in used else source.name, used, source.parent.name)
        copies[folder] = source
        rewrite[path] = f"./{folder}"
    return copies, rewrite


def _rewrite(text: str, rewrite: dict[str, str]) -> str:
    for old in sorted(rewrite, key=len, reverse=True):
        text = text.replace(old, rewrite[old])
    return text


def write_project(template: TemplateInfo, target: str | Path) -> Project:
    """Write ``template`` as a self-contained project into ``target`` (new or empty folder).

    A non-empty ``target`` is refused. The written ``pipeline.yml`` is loaded back to
    check it; the folder is removed again if that fails.
    """
    from components.loader import load_component_file
    from components.pipeline_loader import load_pipeline_file

    root = Path(target).expanduser().absolute()
    _check_target(root)
    text = template.pipeline_file.read_text(encoding="utf-8")
    pipeline = yaml.safe_load(text) or {}
    copies, rewrite = _plan_copies(template, pipeline)
    existed = root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        for folder, source in copies.items():
            shutil.copytree(source, root / folder, ignore=_IGNORE)
        (root / "pipeline.yml").write_text(_rewrite(text, rewrite), encoding="utf-8")
        if template.python_file.is_file():
            python = _rewrite(template.python_file.read_text(encoding="utf-8"), rewrite)
            (root / "pipeline.py").write_text(python, encoding="utf-8")
        (root / ".gitignore").write_text(".ductwork/\n__pycache__/\n*.pyc\n", encoding="utf-8")
        spec = load_pipeline_file(root / "pipeline.yml")
        project = Project(root=root, template=template.name)
        component_dirs = {f for f, s in copies.items() if (s / "component.yml").is_file()}
        for folder in sorted(component_dirs, key=lambda f: list(copies).index(f)):
            component = load_component_file(root / folder / "component.yml")
            jobs = tuple(name for name, job in spec.jobs.items()
                         if getattr(job.component, "code", None) == (root / folder).resolve())
            computes = sorted({spec.jobs[j].compute or component.compute or spec.settings.default_compute or "local"
                               for j in jobs})
            project.steps.append(ProjectStep(folder, component.ref, jobs, ", ".join(computes),
                                             component.display_name or component.name))
        project.data = [f for f in copies if f not in component_dirs]
        literal = next((i for i in spec.inputs.values() if not i.is_data and i.value is not None), None)
        project.example_input = (literal.name, literal.value) if literal else None
        (root / "README.md").write_text(project_readme(template, project), encoding="utf-8")
    except BaseException:
        if existed:
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return project


def project_readme(template: TemplateInfo, project: Project) -> str:
    """The project README: how to run it, and who edits what."""
    rows = "\n".join(
        f"| `{s.folder}/` | `{s.component}` — {s.description} | {', '.join(f'`{j}`' for j in s.jobs)} "
        f"| `{s.compute}` | _(name)_ |"
        for s in project.steps
    )
    data = ", ".join(f"`{d}/`" for d in project.data) or "none"
    example = "NAME=VALUE"
    if project.example_input:
        name, value = project.example_input
        changed = value * 2 if isinstance(value, (int, float)) and not isinstance(value, bool) else "VALUE"
        example = f"{name}={changed}"
    about = template.readme_file.read_text(encoding="utf-8") if template.readme_file.is_file() else ""
    about = about.replace("\n# ", "\n## ").replace("\n## ", "\n### ")
    if about.startswith("# "):
        about = "##" + about[1:]
    return f"""# {template.title}

Made with `ductwork init --template {template.name}`. {template.description}

## Run it
```
ductwork validate pipeline.yml
ductwork run pipeline.yml                  # steps whose code, parameters and inputs are unchanged are reused
ductwork run pipeline.yml --set {example}   # change one input: only what depends on it runs again
ductwork run pipeline.yml --plan           # what would be reused and what would run, and why
```
`pipeline.py` is the same pipeline in Python (`python -c "from pipeline import build; print(build())"`).
The workspace (registry, runs, cached outputs) is `./.ductwork` — ignored by git.

## Who edits what
Each step is one folder: its `component.yml` (the step's interface: inputs, outputs, parameters,
compute) and its code. Assign each folder to one person; they change only that folder.

| folder | component | job(s) in pipeline.yml | compute | owner |
|---|---|---|---|---|
{rows}

- **Code and defaults** inside a step folder: only its owner. Changing the code reruns that step
  and whatever its outputs feed; everything upstream is reused.
- **Interface** (names and types of inputs/outputs in `component.yml`): agree with the owners of
  the connected steps first, since `pipeline.yml` wires them together.
- **`pipeline.yml` / `pipeline.py`** (wiring, compute per job, pipeline inputs): the team lead.
  Keep the two in step, or delete `pipeline.py` if the team works in YAML only.
- **Data** ({data}): the sample the template ships with; point the pipeline input `raw` at your own data.
- Bump `version:` in a `component.yml` before registering a changed component
  (`ductwork component register {project.steps[0].folder if project.steps else 'STEP'}/component.yml`).

{about}"""
