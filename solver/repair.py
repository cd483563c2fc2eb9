"""A re-plan's first answer: only what the events touched is rebooked, everything else pinned,
unless a few untouched neighbours must move to rebook a touched patient's session.

The full re-planning model (``solve`` with ``Problem.previous``) holds a variable for every
session of the week and can take the whole time limit. The front desk, with a patient on the
phone, needs an answer in a second or two, so re-planning runs in two steps:

1. :func:`first_answer`: every untouched appointment becomes ``fixed`` (:func:`pinned`), so the
   model holds only the touched patients' sessions and the waiting patients' (those short of
   their wanted count, new ones included), each offered only the rooms, people and starts the
   pinned week leaves free: the full re-plan's stages (rebook, keep, place, fewest moves) as one
   search on a model a small share of the week's, hinted with its greedy first fit. When that
   leaves a touched patient with fewer sessions than they had, the search runs again with the
   pinned appointments in the way of that patient's possible sessions freed (known, not
   fixed: :func:`_neighbours`), growing while time is left: the few whose leaving alone frees
   the most starts, then all those, then every one in the way, the patient's own other
   sessions included. A freed neighbour stays on its day and moves only within the move
   budget (``Weights.extra_moves``), and the ranking keeps untouched appointments above new
   placements (:func:`_ranking`), so one moves only when that rebooks a touched patient's
   session, as in the full re-plan: on an M week where the one-step re-plan moved one or two
   untouched appointments to rebook one, the pinned model could not (bench/README.md,
   re-planning). Waiting patients never free neighbours: moving an untouched appointment to
   fit one in ranks below keeping it;
2. ``solve(problem, start=first)``: the full model, hinted with the first answer, which is also
   its floor (:func:`replan_key`): the final answer is never worse than the first.

A touched patient with a dose step or follow-ups keeps their untouched sessions known rather
than pinned: a session's protocol (the step) and a follow-up's match depend on the patient's
other sessions, so when a touched one cannot be rebooked where it was, pinning the rest would
leave no schedule at all. Those sessions move only within the move budget
(``Weights.extra_moves``), as in the full re-plan. For the same reason such a patient's
appointments are never freed as neighbours of another's.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Set
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

log = logging.getLogger(__name__)

PINNED_SHARE = 0.6
"""Share of the first answer's time the pinned model's search may take: the rest is for the
neighbourhood's (``first_answer``) when a touched patient is left short."""

NEIGHBOURHOODS: tuple[Callable[[int, int], int], ...] = (
    lambda unlocking, _: min(unlocking, 8),
    lambda unlocking, _: unlocking,
    lambda _, everything: min(everything, 60),
)
"""How many of the ranked neighbours (:func:`_neighbours`) each try frees, given how many free
a start alone and how many there are: the few that free the most starts, all those, then every
one in the way (at most 60); a try that frees no more than the last is skipped."""

