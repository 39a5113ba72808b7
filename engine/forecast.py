"""What a plan can say beyond reuse: how long each step will take, from its component's
history, and whether the machine that will run it can place it — without starting Ray.

The estimate is the median duration of the last completed step runs of the same component
name and version (any pipeline), read from the run store in one batched query. Placement
is judged against what the Ray the run will use offers (``engine.placement``); for a
cluster joined by address that is not known before the run, and ``placeable`` is ``None``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from engine.costs import format_hours
from engine.graph import PipelineGraph
from engine.placement import fits, shortfall
from engine.plan import REUSE, RunPlan
from engine.runstore import RunStore

__all__ = ["HISTORY", "StepForecast", "PlanForecast", "forecast_plan", "estimate"]

HISTORY = 10  #: completed step runs an estimate is taken from, newest first


@dataclass(frozen=True)
class StepForecast:
    """One step: its estimated duration (``None``: no completed run of its component version
    yet), how many runs it is from, and whether the machine can place it and why not."""

    job: str
    estimate_s: float | None
    history: int
    placeable: bool | None
    placement: str

    def to_dict(self) -> dict[str, object]:
        return {"estimate_s": self.estimate_s, "history": self.history, "placeable": self.placeable,
                "placement": self.placement}


@dataclass(frozen=True)
class PlanForecast:
    """Every step's forecast, and the totals: the estimated time of the steps that will execute
    (as if one after another) and how many of them have no history."""

    steps: Mapping[str, StepForecast]
    to_run_s: float
    to_run: int  #: steps that will execute (not reused)
    unknown: int  #: of those, how many have no history
    where: str  #: what placement was judged against, in words

    def unplaceable(self) -> list[str]:
        return [f.job for f in self.steps.values() if f.placeable is False]

    def describe(self) -> str:
        """``≈ 4 min to run 2 step(s) one after another; 1 step(s) without history``."""
        known = self.to_run - self.unknown
        parts = [f"≈ {format_hours(self.to_run_s)} to run {known} step(s) one after another" if known else "",
                 f"{self.unknown} step(s) without history" if self.unknown else ""]
        return "; ".join(p for p in parts if p) or "nothing to run"


def estimate(durations: list[float]) -> float | None:
    """The median of recent durations, ``None`` without any."""
    return round(statistics.median(durations), 3) if durations else None


def forecast_plan(graph: PipelineGraph, plan: RunPlan, store: RunStore, offer: Mapping[str, float] | None,
                  where: str) -> PlanForecast:
    """Estimates and placement of every step of ``plan``. ``offer``: the resources of the node
    the run will use (``None``: not known before the run, e.g. a cluster joined by address)."""
    history = store.recent_durations({node.component.ref for node in graph.steps.values()}, HISTORY)
    steps: dict[str, StepForecast] = {}
    to_run: list[float] = []
    count = unknown = 0
    for name, decision in plan.steps.items():
        node = graph.steps[name]
        durations = history.get(node.component.ref, [])
        guess = estimate(durations)
        if decision.action != REUSE:
            count += 1
            if guess is None:
                unknown += 1
            else:
                to_run.append(guess)
        if offer is None:
            placeable, placement = None, f"not known before the run ({where})"
        elif fits(node.request, offer):
            placeable, placement = True, f"fits {where}"
        else:
            placeable, placement = False, f"{where} cannot place it: needs {', '.join(shortfall(node.request, offer))}"
        steps[name] = StepForecast(name, guess, len(durations), placeable, placement)
    return PlanForecast(steps, round(sum(to_run), 3), count, unknown, where)
