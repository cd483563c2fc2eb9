"""A robust plan: the week solved again with room left before closing and before shifts end on
the days the simulation says run late, until each day's chance of overtime is under a target
where it can be, and what that costs in placed sessions.

The buffer is a hard change of the week being planned (the sessions of that weekday must end
``buffer`` minutes before the clinic closes and before their staff's shift ends), so it can cost
sessions; every plan is judged by replaying it against the real hours and shifts.

>>> robust = plan_robust(scenario, Options(time_limit=10), risk=0.1)   # doctest: +SKIP
>>> robust.tight_placed, robust.placed, robust.after                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from scheduler.edits import Buffer, edit_scenario
from scheduler.errors import InvalidInput
from scheduler.model import WEEKDAYS, Scenario, Weekday
from scheduler.usecases.plan import Planned, ProgressFn, plan_week
from scheduler.usecases.simulate import SimulationSettings, risk_by_day, simulate
from solver import Options

__all__ = ["BUFFER_STEP", "MOST_BUFFER", "OVERTIME_MINUTES", "RobustPlan", "RobustStep",
           "plan_robust"]

log = logging.getLogger(__name__)

BUFFER_STEP = 15
"""Minutes of room before closing added at each step on a day still at risk."""
OVERTIME_MINUTES = 15.0
"""Overtime a clinic takes in its stride: the risk counted is of more than this."""
MOST_BUFFER = 90
"""No day's bookings end more than this before closing: past it the clinic would do better to
open longer (a what-if) than to leave the end of its day empty."""


@dataclass(frozen=True, slots=True)
class RobustStep:
    buffers: dict[Weekday, int]
    """Minutes kept free before closing, by weekday."""
    placed: int
    risk: dict[date, float]


@dataclass(slots=True)
class RobustPlan:
    target: float
    planned: Planned
    """The plan kept: the first whose every day is under the target, else the least risky."""
    steps: list[RobustStep] = field(default_factory=list)
    kept: int = 0
    """Which step :attr:`planned` is."""

    @property
    def tight_placed(self) -> int:
        return self.steps[0].placed

    @property
    def placed(self) -> int:
        return self.steps[self.kept].placed

    @property
    def before(self) -> dict[date, float]:
        return self.steps[0].risk

    @property
    def after(self) -> dict[date, float]:
        return self.steps[self.kept].risk

    @property
    def met(self) -> bool:
        return all(p <= self.target for p in self.after.values())


def _worst(step: RobustStep) -> float:
    return max(step.risk.values(), default=0.0)


def _buffered(scenario: Scenario, buffers: dict[Weekday, int]) -> Scenario:
    """``scenario`` with the bookings of each weekday ending ``buffers[day]`` minutes before
    the clinic closes and before each staff member's shift ends (overtime is time past either;
    the real hours still judge every plan)."""
    by_minutes: dict[int, list[Weekday]] = {}
    for day, minutes in buffers.items():
        if minutes:
            by_minutes.setdefault(minutes, []).append(day)
    edits = [(f"risk.buffer[{m}]", Buffer.model_validate({"buffer": {"minutes": m, "days": d}}))
             for m, d in sorted(by_minutes.items())]
    return edit_scenario(scenario, list(edits)) if edits else scenario


def plan_robust(scenario: Scenario, options: Options, risk: float,
                settings: SimulationSettings | None = None, runs: int = 2000, seed: int = 0,
                on_progress: ProgressFn | None = None, now: datetime | None = None,
                beyond: float = OVERTIME_MINUTES) -> RobustPlan:
    """Plan the week, replay it ``runs`` times, and while a day's chance of overtime beyond
    ``beyond`` minutes (the clinic open late, or anyone past the end of their shift) is above
    ``risk``, plan again with :data:`BUFFER_STEP` more minutes free before closing and before
    each shift's end on that weekday, up to :data:`MOST_BUFFER`."""
    settings = settings or SimulationSettings()
    buffers = dict.fromkeys(WEEKDAYS, 0)
    planned = plan_week(scenario, options, on_progress, now)
    result = RobustPlan(risk, planned)
    while True:
        by_day = risk_by_day(simulate(scenario, planned.schedule, settings, runs, seed), beyond)
        step = RobustStep({d: m for d, m in buffers.items() if m},
                          len(planned.schedule.appointments), by_day)
        log.info("risk %s: placed %d, worst day %.1f %% (target %.1f %%)",
                 step.buffers or "tight", step.placed, 100 * _worst(step), 100 * risk)
        result.steps.append(step)
        best = result.steps[result.kept]
        if len(result.steps) == 1 or (_worst(step), -step.placed) < (_worst(best), -best.placed):
            result.planned, result.kept = planned, len(result.steps) - 1
        late = {WEEKDAYS[d.weekday()] for d, p in by_day.items() if p > risk}
        if not late:
            return result
        grow = {day for day in late if buffers[day] + BUFFER_STEP <= MOST_BUFFER}
        if not grow:
            return result
        for day in grow:
            buffers[day] += BUFFER_STEP
        try:
            shorter = _buffered(scenario, buffers)
        except InvalidInput:  # a day would close before it opens, or a fixed session no longer fits
            return result
        planned = plan_week(shorter, options, on_progress, now)
