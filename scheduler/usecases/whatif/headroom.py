"""Headroom: the most new patients of a mix (default: the base's own patients, cloned in a spread
order) for which a schedule was found that places every session of theirs while every patient
keeps as many sessions as the variant's own schedule gives them.

Before any CP-SAT step (``options.quick``), the greedy first fit puts newcomers into the gaps of
the week as scheduled (milliseconds: what fits without a search), and the LP relaxation of the
week with newcomers (``solver.bound``, computed for the first answer) bounds how many could
fit at most (a proof). CP-SAT's steps then bisect between the two: each first keeps the
variant's week as scheduled and fits the newcomers into its gaps (a small model), and only when
that fails solves the week again, everyone's sessions held first (one stage, the week as
scheduled its hint). Without a bound, steps double until one fails, then bisect. ``OPTIMAL``
means one more patient was proven not to fit (CP-SAT's bound or the LP's); ``FEASIBLE`` means
at least this many fit and more were not ruled out (``Headroom.most``: at most that many, when
a bound says so); ``LIMIT`` means the search stopped at its limit with every step fitting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ortools.sat.python import cp_model

from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Schedule
from scheduler.edits import scenario_data
from scheduler.model import Scenario
from scheduler.usecases.whatif.figures import booked
from scheduler.usecases.whatif.plan import WhatIfOptions, fresh_ids
from scheduler.usecases.whatif.results import Headroom, Step
from scheduler.validate import validate_scenario
from solver import Options, Patient, Placement, Problem, solve
from solver.candidates import NARROW_CHOICES, build_visits, choices, narrow
from solver.cpmodel import ChairModel, cp_solver
from solver.greedy import greedy
from solver.rooms import assign_rooms, class_of

__all__ = ["Search", "StepJob", "clones", "greedy_headroom", "headroom", "run_step"]


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
    gaps: bool = True
    """Search the week as scheduled for gaps first. False when fewer newcomers already found
    none there (:meth:`Search.gaps`): more of them cannot fit where fewer did not, so the
    step goes straight to the rearrangement."""


@dataclass(frozen=True, slots=True)
class _Week:
    """A step's week: the variant's patients holding the sessions its schedule gives them
    (``served``), the newcomers (``new``) and the schedule's appointments (``kept``)."""

    problem: Problem
    served: tuple[Patient, ...]
    new: tuple[Patient, ...]
    kept: tuple[Placement, ...]

    @classmethod
    def of(cls, scenario: Scenario, schedule: Schedule,
           newcomers: Sequence[dict[str, Any]]) -> _Week:
        data = scenario_data(scenario)
        data["patients"] = [*data["patients"], *newcomers]
        problem = to_problem(validate_scenario(data))
        n = len(scenario.patients)
        mine, new = problem.patients[:n], problem.patients[n:]
        kept = tuple(booked(schedule, SlotClock(scenario)))
        count = Counter(a.patient for a in kept if not problem.is_follow_up(a))
        served = tuple(replace(p, sessions=count[p.id]) for p in mine)
        return cls(problem, served, new, kept)

    def wanted(self, k: int) -> int:
        return sum(p.sessions for p in self.new[:k])

    def inserted(self, k: int) -> list[Placement] | None:
        """The first ``k`` newcomers put into the gaps of the week as scheduled by the greedy
        first fit (nothing of the week moves): their appointments, or None when a session of
        theirs finds no gap."""
        week = replace(self.problem, patients=self.served + self.new[:k], fixed=self.kept)
        visits, _ = build_visits(week)
        placed = assign_rooms(week, greedy(week, visits))
        ids = {p.id for p in self.new[:k]}
        return placed if _sessions_of(week, placed, ids) >= self.wanted(k) else None


def greedy_headroom(scenario: Scenario, schedule: Schedule,
                    newcomers: Sequence[dict[str, Any]]) -> tuple[Step, ...]:
    """How many of ``newcomers`` (in order) the greedy first fit puts into the gaps of
    ``schedule`` without moving anything: steps doubling until one fails, then bisecting. Each
    fitting step is a schedule (no proof that more do not fit: ``proven`` is False on the
    failures). Milliseconds to a second on the demo, so it runs before any CP-SAT step."""
    if not newcomers:
        return ()
    week = _Week.of(scenario, schedule, newcomers)
    lo: int = 0
    hi: int | None = None
    steps: list[Step] = []
    while True:
        k = min(max(lo + 1, 2 * lo), len(newcomers)) if hi is None else (lo + hi) // 2
        if k <= lo or (hi is not None and hi - lo <= 1):
            return tuple(steps)
        steps.append(Step(k, week.inserted(k) is not None, "greedy", False))
        if steps[-1].fits:
            lo = k
        else:
            hi = k