NEIGHBOUR_MIN_SECONDS = 0.2
"""Below this much time left, no neighbourhood is tried (twice this for the second and
third): on a loaded machine, building the model of 50 neighbours took 0.4 s."""

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
    where it is (:func:`pinned`), or, when that leaves a touched patient short of the sessions
    they had, with a few of them free to move (:func:`_neighbours`), within about
    ``options.time_limit``.

    The greedy first fit of the pinned problem is the floor and the hint; one CP-SAT search
    then ranks schedules as the re-planning stages do (:func:`_ranking`), each session choosing
    among what the pinned week leaves free (:func:`_free_only`), at most ``STAFF_CHOICES``
    people per need (``candidates.narrow``) and the person it had. While a touched patient is
    short and time is left, the search runs again on the same week with the untouched
    appointments in their way known instead of pinned (first those whose leaving alone frees
    a start, then every one sharing a room or person with their sessions' starts), hinted with
    the answer so far, which it replaces only when it ranks higher. The answer is
    ``problem``'s: its fixed appointments first, then the pinned ones and the sessions placed;
    its bound is the week's trivial one (a pinned model proves nothing about the week).
    Status FEASIBLE, or GREEDY when CP-SAT found nothing better in time.
    """
    from solver.solve import capacity_bound  # solve imports this module

    t0 = time.perf_counter()
    first = sub = pinned(problem)
    visits, funnels = build_visits(sub)
    pinned_visits = visits
    floor = greedy(sub, visits)
    best, status, size = floor, "GREEDY", {"visits": len(visits)}

    given = 0.0  # with deterministic limits: the searches' budgets handed out so far

    def left(share: float) -> float:
        """Seconds for a search given ``share`` of what is left (with deterministic limits,
        of what the searches before left of the limit: the work counted, not the clock)."""
        if options.deterministic:
            return max((options.time_limit - given) * share, 0.0)
        return max((options.time_limit - (time.perf_counter() - t0)) * share, 0.0)

    def search(model: ChairModel, seconds: float) -> list[Placement] | None:
        nonlocal given
        given += seconds
        return _search(model, seconds, options)

    if visits:
        model = ChairModel(sub, _narrowed(sub, _free_only(sub, visits), floor))
        model.hint(floor)
        found = search(model, max(left(PINNED_SHARE), 0.2))
        if found is not None and replan_key(sub, found) >= replan_key(sub, floor):
            best, status = found, "FEASIBLE"
        proto = model.model.proto
        size |= {"variables": len(proto.variables), "constraints": len(proto.constraints)}
    freed: dict[int, Placement] = {}
    tried = 0
    neighbours: dict[frozenset[str], tuple[list[Placement], int]] = {}
    for level, size_of in enumerate(NEIGHBOURHOODS, 1):
        short = _short(first, best)
        if not short or left(1.0) < NEIGHBOUR_MIN_SECONDS * (1 if level == 1 else 2):
            break
        if frozenset(short) not in neighbours:
            neighbours[frozenset(short)] = _neighbours(problem, first, pinned_visits, short)
        ranked, unlocking = neighbours[frozenset(short)]
        wanted = size_of(unlocking, len(ranked))
        if wanted <= tried:
            continue
        tried = wanted
        more = {id(a): a for a in ranked[:wanted] if id(a) not in freed}
        if not more:
            continue
        wider = _unpinned(first, {**freed, **more})
        wide, wide_funnels = build_visits(wider)
        wide = _own_days(wide, pinned_visits, [a for a in (*freed.values(), *more.values())
                                               if a.patient not in short])
        hint = [*best, *(_as_placed(a) for a in more.values())]
        model = ChairModel(wider, _narrowed(wider, _free_only(wider, wide), hint, wide=short))
        model.hint(hint)
        if left(1.0) < NEIGHBOUR_MIN_SECONDS / 2:
            break  # the model took the time: the answer so far comes now
        found = search(model, left(1.0))
        log.info("first answer, neighbourhood %d: %d untouched appointments free to move, %d "
                 "CP-SAT variables, %.2f s in", level, len(freed) + len(more),
                 len(model.model.proto.variables), time.perf_counter() - t0)
        if found is None or replan_key(wider, found) <= replan_key(wider, hint):
            continue
        freed |= more
        sub, visits, funnels, best, status = wider, wide, wide_funnels, found, "FEASIBLE"
        size |= {"freed": len(freed)}
    best = assign_rooms(sub, best)
    everything = [*sub.fixed, *best]
    value, bound = _value(sub, everything), capacity_bound(problem)
    if on_progress is not None:
        on_progress(Progress("first answer", time.perf_counter() - t0, value, bound))
    return Solution(status, time.perf_counter() - t0, value, bound, everything,
                    explain(sub, visits, funnels, best), penalties(problem, everything),
                    _value(first, [*first.fixed, *floor]), size)


def _short(problem: Problem, appointments: list[Placement]) -> set[str]:
    """Patients with fewer sessions in ``appointments`` than they had in ``previous``."""
    had = Counter(a.patient for a in problem.previous)
    mine = Counter(a.patient for a in appointments)
    return {pid for pid, k in had.items() if mine[pid] < k}


def _neighbours(problem: Problem, sub: Problem, visits: list[Visit], short: set[str]
                ) -> tuple[list[Placement], int]:
    """Untouched appointments pinned in ``sub`` (:func:`pinned`) in the way of the sessions the
    patients ``short`` could have (``visits``: the pinned model's), best first, and how many of
    them free a start alone.

    In the way: on a day one of them could come, overlapping the starts their session could
    take, and holding a room class or a person it could use. First those whose leaving alone
    frees some start of such a session, most starts freed first; then the short patients' own
    other sessions (their days decide which days are left to them); then the rest, nearest in
    time first. A patient with a dose step or follow-ups is never a neighbour: the protocol
    of their session and which session a follow-up follows depend on their other sessions."""
    movable = [a for a in sub.fixed[len(problem.fixed):]
               if problem.patient[a.patient].step is None
               and problem.patient[a.patient].follow_up is None]
    on_day: dict[int, list[Placement]] = {}
    for a in movable:
        on_day.setdefault(a.day, []).append(a)
    ledger = Ledger(sub)
    for a in sub.fixed:
        ledger.book(sub.appointment_protocol(a), a)
    freeing: Counter[int] = Counter()  # id -> starts its leaving frees
    distance: dict[int, int] = {}  # id -> minutes to the nearest start it is in the way of
    found: dict[int, Placement] = {}
    for visit in visits:
        if visit.patient.id not in short or not visit.starts:
            continue
        protocol, options = visit.protocol, visit.options
        starts = np.asarray(visit.starts, dtype=np.int64)
        lo, hi = int(starts[0]), int(starts[-1]) + protocol.minutes + protocol.turnover
        rooms = set(options.room_ids)
        people = {w for ids in options.staff_ids for w in ids}
        free = _free_mask(ledger, visit, starts)
        for a in on_day.get(visit.day.index, []):
            theirs = sub.appointment_protocol(a)
            if not (a.start < hi and lo < a.start + theirs.minutes + theirs.turnover):
                continue
            if (a.room is None or ledger.room_class[a.room] not in rooms) \
                    and not people & set(a.staff.values()):
                continue
            found[id(a)] = a
            near = int(np.abs(starts - a.start).min())
            distance[id(a)] = min(distance.get(id(a), near), near)
            ledger.book(theirs, a, -1)
            freeing[id(a)] += int((_free_mask(ledger, visit, starts) & ~free).sum())
            ledger.book(theirs, a)
    unlocking = sorted((k for k in found if freeing[k]), key=lambda k: -freeing[k])
    own = [a for a in movable if a.patient in short]
    rest = sorted((k for k in found if not freeing[k]), key=lambda k: distance[k])
    ranked = [found[k] for k in unlocking] + own + [found[k] for k in rest]
    return list({id(a): a for a in ranked}.values()), len(unlocking)


def _free_mask(ledger: Ledger, visit: Visit, starts: np.ndarray) -> np.ndarray:
    """Per start of ``visit``, whether some room and, per staff need, someone is free."""
    options, protocol = visit.options, visit.protocol
    columns = starts - options.base
    room_rows, staff_rows = ledger.pool_rows(options)
    free = np.ones(len(starts), bool)
    if not protocol.video:
        masks = options.room_allow[:, columns]
        if len(room_rows):
            masks &= ledger.room_masks(room_rows, protocol, starts)
        free &= masks.any(axis=0)
    for n, ids in enumerate(options.staff_ids):
        masks = options.staff_allow[n][:, columns]
        if ids:
            masks &= ledger.staff_masks(staff_rows[n], protocol, n, starts)
        free &= masks.any(axis=0)
    return free


def _unpinned(sub: Problem, freed: dict[int, Placement]) -> Problem:
    """``sub`` with the pinned appointments ``freed`` known again (``previous``)."""
    fixed = tuple(a for a in sub.fixed if id(a) not in freed)
    return replace(sub, fixed=fixed, previous=(*sub.previous, *freed.values()))


def _own_days(visits: list[Visit], pinned_visits: list[Visit], freed: Iterable[Placement]
              ) -> list[Visit]:
    """``visits`` without the ``freed`` appointments' patients' visits on days they had none
    in the pinned model (``pinned_visits``) nor a freed appointment: a neighbour moves within
    its day (or to a day it could have had as a waiting patient), not to a day its leaving
    opened."""
    days: dict[str, set[int]] = {}
    for a in freed:
        days.setdefault(a.patient, set()).add(a.day)
    for v in pinned_visits:
        if v.patient.id in days:
            days[v.patient.id].add(v.day.index)
    return [v for v in visits if v.patient.id not in days or v.day.index in days[v.patient.id]]


def _as_placed(a: Placement) -> Placement:
    """A known appointment as the model reads it back (no id)."""
    return replace(a, id=None, staff=dict(a.staff))


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


def _narrowed(problem: Problem, visits: list[Visit], floor: list[Placement],
              wide: Set[str] = frozenset()) -> list[Visit]:
    """``candidates.narrow``'s visits, each known appointment's own people offered again (so
    it can stay exactly as it was); the patients ``wide``'s visits not narrowed (in a
    neighbourhood's model, the people its appointments free are what a short patient needs)."""
    known = {(a.patient, a.day, problem.protocol_id(a)): a for a in problem.previous}
    out = []
    for wide_visit, visit in zip(visits, narrow(problem, visits, floor), strict=True):
        if visit.patient.id in wide:
            out.append(wide_visit)
            continue
        a = known.get(visit.key)
        if a is None:
            out.append(visit)
            continue
        pools = []
        for n, pool in enumerate(visit.staff):
            who = a.staff.get(wide_visit.protocol.staff[n].key)
            mine = {who: wide_visit.staff[n][who]} if who in wide_visit.staff[n] else {}
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
