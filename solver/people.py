"""Staff pooled by qualification for the search, and people given to sessions afterwards.

On weeks whose staff do not bind (``candidates.staff_scarce`` false: the rooms do), the
placement search need not choose a person per session: people of the same role, qualifications
and ``max_patients`` form one pool, a resource whose capacity at each moment is what its members
on shift then can give (hands-on: how many are on shift; engaged: that times ``max_patients``),
a step profile drawn with fixed intervals where some members are off. A session's staff need
chooses a pool, not a person, which makes far fewer (and interchangeable) choices.

Unlike chairs (``solver.rooms``), a pool's sessions cannot always be given people afterwards: a
session keeps one person through all its phases, its hands-on blocks and its monitoring, so two
sessions whose blocks interleave may need a hand-over the pooled model allowed. The pooled model
is a relaxation (every person-level schedule is one of it, so its bound is the week's); people
are then assigned and checked (``assign_people``, first fit in order of start), and what first
fit cannot staff goes to a small CP-SAT model with every session's time and room fixed
(``assign_exactly``), which keeps as many of them as it can. ``solver.solve`` decides whether a
week uses pools and what happens when a session is dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from ortools.sat.python import cp_model

from solver.candidates import Visit, need_spans, staff_for_need
from solver.greedy import Ledger, _first_fit
from solver.problem import HANDS, LOAD, Interval, Options, Placement, Problem, Protocol, Staff
from solver.spans import inside, max_overlap, mode_blocks, overlaps_any, pieces, union

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StaffPool:
    id: str
    members: tuple[str, ...]
    role: str
    qualifications: frozenset[str]
    max_patients: int


def staff_pools(problem: Problem) -> dict[str, StaffPool]:
    """Pools by id: people of one role, qualifications and ``max_patients`` (shifts may differ).
    A person alone in a pool has their own id as the pool's id."""
    groups: dict[tuple[str, frozenset[str], int], list[Staff]] = {}
    for s in problem.staff:
        groups.setdefault((s.role, s.qualifications, s.max_patients), []).append(s)
    out = {}
    for (role, quals, most), people in groups.items():
        ids = tuple(s.id for s in people)
        pid = ids[0] if len(ids) == 1 else "pool:" + "+".join(ids)
        out[pid] = StaffPool(pid, ids, role, quals, most)
    return out


def pool_of(pools: dict[str, StaffPool]) -> dict[str, str]:
    """Person id (or pool id) -> pool id."""
    out: dict[str, str] = {}
    for p in pools.values():
        out[p.id] = p.id
        for m in p.members:
            out[m] = p.id
    return out


def pooled_visits(pools: dict[str, StaffPool], visits: list[Visit]) -> list[Visit]:
    """Copies of ``visits`` whose staff needs offer pools: per need, pool id -> the starts some
    member's shifts allow (the union of its members'; the search is a relaxation)."""
    of = pool_of(pools)
    out = []
    for v in visits:
        needs = []
        for pool in v.staff:
            by_pool: dict[str, set[int]] = defaultdict(set)
            for s, allowed in pool.items():
                by_pool[of[s]] |= allowed
            needs.append(dict(by_pool))
        out.append(v.with_staff(needs))
    return out


def on_shift_profile(problem: Problem, pool: StaffPool) -> list[tuple[int, int, int]]:
    """(start, end, members on shift) for every stretch of the clinic's open hours where some but
    not all of ``pool``'s members are on shift: where its capacity dips below its most. Where
    none is on shift no session can use the pool (its starts need a member's shift)."""
    staff = {s.id: s for s in problem.staff}
    hours = union(span for d in problem.days for span in d.hours)
    cuts = sorted({t for m in pool.members for span in staff[m].shifts for t in span}
                  | {t for span in hours for t in span})
    out = []
    for a, b in pairwise(cuts):
        if not pieces([(a, b)], hours):
            continue
        n = sum(1 for m in pool.members if inside(a, b, staff[m].shifts))
        if 0 < n < len(pool.members):
            out.append((a, b, n))
    return out


@dataclass(slots=True)
class _Book:
    """What a person already holds: absolute hands-on and engaged blocks."""

    hands: list[Interval]
    load: list[Interval]