def run_step(job: StepJob) -> Step:
    """Do ``newcomers`` fit on top of ``schedule``? Every session of theirs placed while every
    patient keeps as many sessions as ``schedule`` gives them (those it could not place still
    wait; nobody served is turned away for a newcomer).

    First the week is kept exactly as scheduled and searched for gaps (a small model); when
    that fails the week is re-planned: every appointment may move (:func:`_rearranged`; with
    ``options.quick`` off, the re-planning stages of ``solver.solve``). A failure is proven
    when CP-SAT's bound falls short.
    """
    week = _Week.of(job.scenario, job.schedule, job.newcomers)
    problem, served, new, kept = week.problem, week.served, week.new, week.kept
    ids = {p.id for p in new}
    wanted = week.wanted(len(new))
    options = job.options.solver()
    if job.gaps or not job.options.quick:
        gaps = solve(replace(problem, patients=served + new, fixed=kept), options)
        if _sessions_of(problem, gaps.appointments, ids) >= wanted:
            return Step(len(new), True, "kept", True)
    if not job.options.rearrange:
        return Step(len(new), False, "kept", False)
    if job.options.quick:
        return _rearranged(week, options)
    confirmed = {a.id for a in problem.fixed}
    known = tuple(a for a in kept if a.id not in confirmed)
    week_solved = solve(replace(problem, patients=served + new, previous=known,
                                touched=frozenset(a.id for a in known if a.id)), options)
    needed = sum(p.priority * p.sessions for p in (*served, *new))
    everyone = (_sessions_of(problem, week_solved.appointments) - _sessions_of(
        problem, week_solved.appointments, ids) >= _sessions_of(problem, kept))
    if everyone and _sessions_of(problem, week_solved.appointments, ids) >= wanted:
        return Step(len(new), True, "moved", True)
    return Step(len(new), False, "moved", week_solved.bound < needed)


def _rearranged(week: _Week, options: Options) -> Step:
    """The week solved again in one CP-SAT search with the whole time limit, starting from the
    week as scheduled (the hint): the objective counts sessions (follow-ups aside), each of a
    patient already served worth more than every newcomer's together (``heavy``), so the
    search keeps everyone's sessions first and fits newcomers around them; it stops as soon as
    a schedule fits. Each patient's sessions are capped at what they want (served: what the
    schedule gave them), so a schedule worth ``needed`` is one that fits, and CP-SAT's bound
    below it proves none does, unless the model was narrowed (a big week: then no proof)."""
    problem = week.problem
    heavy = 1 + week.wanted(len(week.new))
    plain = replace(problem, patients=week.served + week.new)
    visits, _ = build_visits(plain)
    confirmed = {a.id for a in problem.fixed}
    classes = class_of(plain)
    hint = [replace(a, room=classes.get(a.room, a.room) if a.room else a.room)
            for a in week.kept if a.id not in confirmed]
    narrowed = choices(visits) > NARROW_CHOICES
    if narrowed:  # as solve() does for a big new week
        visits = narrow(plain, visits, hint)
    model = ChairModel(plain, visits)
    model.hint(hint)
    mine = {p.id for p in week.served}
    weight = [0 if v.follow_up else heavy if v.patient.id in mine else 1 for v in visits]
    fixed = sum(1 for a in problem.fixed if a.patient in mine and not problem.is_follow_up(a))
    needed = heavy * (sum(p.sessions for p in week.served) - fixed) + week.wanted(len(week.new))
    model.model.maximize(cp_model.LinearExpr.weighted_sum(
        [model.vars.present[i] for i in range(len(visits))], weight))
    solver = cp_solver(options.time_limit, options)
    status = solver.solve(model.model, _Enough(needed))
    found = model.read(solver) if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else []
    count = Counter(a.patient for a in (*problem.fixed, *found) if not problem.is_follow_up(a))
    fits = all(count[p.id] >= p.sessions for p in (*week.served, *week.new))
    proven = fits or (not narrowed and solver.best_objective_bound < needed - 1e-6)
    return Step(len(week.new), fits, "moved", proven)


