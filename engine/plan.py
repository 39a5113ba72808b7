"""Plan a run: which steps are reused, which run and why, on which compute — without running
anything and without Ray. The scheduler asks the same ``Planner`` about steps whose inputs
only become known while the run goes on.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from components.spec import ExternalData, JobOutput, LiteralValue, ParentInput
from engine.artifacts import ArtifactStore
from engine.fingerprint import ComponentFingerprints
from engine.graph import PipelineGraph, StepNode
from engine.inputs import ExternalDigests, PipelineValues
from engine.leases import live_holders, waits_reason
from engine.manifests import ReuseManifests
from engine.records import OutputRef, ReuseRecord, StepRunRecord, StoreBatch
from engine.runstore import RunStore
from engine.signature import (
    StepIngredients,
    diff_ingredients,
    environment_fingerprint,
    parameters_after_defaults,
)

__all__ = ["Decision", "RunPlan", "Planner", "plan_run", "StepInputs"]

REUSE, RUN, WAIT = "reuse", "run", "wait"


@dataclass(frozen=True)
class StepInputs:
    """A step's bound inputs: parameter values, data paths, and where each data input came from."""

    parameters: dict[str, Any]
    paths: dict[str, str | None]
    digests: dict[str, str | None]
    sources: dict[str, str]


@dataclass(frozen=True)
class Decision:
    """What happens to one step: ``reuse`` (with the record), ``run`` or ``wait`` (for upstream)."""

    job: str
    action: str
    reason: str
    compute: str
    resources: str
    ingredients: StepIngredients | None = None
    reuse: ReuseRecord | None = None

    @property
    def signature(self) -> str | None:
        return self.ingredients.signature if self.ingredients else None


@dataclass(frozen=True)
class RunPlan:
    """Every step's decision, in topological order."""

    steps: Mapping[str, Decision]
    evicted: tuple[str, ...] = field(default=())

    def count(self, action: str) -> int:
        return sum(1 for d in self.steps.values() if d.action == action)

    @property
    def fully_reused(self) -> bool:
        return all(d.action == REUSE for d in self.steps.values())


