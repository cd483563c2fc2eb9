"""Chairtime's CP-SAT solver: a plain :class:`Problem` in, a plain :class:`Solution` out.

>>> from solver import solve, Options
>>> solution = solve(problem, Options(time_limit=10))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time

from solver.candidates import build_visits
from solver.explain import explain
from solver.greedy import greedy
from solver.model import ChairModel, ProgressFn
from solver.problem import (
    Appointment,
    Day,
    Interval,
    Mode,
    OnSite,
    Options,
    Patient,
    Phase,
    Problem,
    Progress,
    Protocol,
    Room,
    Solution,
    Staff,
    StaffNeed,
    Unplaced,
    Weights,
)
from solver.score import penalties

__all__ = [
    "Appointment",
    "Day",
    "Interval",
    "Mode",
    "OnSite",
    "Options",
    "Patient",
    "Phase",
    "Problem",
    "Progress",
    "Protocol",
    "Room",
    "Solution",
    "Staff",
    "StaffNeed",
    "Unplaced",
    "Weights",
    "greedy_solve",
    "solve",
]

log = logging.getLogger(__name__)

PLACEMENT_SHARE = 0.6
"""Share of the time limit given to placing sessions; the rest polishes soft goals."""


def _value(problem: Problem, appointments: list[Appointment]) -> int:
    prio = {p.id: p.priority for p in problem.patients}
    return sum(prio[a.patient] for a in appointments)


def greedy_solve(problem: Problem) -> Solution:
    """The greedy first-fit schedule alone (a baseline, and what a clerk would do)."""
    t0 = time.perf_counter()
    visits, funnels = build_visits(problem)
    placed = greedy(problem, visits)
    value = _value(problem, [*problem.fixed, *placed])
    everything = [*problem.fixed, *placed]
    return Solution("GREEDY", time.perf_counter() - t0, value, value, everything,
                    explain(problem, visits, funnels, placed), penalties(problem, everything),
                    value)


def solve(problem: Problem, options: Options | None = None,
          on_progress: ProgressFn | None = None) -> Solution:
    """Place as many priority-weighted sessions as possible, then polish the soft goals.

    Fixed appointments come back unchanged at the head of ``appointments``. A time limit never
    loses the best schedule found: the greedy first fit is the floor.
    """
    options = options or Options()
    t0 = time.perf_counter()
    visits, funnels = build_visits(problem)
    first = greedy(problem, visits)
    fixed_value = _value(problem, list(problem.fixed))
    greedy_value = fixed_value + _value(problem, first)
    log.info("greedy first fit places %d sessions (weighted %d)", len(first), greedy_value)
    best, status, bound = first, "GREEDY", None
    model = ChairModel(problem, visits)
    if options.use_hint:
        model.hint(first)
    share = PLACEMENT_SHARE if options.soft_goals else 1.0
    def report(p: Progress) -> None:
        if on_progress is not None:  # the model sees new sessions only: add the fixed ones
            shift = fixed_value if p.stage == "placement" else 0
            on_progress(Progress(p.stage, p.seconds, p.objective + shift, p.bound + shift))

    stage1 = model.solve_placement(options.time_limit * share, options, report)
    if stage1.appointments is not None and stage1.objective + fixed_value >= greedy_value:
        best, status = stage1.appointments, stage1.status
    if stage1.status in ("OPTIMAL", "FEASIBLE", "INFEASIBLE"):
        bound = stage1.bound + fixed_value
    placed_value = fixed_value + _value(problem, best)
    if options.soft_goals and visits:
        left = options.time_limit - (time.perf_counter() - t0)
        model.hint(best)
        stage2 = model.solve_soft(placed_value - fixed_value, max(left, 1.0), options, report)
        if stage2.appointments is not None:
            best = stage2.appointments
    everything = [*problem.fixed, *best]
    return Solution(
        status=status,
        seconds=time.perf_counter() - t0,
        objective=placed_value,
        bound=bound if bound is not None else _upper_bound(problem),
        appointments=everything,
        unplaced=explain(problem, visits, funnels, best),
        penalties=penalties(problem, everything),
        greedy_objective=greedy_value,
    )


def _upper_bound(problem: Problem) -> int:
    from solver.candidates import remaining_sessions

    remaining = remaining_sessions(problem)
    fixed = _value(problem, list(problem.fixed))
    return fixed + sum(p.priority * remaining[p.id] for p in problem.patients)
