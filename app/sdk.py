"""Run and register from Python: the last step of the Azure-shaped SDK (``components.sdk``).

    from components.sdk import Input, pipeline
    from app.sdk import run

    job = my_pipeline(data=Input(type="uri_folder", path="./data"), lr=0.1)
    result = run(job)                      # the same engine, reuse and records as `ductwork run`
    print(result.run.status, [s.status for s in result.steps])

``components`` cannot import the engine or the registry (layers point one way), so these
live here, over the same service layer as the CLI and the app.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.sdk import PipelineJob
from components.spec import PipelineSpec

__all__ = ["run", "register"]


def _spec(job: PipelineJob | PipelineSpec | str | Path) -> PipelineSpec | str | Path:
    return job.spec if isinstance(job, PipelineJob) else job


def run(
    job: PipelineJob | PipelineSpec | str | Path,
    params: Mapping[str, Any] | None = None,
    *,
    home: str | Path | None = None,
    force: bool = False,
    address: str | None = None,
    in_process: bool = False,
    warm: bool | None = None,
):
    """Run a pipeline job (or spec, file, or registered ``name[:version]``) in this process as the
    driver; returns the engine's ``RunResult`` (``.run``, ``.steps``, ``.ok``).

    ``params`` are pipeline input values, as ``--set`` gives them: checked before anything runs
    against every component input each one feeds (``ValidationError`` listing every problem).
    ``home`` is the workspace (default: ``$DUCTWORK_HOME`` or ``./.ductwork``); ``address`` joins a
    Ray cluster; ``in_process`` runs steps in threads of this process (debugging, no Ray); ``warm``
    as ``ductwork run --warm/--no-warm`` (default: the workspace's warm Ray, started if none is up,
    unless ``DUCTWORK_WARM=0`` or ``CI`` is set).
    """
    from app.services.runs import start_run
    from app.services.workspace import open_workspace

    ws = open_workspace(home)
    return start_run(ws, _spec(job), params, force=force, address=address, warm=warm,
                     executor="in-process" if in_process else "ray",
                     on_notice=lambda message: print(message, file=sys.stderr))


def register(job: PipelineJob | PipelineSpec | str | Path, *, home: str | Path | None = None):
    """Register a pipeline job (and the components it uses) as a new pipeline version."""
    from app.services.pipelines import register_pipeline
    from app.services.workspace import open_workspace

    return register_pipeline(open_workspace(home), _spec(job))