def _can_take(person: Staff, book: _Book, protocol: Protocol, need: int, start: int) -> bool:
    """Whether ``person`` can take staff need ``need`` of a session of ``protocol`` at ``start``
    with what they already hold (contract v1's staff rule: shifts, one hands-on patient at a
    time, at most ``max_patients`` engaged)."""
    modes = protocol.staff[need].modes
    spans = need_spans(protocol, modes)
    if spans:
        if not all(inside(start + a, start + b, person.shifts) for a, b in spans):
            return False
    elif overlaps_any(start, start + protocol.minutes, person.away):
        return False
    for a, b in mode_blocks(protocol, modes, HANDS):
        if any(x < start + b and start + a < y for x, y in book.hands):
            return False
    return all(max_overlap(book.load, start + a, start + b) < person.max_patients
               for a, b in mode_blocks(protocol, modes, LOAD))


def _books(problem: Problem, day: int | None = None) -> dict[str, _Book]:
    """What the fixed appointments (of ``day`` only, if given) hold of everyone."""
    books = {s.id: _Book([], []) for s in problem.staff}
    for a in problem.fixed:
        if day is None or a.day == day:
            _hold(books, problem, a)
    return books


def _hold(books: dict[str, _Book], problem: Problem, a: Placement) -> None:
    p = problem.appointment_protocol(a)
    for need in p.staff:
        who = a.staff.get(need.key)
        if who is None:
            continue
        books[who].hands += [(a.start + x, a.start + y) for x, y in mode_blocks(p, need.modes,
                                                                               HANDS)]
        books[who].load += [(a.start + x, a.start + y) for x, y in mode_blocks(p, need.modes,
                                                                              LOAD)]


def assign_people(problem: Problem, appointments: list[Placement],
                  pools: dict[str, StaffPool]) -> tuple[list[Placement], list[Placement]]:
    """Give every appointment booked with pools people, first fit in order of start: per need,
    a member of its pool who can take it (the patient's preferred first, then the one already
    most engaged then, so the others stay free), else anyone of the need's role and
    qualification who can. Returns (staffed, not staffed); the not staffed keep their pools."""
    staff = {s.id: s for s in problem.staff}
    books = _books(problem)
    done: list[Placement] = []
    left: list[Placement] = []
    for a in sorted(appointments, key=lambda a: (a.start, a.patient)):
        p = problem.appointment_protocol(a)
        prefer = problem.patient[a.patient].preferred_staff
        given: dict[str, str] = {}
        for n, need in enumerate(p.staff):
            asked = a.staff.get(need.key)
            pool = pools[asked].members if asked in pools else (asked,) if asked else ()
            anyone = [s.id for s in staff_for_need(problem, need.role, need.qualification,
                                                   bool(need.modes))]
            blocks = mode_blocks(p, need.modes, LOAD)
            for group in (pool, [s for s in anyone if s not in pool]):
                fit = [s for s in group if s in staff and s not in given.values()
                       and _can_take(staff[s], books[s], p, n, a.start)]
                if fit:
                    given[need.key] = min(fit, key=lambda s: (
                        s not in prefer,
                        -sum(max_overlap(books[s].load, a.start + x, a.start + y)
                             for x, y in blocks), s))
                    break
            else:
                break
        if len(given) < len(p.staff):
            left.append(a)
            continue
        b = Placement(a.patient, a.day, a.start, a.room, given, a.id, a.protocol)
        _hold(books, problem, b)
        done.append(b)
    return done, left