class _Enough(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first schedule worth ``needed``: everyone fits."""

    def __init__(self, needed: int) -> None:
        super().__init__()
        self.needed = needed

    def on_solution_callback(self) -> None:
        if self.objective_value >= self.needed - 1e-6:
            self.stop_search()


@dataclass
class Search:
    """How many newcomers fit: double until a step fails, then bisect, between what is known
    to fit (``lo``: the greedy's insertion, say) and what is proven not to (``hi``: the LP's
    bound, say)."""

    limit: int
    lo: int = 0
    hi: int | None = None
    steps: list[Step] = field(default_factory=list)
    solves: int | None = None
    """Most CP-SAT steps (None: until the answer is known); the answer says how far it got."""

    def next(self) -> int | None:
        """The next number of newcomers to try; None when the answer is known.

        Doubling from ``lo``, never past the middle of ``lo`` and ``hi``: after a CP-SAT step
        failed that is the bisection; under a loose bound (the LP's, 28 on the demo's one
        more chair where 3 fit) it keeps the steps near what fits. Bisecting from such a
        bound spent failing steps (each its whole time limit) at 14, 7 and 5 first."""
        if self.solves is not None and sum(
                s.how in ("kept", "moved") for s in self.steps) >= self.solves:
            return None
        if self.hi is None:
            if self.lo >= self.limit:
                return None
            return min(max(self.lo + 1, 2 * self.lo), self.limit)
        if self.hi - self.lo <= 1:
            return None
        return min(max(self.lo + 1, 2 * self.lo), (self.lo + self.hi) // 2)

    def gaps(self, k: int) -> bool:
        """Whether a step of ``k`` newcomers should search the week as scheduled first: not
        when a CP-SAT step of no more newcomers found no room there (it went on to move the
        week). Fewer newcomers fit wherever more do, so those gaps hold no ``k``."""
        return not any(s.patients <= k and (s.how == "moved" or (s.how == "kept" and not s.fits))
                       for s in self.steps)

    def record(self, step: Step) -> None:
        self.steps.append(step)
        if step.fits:
            self.lo = max(self.lo, step.patients)
        elif step.how != "greedy":  # the greedy failing says nothing of CP-SAT's steps
            self.hi = step.patients if self.hi is None else min(self.hi, step.patients)

    def answer(self, clones: Sequence[dict[str, Any]]) -> Headroom:
        failed = [s for s in self.steps if not s.fits and s.how != "greedy"]
        proven = [s.patients for s in failed if s.proven]
        if not failed and self.lo >= self.limit:
            status = "LIMIT"
        elif proven and min(proven) == self.lo + 1:
            status = "OPTIMAL"
        else:
            status = "FEASIBLE"
        sessions = sum(int(c.get("sessions", 1)) for c in clones[:self.lo])
        most = min(proven) - 1 if proven else None
        return Headroom(self.lo, sessions, status, self.limit, tuple(self.steps), most)


def headroom(scenario: Scenario, schedule: Schedule, clones: Sequence[dict[str, Any]],
             options: WhatIfOptions, most: int | None = None) -> Headroom:
    """How many of ``clones`` (new patients, in order) fit on top of ``schedule``, one step
    after the other here (``run_whatif`` runs the steps of many variants in its pool): with
    ``options.quick`` the greedy's insertion first, and CP-SAT's steps between what it fits and
    ``most`` (proven: the LP's bound), if given."""
    if not clones:
        return Headroom(0, 0, "SKIPPED")
    search = start(len(clones), greedy_headroom(scenario, schedule, clones)
                   if options.quick else (), most, options)
    while (k := search.next()) is not None:
        search.record(run_step(StepJob(scenario, schedule, tuple(clones[:k]), options,
                                       search.gaps(k))))
    return search.answer(clones)


def start(limit: int, greedy_steps: Sequence[Step], most: int | None,
          options: WhatIfOptions) -> Search:
    """The search after its quick steps: the greedy's insertions (what fits without CP-SAT)
    and the LP's bound (``most`` newcomers at most; a proof, recorded as a failing step one
    above it)."""
    search = Search(limit, solves=options.headroom_solves)
    for step in greedy_steps:
        search.record(step)
    if most is not None and most < limit:
        search.record(Step(max(most + 1, search.lo + 1), False, "lp", True))
    return search


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
