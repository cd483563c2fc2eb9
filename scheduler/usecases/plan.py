"""Plan a week: a scenario in, a checked schedule out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from scheduler.check import Violation, check
from scheduler.compile import to_problem
from scheduler.documents import Schedule, schedule_from_solution
from scheduler.model import Scenario
from solver import Options, Progress, solve

log = logging.getLogger(__name__)

ProgressFn = Callable[[Progress], None]
"""The one progress callback of every use case: called with each better schedule found."""


@dataclass(frozen=True, slots=True)
class Planned:
    schedule: Schedule
    violations: list[Violation]
    """What the independent checker found wrong (empty unless the solver has a bug)."""


def plan_week(scenario: Scenario, options: Options, on_progress: ProgressFn | None = None,
              now: datetime | None = None) -> Planned:
    """Solve a scenario and re-check the result independently (a violation is a bug)."""
    problem = to_problem(scenario)
    solution = solve(problem, options, on_progress)
    schedule = schedule_from_solution(scenario, problem, solution, now)
    violations = check(scenario, schedule.to_json())
    for v in violations:
        log.error("solver produced a schedule that breaks a hard rule: %s", v)
    return Planned(schedule, violations)
