"""What a run spent and what reuse saved it, in seconds and money: the one place of that
arithmetic, used by the CLI's summary, the JSON of runs and the app's charts.

A step's cost is its duration times the hourly price of its compute target
(``duration_s × price_per_hour / 3600``); a reused step's saving is the reused step run's
own duration times the price it paid. A price of 0 means "no price set": such a step costs
0 and is not ``priced``, and the summary shows money only where some price is set. Sums use
``math.fsum``, so they are the exactly rounded sums of the recorded terms, whatever their order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.records import StepRunRecord, StepStatus

__all__ = ["Spend", "RunCosts", "hourly_cost", "step_spent", "step_saved", "step_cost", "run_costs",
           "format_hours", "format_money", "describe_costs"]

@dataclass(frozen=True)
class Spend:
    """Seconds and their cost; ``priced``: some of them had a price (else the cost is 0 only
    because no price was set)."""

    seconds: float = 0.0
    cost: float = 0.0
    priced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "cost": self.cost}


@dataclass(frozen=True)
class RunCosts:
    """A run's spend (in all and per compute target) and what reuse saved it."""

    spent: Spend = Spend()
    by_compute: dict[str, Spend] = field(default_factory=dict)
    saved: Spend = Spend()

    def to_dict(self) -> dict[str, Any]:
        """``{"spent": {"seconds", "cost", "by_compute": {TARGET: {"seconds", "cost"}}}, "saved": {…}}``."""
        spent = self.spent.to_dict() | {"by_compute": {k: v.to_dict() for k, v in self.by_compute.items()}}
        return {"spent": spent, "saved": self.saved.to_dict()}


def hourly_cost(seconds: float | None, price_per_hour: float | None) -> Spend:
    """``seconds`` at ``price_per_hour`` (0 or unset: no price)."""
    seconds = seconds or 0.0
    if not price_per_hour:
        return Spend(seconds)
    return Spend(seconds, seconds * price_per_hour / 3600, True)


def step_spent(step: StepRunRecord) -> Spend:
    """What executing the step cost (nothing for a reused step)."""
    return Spend() if step.status == StepStatus.REUSED else hourly_cost(step.duration_s, step.price_per_hour)


def step_saved(step: StepRunRecord) -> Spend:
    """What reusing the step saved: the reused step run's duration at the price it paid."""
    return hourly_cost(step.saved_s, step.saved_price_per_hour) if step.status == StepStatus.REUSED else Spend()


def step_cost(step: StepRunRecord) -> float:
    """The step's own money figure: what it spent, or what it saved when reused."""
    return (step_saved(step) if step.status == StepStatus.REUSED else step_spent(step)).cost


def _total(parts: list[Spend]) -> Spend:
    return Spend(math.fsum(p.seconds for p in parts), math.fsum(p.cost for p in parts), any(p.priced for p in parts))


def run_costs(steps: Iterable[StepRunRecord]) -> RunCosts:
    """Add up a run's step runs: spent (per compute target too) and saved."""
    spent: list[Spend] = []
    saved: list[Spend] = []
    per_target: dict[str, list[Spend]] = {}
    for step in steps:
        if step.status == StepStatus.REUSED:
            saved.append(step_saved(step))
        elif step.duration_s:
            part = step_spent(step)
            spent.append(part)
            per_target.setdefault(step.compute or "", []).append(part)
    return RunCosts(_total(spent), {k: _total(v) for k, v in per_target.items()}, _total(saved))


def format_hours(seconds: float) -> str:
    """``2 h 14 min``, ``4 min``, ``12 s``, ``0.4 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def format_money(cost: float) -> str:
    """``$5.60``; an amount under a cent keeps two significant digits (``$0.0031``)."""
    return f"${cost:.2f}" if cost >= 0.01 or cost == 0 else f"${cost:.2g}"


def describe_costs(costs: RunCosts) -> str:
    """``reuse saved 2 h 14 min and $5.60; spent 4 min ($0.17) on gpu, 1 min on cpu-highmem``."""
    parts: list[str] = []
    if costs.saved.seconds:
        money = f" and {format_money(costs.saved.cost)}" if costs.saved.priced else ""
        parts.append(f"reuse saved {format_hours(costs.saved.seconds)}{money}")
    targets = sorted(costs.by_compute.items(), key=lambda kv: (-kv[1].seconds, kv[0]))
    spent = [f"{format_hours(s.seconds)}{f' ({format_money(s.cost)})' if s.priced else ''}"
             f"{f' on {name}' if name else ''}" for name, s in targets]
    parts.append("spent " + (", ".join(spent) if spent else "nothing"))
    return "; ".join(parts)