def assign_exactly(problem: Problem, appointments: list[Placement], hint: list[Placement],
                   seconds: float, options: Options) -> list[Placement]:
    """People for ``appointments`` (times and rooms fixed, staff needs naming pools or anyone)
    by a small CP-SAT model: per session and need one qualified person whose shifts allow it,
    contract v1's staff rule for everyone, as many priority-weighted sessions kept as it can
    (a session no one can take is dropped), hinted with ``hint`` (staffed by first fit)."""
    days = sorted({a.day for a in appointments})
    if len(days) > 1:  # days share no one's time: one small model per day
        out = []
        for d in days:
            out += assign_exactly(problem, [a for a in appointments if a.day == d],
                                  [a for a in hint if a.day == d], seconds / len(days), options)
        return out
    m = cp_model.CpModel()
    staff = {s.id: s for s in problem.staff}
    hands: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
    load: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
    books = _books(problem, days[0] if days else None)
    for who, book in books.items():  # fixed appointments' blocks
        hands[who] += [m.new_fixed_size_interval_var(x, y - x, f"fh{who}{x}") for x, y in
                       book.hands]
        load[who] += [m.new_fixed_size_interval_var(x, y - x, f"fl{who}{x}") for x, y in
                      book.load]
    hinted = {(a.patient, a.day, a.start): a for a in hint}
    kept: list[tuple[Placement, cp_model.IntVar, dict[tuple[str, str], cp_model.IntVar]]] = []
    empty = _Book([], [])
    for k, a in enumerate(appointments):
        p = problem.appointment_protocol(a)
        keep = m.new_bool_var(f"keep{k}")
        h = hinted.get((a.patient, a.day, a.start))
        m.add_hint(keep, h is not None)
        lits: dict[tuple[str, str], cp_model.IntVar] = {}
        mine: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for n, need in enumerate(p.staff):
            people = [s for s in staff_for_need(problem, need.role, need.qualification,
                                                bool(need.modes))
                      if _can_take(s, empty, p, n, a.start)]
            for s in people:
                lit = m.new_bool_var(f"x{k}_{n}_{s.id}")
                m.add_hint(lit, h is not None and h.staff.get(need.key) == s.id)
                lits[need.key, s.id] = lit
                mine[s.id].append(lit)
                for x, y in mode_blocks(p, need.modes, HANDS):
                    hands[s.id].append(m.new_optional_fixed_size_interval_var(
                        a.start + x, y - x, lit, f"h{k}_{n}_{s.id}_{x}"))
                for x, y in mode_blocks(p, need.modes, LOAD):
                    load[s.id].append(m.new_optional_fixed_size_interval_var(
                        a.start + x, y - x, lit, f"l{k}_{n}_{s.id}_{x}"))
            m.add(sum(lits[need.key, s.id] for s in people) == keep)
        for group in mine.values():
            if len(group) > 1:
                m.add_at_most_one(group)
        kept.append((a, keep, lits))
    for intervals in hands.values():
        if len(intervals) > 1:
            m.add_no_overlap(intervals)
    for who, intervals in load.items():
        if len(intervals) > staff[who].max_patients:
            m.add_cumulative(intervals, [1] * len(intervals), max(staff[who].max_patients, 0))
    prio = {p.id: p.priority for p in problem.patients}
    m.maximize(cp_model.LinearExpr.weighted_sum([keep for _, keep, _ in kept],
                                                [prio[a.patient] for a, _, _ in kept]))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.1)
    solver.parameters.num_workers = max(1, options.workers)
    solver.parameters.random_seed = options.seed
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        log.info("people not assigned exactly (%s): first fit's stand", solver.status_name(status))
        return list(hint)
    out = []
    for a, keep, lits in kept:
        if solver.boolean_value(keep):
            given = {key: who for (key, who), lit in lits.items() if solver.boolean_value(lit)}
            out.append(Placement(a.patient, a.day, a.start, a.room, given, a.id, a.protocol))
    log.info("people assigned exactly on day %s (%s): %d of %d sessions kept", days,
             solver.status_name(status), len(out), len(appointments))
    if sum(prio[a.patient] for a in out) < sum(prio[a.patient] for a in hint):
        return list(hint)  # stopped by the clock before reaching its hint
    return out


def reinsert(problem: Problem, visits: list[Visit], staffed: list[Placement],
             dropped: list[Placement]) -> tuple[list[Placement], list[Placement]]:
    """``staffed`` (people given) with as many of the ``dropped`` sessions as fit again on
    their own day, each at the earliest start where a chair and people are free around what is
    booked (the greedy's first fit; the same patient, day and protocol, so every patient rule
    the pooled search kept still holds), the weightiest first. Returns (schedule, still out)."""
    ledger = Ledger(problem)
    for a in (*problem.fixed, *staffed):
        ledger.book(problem.appointment_protocol(a), a)
    where = {v.key: v for v in visits}
    out = list(staffed)
    left = []
    for a in sorted(dropped, key=lambda a: (-problem.patient[a.patient].priority, a.start)):
        visit = where.get((a.patient, a.day, problem.protocol_id(a)))
        again = _first_fit(ledger, visit) if visit is not None else None
        if again is None:
            left.append(a)
            continue
        again = Placement(again.patient, again.day, again.start, again.room, again.staff, a.id,
                          again.protocol)
        ledger.book(visit.protocol, again)  # type: ignore[union-attr]
        out.append(again)
    return out, left