class Planner:
    """Signatures, reuse lookups and explanations for the steps of one run.

    A signature the run store has no reuse record of is looked up in the reuse manifests
    beside the artifacts (``engine.manifests``): a lost or rebuilt run store loses no reuse.
    ``writes``: the planner of a run (not of a plan only) puts a record it reuses from a
    manifest back into the run store, and deletes the manifest of a record it evicts.
    ``first``: records to write in the transaction of the plan's reads, before them (a run's
    start record: one transaction instead of a second one)."""

    def __init__(self, graph: PipelineGraph, values: PipelineValues, store: RunStore,
                 artifacts: ArtifactStore, externals: ExternalDigests, fingerprints: ComponentFingerprints,
                 force: bool = False, verify: bool = False, writes: bool = True, first: StoreBatch | None = None):
        self.graph, self.values, self.store, self.artifacts = graph, values, store, artifacts
        self.externals, self.fingerprints, self.force, self.verify = externals, fingerprints, force, verify
        self.manifests, self.writes = ReuseManifests.beside(artifacts), writes
        self._from_manifest: dict[str, ReuseRecord] = {}  #: records found only in a manifest
        self._restored: list[ReuseRecord] = []  #: of those, the ones reused: to put back into the run store
        self.evicted: list[str] = []  #: signatures whose reuse record must go (missing or corrupt output)
        self.corrupt: list[str] = []  #: artifact digests whose content no longer matches (``verify``)
        self._rehashed: dict[str, str | None] = {}
        self._ran: set[str] = set()  #: jobs decided RUN: a reused step downstream of one is an early cutoff
        jobs = list(graph.steps)
        with store.reading():  # the plan's reads, back to back on one connection closed right after
            if first:  # e.g. the run's first record: written in this transaction, not on a connection of its own
                store.apply(first)
            self.previous: dict[str, StepRunRecord] = store.latest_step_runs(graph.pipeline.name, jobs)
            missing = {graph.steps[j].component.name for j in jobs if j not in self.previous}
            self.by_component = store.latest_component_runs(missing) if missing else {}
            #: reuse records of the previous runs' signatures: the likely hits, looked up at once
            #: (none for a forced run: no step of it may be reused, or is looked up)
            self.previous_hits: dict[str, ReuseRecord] = {} if force else self.find_reuse(
                p.signature for p in self.previous.values() if p.signature)
        #: outputs that earlier step runs of these jobs and components made: an artifact made again
        #: in this run with one of these digests (it was deleted or evicted) is not new to them
        self.known_digests: frozenset[str] = frozenset(
            ref.digest for rec in [*self.previous.values(), *self.by_component.values()]
            for ref in rec.outputs.values())
        paths = [p for p in values.paths.values() if p]
        paths += [b.path for n in graph.steps.values() for b in n.job.inputs.values() if isinstance(b, ExternalData)]
        externals.prepare(paths)

    # -------------------------------------------------------------- ingredients
    def step_inputs(self, node: StepNode, outputs_of: Callable[[str], Mapping[str, OutputRef]]) -> StepInputs:
        """Bind a step's inputs; ``outputs_of(job)`` gives an upstream step's committed outputs."""
        given: dict[str, Any] = {}
        paths: dict[str, str | None] = {}
        digests: dict[str, str | None] = {}
        sources: dict[str, str] = {}
        for name, ispec in node.component.inputs.items():
            binding = node.job.inputs.get(name)
            if ispec.is_data:
                path = digest = None
                if isinstance(binding, JobOutput):
                    ref = outputs_of(binding.job)[binding.output]
                    base = self.artifacts.path(ref.digest)
                    path, digest = str(base / ref.file if ref.file else base), ref.digest
                    sources[name] = f"job:{binding.job}.{binding.output}"
                else:
                    if isinstance(binding, ParentInput):
                        path = self.values.paths.get(binding.name)
                        if path is None and binding.name in self.values.literals:
                            path = self.values.literals[binding.name]
                    elif isinstance(binding, ExternalData):
                        path = binding.path
                    elif isinstance(binding, LiteralValue) and binding.value is not None:
                        path = str(binding.value)
                    if path is not None:
                        digest = self.externals.digest(path)
                        sources[name] = f"path:{path}"
                paths[name], digests[name] = path, digest
            elif binding is not None:
                if isinstance(binding, ParentInput):
                    given[name] = self.values.literals.get(binding.name, self.values.paths.get(binding.name))
                elif isinstance(binding, LiteralValue):
                    given[name] = binding.value
        return StepInputs(parameters_after_defaults(node.component, given), paths, digests, sources)

    def ingredients(self, node: StepNode, bound: StepInputs) -> StepIngredients:
        fp = self.fingerprints.of(node.component)
        environment, environment_source = environment_fingerprint(node.component.environment, node.runtime_env)
        return StepIngredients(
            component=node.component.name, version=node.component.version, component_digest=fp.digest,
            parameters=bound.parameters, inputs=bound.digests, environment=environment,
            environment_variables={k: str(v) for k, v in node.job.environment_variables.items()},
            code_manifest=fp.manifest, input_sources=bound.sources, definition=fp.definition,
            environment_source=environment_source,
        )

    # -------------------------------------------------------------- reuse records
    def find_reuse(self, signatures: Iterable[str]) -> dict[str, ReuseRecord]:
        """The run store's reuse records of these signatures; for those it has none of, the
        reuse manifests' (one read each)."""
        keys = list(dict.fromkeys(signatures))
        found = self.store.find_reuse(keys)
        from_manifests = self.manifests.get_many(s for s in keys if s not in found)
        self._from_manifest.update(from_manifests)
        hits = found | from_manifests
        prefetch = getattr(self.artifacts, "prefetch", None)
        if prefetch is not None and hits:  # an object store: the outputs' trees in one batch
            prefetch(ref.digest for record in hits.values() for ref in record.outputs.values())
        return hits

    def _evict(self, signature: str) -> None:
        """Queue the eviction of a broken reuse record (the scheduler takes ``evicted``); its
        manifest goes first, so that it cannot bring the record back."""
        self.evicted.append(signature)
        self._from_manifest.pop(signature, None)
        if self.writes:
            self.manifests.delete([signature])

    def put_back(self) -> None:
        """Put the records reused from manifests back into the run store (one batch)."""
        restored, self._restored = self._restored, []
        if restored and self.writes:
            self.store.apply(StoreBatch(reuse=restored))

    # -------------------------------------------------------------- decisions
    def _decision(self, node: StepNode, action: str, reason: str, ing: StepIngredients | None = None,
                  reuse: ReuseRecord | None = None) -> Decision:
        if action == RUN:
            self._ran.add(node.name)
        return Decision(node.name, action, reason, node.compute.name, node.request.describe(), ing, reuse)

    def forced_reason(self, node: StepNode) -> str | None:
        if self.force:
            return "forced (--force)"
        if self.graph.pipeline.settings.force_rerun:
            return "forced (settings.force_rerun)"
        if node.force_rerun:
            return "forced (force_rerun on the job)"
        if not node.component.is_deterministic:
            return "not deterministic"
        return None

    def explain_miss(self, node: StepNode, ing: StepIngredients) -> str:
        """Why a step with these ingredients is not reused: a diff against its closest earlier run."""
        prev = self.previous.get(node.name) or self.by_component.get(node.component.name)
        if prev is None or not prev.ingredients:
            return "first run"
        reasons = diff_ingredients(StepIngredients.from_dict(prev.ingredients), ing)
        if reasons:
            return "; ".join(reasons)
        if ing.signature in self.evicted:
            return "cached output missing"
        evicted = self.store.eviction_reasons([ing.signature]).get(ing.signature)  # by verify or gc
        if evicted:
            return evicted
        return f"no reusable result (the step {prev.status} in run {prev.run_id})"

    def _corruption(self, name: str, digest: str) -> str | None:
        """With ``verify``: why output ``name`` stored under ``digest`` is corrupt, or ``None``."""
        if digest not in self._rehashed:
            self._rehashed[digest] = self.artifacts.rehash(digest)
        actual = self._rehashed[digest]
        if actual == digest:
            return None
        if digest not in self.corrupt:
            self.corrupt.append(digest)
        return f"cached output corrupt ({name}): digest {actual or 'none'} ≠ {digest}"

    def check_reuse(self, node: StepNode, ing: StepIngredients, record: ReuseRecord | None) -> Decision:
        """A hit needs a record AND every output present with its recorded size; with ``verify``,
        also every output's content re-hashed to its recorded digest."""
        if record is not None:
            gone = [name for name in node.component.outputs
                    if name not in record.outputs
                    or not self.artifacts.exists(record.outputs[name].digest, record.outputs[name].size)]
            if gone:
                self._evict(ing.signature)
                return self._decision(node, RUN, f"cached output missing ({', '.join(gone)})", ing)
            if self.verify:
                corrupt = [why for name in node.component.outputs
                           if (why := self._corruption(name, record.outputs[name].digest))]
                if corrupt:
                    self._evict(ing.signature)
                    return self._decision(node, RUN, "; ".join(corrupt), ing)
            if self._from_manifest.pop(ing.signature, None) is not None:
                self._restored.append(record)
            return self._decision(node, REUSE, self._reuse_reason(node, record), ing, record)
        return self._decision(node, RUN, self.explain_miss(node, ing), ing)

    def _reuse_reason(self, node: StepNode, record: ReuseRecord) -> str:
        """``reused from run X``, and when an upstream step ran again in this run and made the same
        bytes (early cutoff), which: ``…: its input from prep was rebuilt with the same content``."""
        rebuilt = sorted({b.job for b in node.job.inputs.values() if isinstance(b, JobOutput) and b.job in self._ran})
        source = f"reused from run {record.run_id}"
        if record.workspace and record.workspace != getattr(self.artifacts, "workspace", record.workspace):
            source += f" of workspace {record.workspace}"  # a shared store: a teammate's, CI's or the cluster's
        if not rebuilt:
            return source
        which = "its input from " if len(rebuilt) == 1 else "its inputs from "
        verb = " was" if len(rebuilt) == 1 else " were"
        return f"{source}: {which}{', '.join(rebuilt)}{verb} rebuilt with the same content"

    def decide(self, node: StepNode, ing: StepIngredients, fresh_inputs: bool = False) -> Decision:
        """Decide a step whose inputs are all committed. ``fresh_inputs``: an input was created in
        this run, so no earlier step run can have seen it (no lookup needed)."""
        forced = self.forced_reason(node)
        if forced:
            return self._decision(node, RUN, forced, ing)
        if fresh_inputs:
            return self._decision(node, RUN, self.explain_miss(node, ing), ing)
        found = self.find_reuse([ing.signature])
        decision = self.check_reuse(node, ing, found.get(ing.signature))
        self.put_back()
        return decision

    def plan(self) -> RunPlan:
        """Decide every step whose inputs are known now; the rest ``wait`` for their upstream.

        A ready queue, not passes over the whole graph: a step is looked at once, when its last
        upstream step is decided, so planning is linear in the steps (a 5,000-step chain declared
        last-first included). Signatures that neither the previous runs' records nor an earlier
        lookup answer are looked up together, once nothing else can be decided."""
        steps, downstream = self.graph.steps, self.graph.downstream
        hits: dict[str, ReuseRecord] = dict(self.previous_hits)
        looked_up: set[str] = set(hits)
        looked_up.update(p.signature for p in self.previous.values() if p.signature)
        decisions: dict[str, Decision] = {}
        blocked = {name: len(node.upstream) for name, node in steps.items()}
        ready = deque(name for name, count in blocked.items() if not count)
        unknown: dict[str, StepIngredients] = {}

        def settle(decision: Decision) -> None:
            decisions[decision.job] = decision
            for down in downstream.get(decision.job, ()):
                blocked[down] -= 1
                if not blocked[down]:
                    ready.append(down)

        # A chain whose reuse records come from another pipeline (a clone, a rename) needs one
        # lookup per step: those share one transaction (one opening of the file each otherwise). Between them is
        # only pure work and stat() calls once the components' code is fingerprinted here; with
        # ``verify`` re-hashing outputs comes between, so each lookup opens its own.
        for node in steps.values():
            self.fingerprints.of(node.component)
        with contextlib.nullcontext() if self.verify else self.store.reading():
            while ready or unknown:
                if not ready:
                    batch, unknown = unknown, {}
                    hits.update(self.find_reuse([ing.signature for ing in batch.values()]))
                    looked_up.update(ing.signature for ing in batch.values())
                    for name, ing in batch.items():
                        settle(self.check_reuse(steps[name], ing, hits.get(ing.signature)))
                    continue
                node = steps[ready.popleft()]
                waiting = [u for u in node.upstream if decisions[u].action != REUSE]
                if waiting:
                    settle(self._decision(node, WAIT, f"waits for {', '.join(waiting)}"))
                    continue
                ing = self.ingredients(node, self.step_inputs(node, lambda j: decisions[j].reuse.outputs))
                forced = self.forced_reason(node)
                if forced:
                    settle(self._decision(node, RUN, forced, ing))
                elif ing.signature in looked_up:
                    settle(self.check_reuse(node, ing, hits.get(ing.signature)))
                else:
                    unknown[node.name] = ing
        self.put_back()
        ordered = {name: decisions[name] for name in steps}
        return RunPlan(ordered, tuple(self.evicted))


def plan_run(graph: PipelineGraph, values: PipelineValues, store: RunStore, artifacts: ArtifactStore,
             force: bool = False, verify: bool = False) -> RunPlan:
    """The plan of a run (nothing is executed, Ray is not started, nothing is evicted)."""
    from engine.fingerprint import ComponentFingerprints

    planner = Planner(graph, values, store, artifacts, ExternalDigests(store), ComponentFingerprints(), force,
                      verify, writes=False)
    return with_lease_holders(planner.plan(), planner)


def with_lease_holders(plan: RunPlan, planner: Planner) -> RunPlan:
    """``plan`` with each reusable step that another live run is executing right now marked
    "waits for run X (job J)": a run started now would wait for it and reuse its result."""
    reusable = {name: d.signature for name, d in plan.steps.items()
                if d.action == RUN and d.signature and planner.forced_reason(planner.graph.steps[name]) is None}
    holders = live_holders(planner.store, reusable.values())
    if not holders:
        return plan
    steps = {name: replace(d, reason=waits_reason(holders[reusable[name]])) if reusable.get(name) in holders else d
             for name, d in plan.steps.items()}
    return replace(plan, steps=steps)
