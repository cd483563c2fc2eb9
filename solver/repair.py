"""A re-plan's first answer: only what the events touched is rebooked, everything else pinned.

The full re-planning model (``solve`` with ``Problem.previous``) holds a variable for every
session of the week and can take the whole time limit. The front desk, with a patient on the
phone, needs an answer in a second or two, so re-planning runs in two steps:

1. :func:`first_answer`: every untouched appointment becomes ``fixed`` (:func:`pinned`), so the
   model holds only the touched patients' sessions and the waiting patients' (those short of
   their wanted count, new ones included), each offered only the rooms, people and starts the
   pinned week leaves free: the full re-plan's stages (rebook, keep, place, fewest moves) as one
   search on a model a small share of the week's, hinted with its greedy first fit;
2. ``solve(problem, start=first)``: the full model, hinted with the first answer, which is also
   its floor (:func:`replan_key`): the final answer is never worse than the first.

A touched patient with a dose step or follow-ups keeps their untouched sessions known rather
than pinned: a session's protocol (the step) and a follow-up's match depend on the patient's
other sessions, so when a touched one cannot be rebooked where it was, pinning the rest would
leave no schedule at all. Those sessions move only within the move budget
(``Weights.extra_moves``), as in the full re-plan.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

import numpy as np
from ortools.sat.python import cp_model

from solver.candidates import Visit, build_visits, narrow
from solver.cpmodel import ChairModel, ProgressFn, cp_solver
from solver.explain import explain
from solver.greedy import Ledger, greedy
from solver.problem import Options, Placement, Problem, Progress, Solution
from solver.rooms import assign_rooms, class_of
from solver.score import penalties

__all__ = ["FIRST_SECONDS", "PRESOLVE_MAX", "first_answer", "hint_of", "pinned", "replan_key",
           "settled"]

FIRST_SECONDS = 1.5
"""The first answer's time limit (greedy, model and search; the explanations and the caller's
check come after): it leaves the front desk's answer under 2 s on an M week (bench/README.md,
re-planning)."""

PRESOLVE_MAX = 2_000
"""Pinned models with more CP-SAT variables than this are searched without presolve
(``_search``)."""


def pinned(problem: Problem) -> Problem:
    """``problem`` with every untouched known appointment fixed, except those of a touched
    patient with a dose step or follow-ups (they stay known: ``previous``)."""
    touched = {a.patient for a in problem.previous if a.id in problem.touched}
    linked = {pid for pid in touched
              if problem.patient[pid].step is not None
              or problem.patient[pid].follow_up is not None}
    pin = [a for a in problem.previous
           if a.id not in problem.touched and a.patient not in linked]
    pinned_ids = {id(a) for a in pin}
    known = tuple(a for a in problem.previous if id(a) not in pinned_ids)
    return replace(problem, fixed=(*problem.fixed, *pin), previous=known)


def first_answer(problem: Problem, options: Options,
                 on_progress: ProgressFn | None = None) -> Solution:
    """The re-plan of ``problem`` (one with ``previous``) with every untouched appointment kept
    where it is (:func:`pinned`), within about ``options.time_limit``.

    The greedy first fit of the pinned problem is the floor and the hint; one CP-SAT search
    then ranks schedules as the re-planning stages do (:func:`_ranking`), each session choosing
    among what the pinned week leaves free (:func:`_free_only`), at most ``STAFF_CHOICES``
    people per need (``candidates.narrow``) and the person it had. The answer is
    ``problem``'s: its fixed appointments first, then the pinned ones and the sessions placed;
    its bound is the week's trivial one (a pinned model proves nothing about the week).
    Status FEASIBLE, or GREEDY when CP-SAT found nothing better in time.
    """
    from solver.solve import capacity_bound  # solve imports this module

    t0 = time.perf_counter()
    sub = pinned(problem)
    visits, funnels = build_visits(sub)
    floor = greedy(sub, visits)
    best, status, size = floor, "GREEDY", {"visits": len(visits)}
    if visits:
        model = ChairModel(sub, _narrowed(sub, _free_only(sub, visits), floor))
        model.hint(floor)

        # with deterministic limits the whole limit is CP-SAT's work, not what the clock left
        left = options.time_limit - (0 if options.deterministic else time.perf_counter() - t0)
        found = _search(model, max(left, 0.2), options)
        if found is not None and replan_key(sub, found) >= replan_key(sub, floor):
            best, status = found, "FEASIBLE"
        proto = model.model.proto
        size |= {"variables": len(proto.variables), "constraints": len(proto.constraints)}
    best = assign_rooms(sub, best)
    everything = [*sub.fixed, *best]
    value, bound = _value(sub, everything), capacity_bound(problem)
    if on_progress is not None:
        on_progress(Progress("first answer", time.perf_counter() - t0, value, bound))
    return Solution(status, time.perf_counter() - t0, value, bound, everything,
                    explain(sub, visits, funnels, best), penalties(problem, everything),
                    _value(sub, [*sub.fixed, *floor]), size)


def _value(problem: Problem, appointments: list[Placement]) -> int:
    return sum(problem.patient[a.patient].priority for a in appointments)


def _free_only(problem: Problem, visits: list[Visit]) -> list[Visit]:
    """``visits`` offering only the rooms, people and starts the fixed appointments leave
    free (a visit with none left out). Nothing is lost: in a pinned week almost everything is
    fixed, and what else is placed only takes more. On an L week this leaves a small share of
    the visits' room and staff choices (bench/README.md, re-planning)."""
    ledger = Ledger(problem)
    for a in problem.fixed:
        ledger.book(problem.appointment_protocol(a), a)
    out = []
    for visit in visits:  # as the greedy's first fit reads a visit (``greedy._first_fit``)
        options, protocol = visit.options, visit.protocol
        starts = np.asarray(visit.starts, dtype=np.int64)
        columns = starts - options.base
        room_rows, staff_rows = ledger.pool_rows(options)
        free = np.ones(len(starts), bool)
        rooms: dict[str, set[int]] = {}
        if not protocol.video:
            masks = options.room_allow[:, columns]
            if len(room_rows):
                masks &= ledger.room_masks(room_rows, protocol, starts)
            rooms = _sets(options.room_ids, masks, starts)
            free &= masks.any(axis=0)
        staff: list[dict[str, set[int]]] = []
        for n, ids in enumerate(options.staff_ids):
            masks = options.staff_allow[n][:, columns]
            if ids:
                masks &= ledger.staff_masks(staff_rows[n], protocol, n, starts)
            staff.append(_sets(ids, masks, starts))
            free &= masks.any(axis=0)
        if not free.any():
            continue
        kept = set(starts[free].tolist())
        out.append(replace(visit, starts=sorted(kept),
                           _rooms={r: ok & kept for r, ok in rooms.items() if ok & kept},
                           _staff=[{w: ok & kept for w, ok in pool.items() if ok & kept}
                                   for pool in staff]))
    return out


