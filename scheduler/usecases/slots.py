"""Find a slot: the next free starts for one more session of a patient on a schedule's week.

Candidate starts come from the slot grid inside the clinic's hours, from ``not_before`` on,
day by day. Cheap filters run first, in minutes on the compiled problem: the patient's course
(one session a day, the minimum gap to their other sessions and the last one before the
week, the per-week caps, the sessions still wanted, the date window and their availability),
on-site cover, a room with the features that is open and has a chair free, and per staff
need someone on shift and free (hands-on with nobody else, within their load), each against
the schedule's own intervals. Only the survivors go to the independent checker, the same
judgement a booking gets (:class:`~scheduler.usecases.appointments.Trial`); a start is listed
only when the checker accepts it, and the search stops at ``limit``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product

from scheduler.documents import Schedule, placed_of
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.usecases.appointments import Trial
from solver import Interval
from solver.candidates import need_spans, staff_for_need
from solver.problem import HANDS, LOAD, Protocol
from solver.spans import inside, max_overlap, mode_blocks, overlaps_any, union

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Slot", "find_slots", "nearest_slots"]

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 5
MAX_LIMIT = 20
COMBOS_PER_START = 4
"""Room and staff combinations that passed the filters, judged by the checker per start
before moving on to the next start."""


@dataclass(frozen=True, slots=True)
class Slot:
    """A free slot: when, where and with whom (staff by the protocol's role key)."""

    start: datetime
    end: datetime
    room: str | None
    staff: dict[str, str] = field(default_factory=dict)


class _Busy:
    """The schedule's own intervals, in the problem's minutes: per room (turnover included)
    and per staff member (hands-on, and engaged)."""

    def __init__(self, trial: Trial) -> None:
        problem = trial.problem
        self.rooms: dict[str, list[Interval]] = defaultdict(list)
        self.hands: dict[str, list[Interval]] = defaultdict(list)
        self.load: dict[str, list[Interval]] = defaultdict(list)
        for a in trial.schedule.appointments:
            placed = placed_of(a, trial.clock)
            protocol = problem.appointment_protocol(placed)
            s = placed.start
            if placed.room is not None:
                self.rooms[placed.room].append((s, s + protocol.minutes + protocol.turnover))
            for need in protocol.staff:
                who = placed.staff.get(need.key)
                if who is None:
                    continue
                self.hands[who] += [(s + x, s + y) for x, y in
                                    mode_blocks(protocol, need.modes, HANDS)]
                self.load[who] += [(s + x, s + y) for x, y in
                                   mode_blocks(protocol, need.modes, LOAD)]
        self.hands = {k: list(union(v)) for k, v in self.hands.items()}


def _days_open(trial: Trial) -> list[int]:
    """The days (indexes) where one more session keeps the patient's course as far as days go:
    the date window, one a day, the minimum gap, the week caps; none when every wanted session
    is booked."""
    problem = trial.problem
    patient = problem.patient[trial.patient]
    booked = [placed_of(a, trial.clock) for a in trial.schedule.appointments
              if a.patient == trial.patient]
    every = {a.day for a in booked}
    mains = trial.main_days
    if len(mains) >= patient.sessions:
        return []
    history = [*mains, *([patient.last_session_day]
                         if patient.last_session_day is not None else [])]
    gap = max(patient.min_gap_days, 1)
    return [d.index for d in problem.days
            if patient.earliest_day <= d.index <= patient.latest_day
            and d.index not in every and all(abs(d.index - o) >= gap for o in history)
            and patient.cap_allows(d.index, mains)]


def _combos(trial: Trial, busy: _Busy, protocol: Protocol, start: int,
            hours: tuple[Interval, ...]) -> list[tuple[str | None, dict[str, str]]]:
    """Rooms and staff that pass the cheap filters at ``start`` (at most
    ``COMBOS_PER_START``)."""
    problem = trial.problem
    end = start + protocol.minutes
    if protocol.video:
        rooms: list[str | None] = [None]
    else:
        rooms = [r.id for r in problem.rooms if protocol.room_features <= r.features
                 and inside(start, end, r.hours if r.hours is not None else hours)
                 and max_overlap(busy.rooms.get(r.id, []), start,
                                 end + protocol.turnover) < r.chairs]
    if not rooms:
        return []
    pools: list[list[str]] = []
    for need in protocol.staff:
        hands = [(start + x, start + y) for x, y in mode_blocks(protocol, need.modes, HANDS)]
        load = [(start + x, start + y) for x, y in mode_blocks(protocol, need.modes, LOAD)]
        pool = []
        for m in staff_for_need(problem, need.role, need.qualification, bool(need.modes)):
            if need.modes:  # on shift for every phase with a mode
                if not all(inside(start + a, start + b, m.shifts)
                           for a, b in need_spans(protocol, need.modes)):
                    continue
            elif overlaps_any(start, end, m.away):
                continue
            if any(overlaps_any(a, b, busy.hands.get(m.id, [])) for a, b in hands):
                continue
            if any(max_overlap(busy.load.get(m.id, []), a, b) >= m.max_patients
                   for a, b in load):
                continue
            pool.append(m.id)
        if not pool:
            return []
        pools.append(pool)
    keys = [n.key for n in protocol.staff]
    out: list[tuple[str | None, dict[str, str]]] = []
    for people in product(*pools):
        if len(set(people)) < len(people):
            continue  # each entry is one more person
        out += [(room, dict(zip(keys, people, strict=True))) for room in rooms[:1]]
        if len(out) >= COMBOS_PER_START:
            break
    if len(out) < COMBOS_PER_START and len(rooms) > 1 and out:
        out += [(room, out[0][1]) for room in rooms[1:COMBOS_PER_START - len(out) + 1]]
    return out


def find_slots(scenario: Scenario, schedule: Schedule, patient: str,
               limit: int = DEFAULT_LIMIT, not_before: datetime | None = None,
               then: Callable[[datetime], datetime] | None = None) -> list[Slot]:
    """The first ``limit`` starts (from ``not_before``, else the week's first) where one more
    session of ``patient`` keeps every hard rule and their course, each with the room and staff
    the checker accepted; empty when none does this week. With ``then``, the search goes on
    after each slot found from ``then(its start)`` (later than it) instead of the next start:
    a caller's spread (one per part of a day, an hour apart), in one search."""
    issues = []
    if not 1 <= limit <= MAX_LIMIT:
        issues.append(Issue("limit", f"must be between 1 and {MAX_LIMIT}"))
    if not_before is not None and not_before.tzinfo is None:
        issues.append(Issue("from", "needs a UTC offset, e.g. 2026-12-08T09:00:00-05:00"))
    if patient not in {p.id for p in scenario.patients}:
        issues.append(Issue("patient", f"{patient!r} is not a patient of this clinic"))
    if issues:
        raise InvalidInput(issues)
    trial = Trial(scenario, schedule, patient)
    problem, clock = trial.problem, trial.clock
    spec = problem.patient[patient]
    earliest = clock.minute(not_before) if not_before is not None else None
    busy = _Busy(trial)
    cover: dict[str, tuple[Interval, ...]] = {}
    found: list[Slot] = []
    judged = 0
    for index in _days_open(trial):
        day = problem.days[index]
        chosen = trial.protocol(index)
        protocol = problem.protocol_for(chosen or spec.protocol, index)
        offsets = protocol.phase_offsets()
        for start in day.starts:
            end = start + protocol.minutes
            if earliest is not None and start < earliest:
                continue
            if not inside(start, end, day.hours):
                continue
            if spec.availability is not None and not inside(start, end, spec.availability):
                continue
            covered = True
            for rule in protocol.on_site:
                if rule.role not in cover:
                    cover[rule.role] = union(span for m in problem.staff if m.role == rule.role
                                             for span in m.shifts)
                if not all(inside(start + offsets[ph][0], start + offsets[ph][1],
                                  cover[rule.role]) for ph in rule.phases):
                    covered = False
            if not covered:
                continue
            for room, staff in _combos(trial, busy, protocol, start, day.hours):
                judged += 1
                candidate, problems = trial.judge(index, start, room, staff, figures=False)
                if not problems:
                    added = next(a for a in candidate.appointments
                                 if a.id not in trial.taken)
                    found.append(Slot(added.start, added.end, room, staff))
                    if then is not None:
                        earliest = max(start + 1, clock.minute(then(added.start)))
                    break
            if len(found) >= limit:
                log.debug("slots for %s: %d found, %d judged", patient, len(found), judged)
                return found
    log.debug("slots for %s: %d found, %d judged", patient, len(found), judged)
    return found



def nearest_slots(scenario: Scenario, schedule: Schedule, patient: str, near: datetime,
                  count: int = 3) -> list[Slot]:
    """The ``count`` slots of the week nearest to ``near`` (before or after it) that fit, in
    time order: what "why not here?" offers instead."""
    if patient not in {p.id for p in scenario.patients}:
        return []
    every = find_slots(scenario, schedule, patient, MAX_LIMIT, near)
    if len(every) < count:
        every += [s for s in find_slots(scenario, schedule, patient, MAX_LIMIT)
                  if s.start < near]
    return sorted(sorted(every, key=lambda s: abs(s.start - near))[:count],
                  key=lambda s: s.start)
