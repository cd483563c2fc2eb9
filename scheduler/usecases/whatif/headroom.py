"""Headroom: the most new patients of a mix (default: the base's own patients, cloned in a spread
order) for which a schedule was found that places every session of theirs while every patient
keeps as many sessions as the variant's own schedule gives them.

Each step first keeps the variant's week as scheduled and fits the newcomers into its gaps (a
small, fast model: the warm start), and only when that fails solves the week again with those
sessions held. Steps double until one fails, then bisect. ``OPTIMAL`` means one more patient
was proven not to fit (CP-SAT's bound); ``FEASIBLE`` means at least this many fit and more were
not ruled out; ``LIMIT`` means the search stopped at its limit with every step fitting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Schedule
from scheduler.edits import scenario_data
from scheduler.model import Scenario
from scheduler.usecases.whatif.figures import booked
from scheduler.usecases.whatif.plan import WhatIfOptions, fresh_ids
from scheduler.usecases.whatif.results import Headroom, Step
from scheduler.validate import validate_scenario
from solver import Placement, Problem, solve

__all__ = ["Search", "StepJob", "clones", "headroom", "run_step"]


def _sessions_of(problem: Problem, appointments: Sequence[Placement],
                 ids: set[str] | None = None) -> int:
    """Sessions (follow-ups aside: they are not ``sessions``) of the patients ``ids`` (all
    when None)."""
    return sum(1 for a in appointments
               if (ids is None or a.patient in ids) and not problem.is_follow_up(a))


@dataclass(frozen=True, slots=True)
class StepJob:
    scenario: Scenario
    schedule: Schedule
    newcomers: tuple[dict[str, Any], ...]
    options: WhatIfOptions


def run_step(job: StepJob) -> Step:
    """Do ``newcomers`` fit on top of ``schedule``? Every session of theirs placed while every
    patient keeps as many sessions as ``schedule`` gives them (those it could not place still
    wait; nobody served is turned away for a newcomer).

    First the week is kept exactly as scheduled and searched for gaps (a small model); when
    that fails the week is re-planned: every appointment may move, but every patient's sessions
    are rebooked first and held (the re-planning stages), starting from the week as scheduled
    (the warm start). A failure is proven when CP-SAT's bound falls short.
    """
    data = scenario_data(job.scenario)
    data["patients"] = [*data["patients"], *job.newcomers]
    problem = to_problem(validate_scenario(data))
    n = len(job.scenario.patients)
    mine, new = problem.patients[:n], problem.patients[n:]
    kept = tuple(booked(job.schedule, SlotClock(job.scenario)))
    count = Counter(a.patient for a in kept if not problem.is_follow_up(a))
    served = tuple(replace(p, sessions=count[p.id]) for p in mine)
    ids = {p.id for p in new}
    wanted = sum(p.sessions for p in new)
    options = job.options.solver()
    gaps = solve(replace(problem, patients=served + new, fixed=kept), options)
    if _sessions_of(problem, gaps.appointments, ids) >= wanted:
        return Step(len(new), True, "kept", True)
    if not job.options.rearrange:
        return Step(len(new), False, "kept", False)
    confirmed = {a.id for a in problem.fixed}
    known = tuple(a for a in kept if a.id not in confirmed)
    week = solve(replace(problem, patients=served + new, previous=known,
                         touched=frozenset(a.id for a in known if a.id)), options)
    needed = sum(p.priority * p.sessions for p in (*served, *new))
    everyone = (_sessions_of(problem, week.appointments) - _sessions_of(
        problem, week.appointments, ids) >= _sessions_of(problem, kept))
    if everyone and _sessions_of(problem, week.appointments, ids) >= wanted:
        return Step(len(new), True, "moved", True)
    return Step(len(new), False, "moved", week.bound < needed)


@dataclass
class Search:
    """How many newcomers fit: double until a step fails, then bisect."""

    limit: int
    lo: int = 0
    hi: int | None = None
    steps: list[Step] = field(default_factory=list)

    def next(self) -> int | None:
        """The next number of newcomers to try; None when the answer is known."""
        if self.hi is None:
            if self.lo >= self.limit:
                return None
            return 1 if not self.steps else min(2 * self.lo, self.limit)
        return (self.lo + self.hi) // 2 if self.hi - self.lo > 1 else None

    def record(self, step: Step) -> None:
        self.steps.append(step)
        if step.fits:
            self.lo = max(self.lo, step.patients)
        else:
            self.hi = step.patients if self.hi is None else min(self.hi, step.patients)

    def answer(self, clones: Sequence[dict[str, Any]]) -> Headroom:
        if self.hi is None:
            status = "LIMIT"
        else:
            last = next(s for s in reversed(self.steps) if s.patients == self.hi)
            status = "OPTIMAL" if last.proven else "FEASIBLE"
        sessions = sum(int(c.get("sessions", 1)) for c in clones[:self.lo])
        return Headroom(self.lo, sessions, status, self.limit, tuple(self.steps))


def headroom(scenario: Scenario, schedule: Schedule, clones: Sequence[dict[str, Any]],
             options: WhatIfOptions) -> Headroom:
    """How many of ``clones`` (new patients, in order) fit on top of ``schedule``, one step
    after the other here (``run_whatif`` runs the steps of many variants in its pool)."""
    if not clones:
        return Headroom(0, 0, "SKIPPED")
    search = Search(len(clones))
    while (k := search.next()) is not None:
        search.record(run_step(StepJob(scenario, schedule, tuple(clones[:k]), options)))
    return search.answer(clones)


def clones(mix: list[tuple[dict[str, Any], int]], n: int, taken: set[str]
            ) -> tuple[dict[str, Any], ...]:
    """``n`` new patients following ``mix`` (smooth weighted round robin over its templates),
    with ids none of ``taken`` has."""
    if not mix or n <= 0:
        return ()
    credit = [0] * len(mix)
    total = sum(share for _, share in mix)
    ids = fresh_ids("new-", n, taken)
    out = []
    for ident in ids:
        for i, (_, share) in enumerate(mix):
            credit[i] += share
        pick = max(range(len(mix)), key=lambda i: (credit[i], -i))
        credit[pick] -= total
        out.append({**mix[pick][0], "id": ident})
    return tuple(out)