def _sets(ids: list[str], masks: np.ndarray, starts: np.ndarray) -> dict[str, set[int]]:
    """Per resource (a row of ``masks``) with some start free, its free starts."""
    return {who: set(starts[row].tolist()) for who, row in zip(ids, masks, strict=True)
            if row.any()}


def _narrowed(problem: Problem, visits: list[Visit], floor: list[Placement]) -> list[Visit]:
    """``candidates.narrow``'s visits, each known appointment's own people offered again (so
    it can stay exactly as it was)."""
    known = {(a.patient, a.day, problem.protocol_id(a)): a for a in problem.previous}
    out = []
    for wide, visit in zip(visits, narrow(problem, visits, floor), strict=True):
        a = known.get(visit.key)
        if a is None:
            out.append(visit)
            continue
        pools = []
        for n, pool in enumerate(visit.staff):
            who = a.staff.get(wide.protocol.staff[n].key)
            mine = {who: wide.staff[n][who]} if who in wide.staff[n] else {}
            pools.append(pool | mine)
        out.append(visit.with_staff(pools))
    return out


def _search(model: ChairModel, seconds: float, options: Options) -> list[Placement] | None:
    """The best schedule CP-SAT finds for :func:`_ranking` in ``seconds``, from the model's
    hint; None when it finds none. A model of more than ``PRESOLVE_MAX`` variables skips
    presolve: the hint is a complete schedule, and on an L week's pinned model (about 4,000)
    presolve took most of the first second, while on an M week's (about 400) it lets CP-SAT
    prove the optimum in a fraction of one (bench/README.md, re-planning)."""
    model.model.maximize(_ranking(model))
    solver = cp_solver(seconds, options)
    solver.parameters.cp_model_presolve = len(model.model.proto.variables) <= PRESOLVE_MAX
    status = solver.solve(model.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return model.read(solver)


def _ranking(model: ChairModel) -> cp_model.LinearExprT:
    """The re-planning stages (rebook, keep, place, fewest changes) as one objective to
    maximise, each measure weighted above everything the ones after it can add up to: one
    search instead of four, each of which would presolve the model again."""
    problem = model.problem
    kept = sum(1 for a in problem.previous if a.id not in problem.touched)
    placed = sum(v.patient.priority for v in model.visits)
    changes = (sum(1 + len(a.staff) for a in problem.previous) + 1) * (len(problem.previous) + 1)
    w_place = changes + 1
    w_keep = w_place * (placed + 1)
    w_rebook = w_keep * (kept + 1)
    return cp_model.LinearExpr.weighted_sum(
        [model.rebooked_value(), model.untouched_kept(), model.placement_value(),
         model.changes()], [w_rebook, w_keep, w_place, -1])


def hint_of(problem: Problem, solution: Solution) -> list[Placement]:
    """``solution``'s appointments as the model of ``problem`` reads them: the fixed ones left
    out, rooms given back to their room classes (``solver.rooms``)."""
    fixed = {(a.patient, a.day, a.start) for a in problem.fixed}
    classes = class_of(problem)
    return [replace(a, room=classes.get(a.room, a.room) if a.room is not None else None)
            for a in solution.appointments if (a.patient, a.day, a.start) not in fixed]


def settled(problem: Problem, stage: str, appointments: list[Placement]) -> int | None:
    """The value of ``appointments`` on re-planning stage ``stage`` when no schedule can do
    better (every known patient's sessions rebooked; every untouched appointment kept), so
    the stage need not search (each search presolves the whole week again: on a loaded
    machine an M week's took longer than the stage's window, bench/README.md); else None."""
    rebooked, kept, _, _ = replan_key(problem, appointments)
    if stage == "rebook" and rebooked == len(problem.previous):
        return rebooked
    untouched = sum(1 for a in problem.previous if a.id not in problem.touched)
    if stage == "keep" and kept == untouched:
        return kept
    return None


def replan_key(problem: Problem, appointments: list[Placement]) -> tuple[int, int, int, int]:
    """How a re-plan's stages rank ``appointments`` (fixed ones left out), best largest:
    touched patients' sessions rebooked, untouched appointments kept exactly, weighted sessions
    placed, and minus the known appointments whose patient has no session at their minute."""
    had = Counter(a.patient for a in problem.previous)
    mine = Counter(a.patient for a in appointments)
    rebooked = sum(min(k, mine[pid]) for pid, k in had.items())
    classes = class_of(problem)

    def exact(a: Placement) -> tuple[object, ...]:
        room = classes.get(a.room, a.room) if a.room is not None else None
        return (a.patient, a.start, room, problem.protocol_id(a),
                tuple(sorted(a.staff.items())))

    here = {exact(a) for a in appointments}
    kept = sum(1 for a in problem.previous
               if a.id not in problem.touched and exact(a) in here)
    at = {(a.patient, a.start) for a in appointments}
    moves = sum(1 for a in problem.previous if (a.patient, a.start) not in at)
    placed = sum(problem.patient[a.patient].priority for a in appointments)
    return rebooked, kept, placed, -moves
