"""Greedy first fit: what a careful clerk does by hand, and the CP-SAT search's first hint.

Patients in priority order (most constrained first among equals), each session at the earliest
day and minute where a room, the staff and the patient's gaps all allow it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from solver.candidates import (
    DayOptions,
    Visit,
    fixed_days,
    fixed_follow_up_days,
    remaining_sessions,
    step_protocol,
)
from solver.problem import HANDS, LOAD, Interval, Patient, Placement, Problem, Protocol
from solver.rooms import class_of, room_classes
from solver.spans import mode_blocks


class Ledger:
    """Bookings so far: per room class and staff member, how many sessions hold each minute.

    Staff are rows of two matrices (hands-on, engaged), so one staff need's whole pool is
    checked in a handful of numpy operations."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        classes = room_classes(problem)
        self.room_class = class_of(problem)
        self.room_row = {c: k for k, c in enumerate(classes)}
        self.chairs = np.array([c.chairs for c in classes.values()], dtype=np.int16)
        self.row = {s.id: k for k, s in enumerate(problem.staff)}
        self.capacity = np.array([s.max_patients for s in problem.staff], dtype=np.int16)
        last = max((d.index for d in problem.days), default=0)
        self.minutes = (last + 3) * 24 * 60
        self.rooms = np.zeros((len(classes), self.minutes), dtype=np.int16)
        self.hands = np.zeros((len(problem.staff), self.minutes), dtype=np.int16)
        self.load = np.zeros_like(self.hands)
        self._blocks: dict[tuple[int, int], tuple[list[Interval], list[Interval]]] = {}
        self._rows: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}

    def blocks(self, protocol: Protocol, need: int) -> tuple[list[Interval], list[Interval]]:
        """Hands-on and engaged (hands-on or monitor) offsets of one staff need."""
        key = (id(protocol), need)
        if key not in self._blocks:
            modes = protocol.staff[need].modes
            self._blocks[key] = (mode_blocks(protocol, modes, HANDS),
                                 mode_blocks(protocol, modes, LOAD))
        return self._blocks[key]

    def rows(self, ids: list[str], index: dict[str, int] | None = None) -> np.ndarray:
        """The matrix rows of staff ``ids`` (or of room classes, with ``index``)."""
        index = self.row if index is None else index
        return np.array([index[i] for i in ids], dtype=np.intp)

    def pool_rows(self, options: DayOptions) -> tuple[np.ndarray, list[np.ndarray]]:
        """Rows of the day's room classes and, per staff need, of its staff (cached: visits
        share their day's options)."""
        key = id(options)
        if key not in self._rows:
            self._rows[key] = (self.rows(options.room_ids, self.room_row),
                               [self.rows(ids) for ids in options.staff_ids])
        return self._rows[key]

    def room_free(self, room: str, protocol: Protocol, start: int) -> bool:
        """Whether room (or room class) ``room`` has a chair for the whole session."""
        return bool(self.room_mask(room, protocol, np.array([start]))[0])

    @staticmethod
    def _free(table: np.ndarray, rows: np.ndarray, starts: np.ndarray, blocks: list[Interval],
              cap: np.ndarray | int) -> np.ndarray:
        """For each of ``rows`` of ``table`` and each start, whether every block stays below
        ``cap`` (per row) on it."""
        ok: np.ndarray = np.ones((len(rows), len(starts)), dtype=bool)
        if not blocks:  # an entry without modes uses none of this resource
            return ok
        lo = int(starts[0]) + min(a for a, _ in blocks)  # starts are sorted
        hi = int(starts[-1]) + max(b for _, b in blocks)
        full = np.zeros((len(rows), hi - lo + 1), dtype=np.int32)
        np.cumsum(table[rows, lo:hi] >= cap, axis=1, out=full[:, 1:])
        for a, b in blocks:
            ok &= full[:, starts + (b - lo)] == full[:, starts + (a - lo)]
        return ok

    def room_mask(self, room: str, protocol: Protocol, starts: np.ndarray) -> np.ndarray:
        """``room_free`` for many starts at once."""
        rows = self.rows([self.room_class[room]], self.room_row)
        mask: np.ndarray = self.room_masks(rows, protocol, starts)[0]
        return mask

    def room_masks(self, rows: np.ndarray, protocol: Protocol, starts: np.ndarray
                   ) -> np.ndarray:
        """``room_free`` for room classes ``rows`` (of ``rooms``) and many starts at once."""
        return self._free(self.rooms, rows, starts, [(0, protocol.minutes + protocol.turnover)],
                          self.chairs[rows][:, None])

    def staff_masks(self, rows: np.ndarray, protocol: Protocol, need: int, starts: np.ndarray
                    ) -> np.ndarray:
        """``staff_free`` for staff ``rows`` (of ``hands`` and ``load``) and many starts at
        once."""
        hands, load = self.blocks(protocol, need)
        free = self._free(self.hands, rows, starts, hands, 1)
        free &= self._free(self.load, rows, starts, load, self.capacity[rows][:, None])
        return free

    def staff_free(self, staff: str, protocol: Protocol, need: int, start: int) -> bool:
        """Whether ``staff`` can take need ``need`` of a session starting at ``start``."""
        rows = self.rows([staff])
        return bool(self.staff_masks(rows, protocol, need, np.array([start]))[0, 0])

    def book(self, protocol: Protocol, appointment: Placement, count: int = 1) -> None:
        """Book ``appointment`` (``count=-1`` takes a booking back)."""
        s = appointment.start
        if appointment.room is not None:  # a video session takes no room
            k = self.room_row[self.room_class[appointment.room]]
            self.rooms[k, s:s + protocol.minutes + protocol.turnover] += count
        for n, need in enumerate(protocol.staff):
            k = self.row[appointment.staff[need.key]]
            hands, load = self.blocks(protocol, n)
            for a, b in hands:
                self.hands[k, s + a:s + b] += count
            for a, b in load:
                self.load[k, s + a:s + b] += count


def greedy(problem: Problem, visits: list[Visit]) -> list[Placement]:
    """New appointments (fixed ones excluded) placed first-fit in priority order.

    When re-planning, every previous appointment that still fits exactly is kept first. A
    patient with a dose step gets their sessions in date order, each with the protocol its
    place in the series calls for; a patient with follow-ups gets, after their sessions, one
    follow-up for each session (the last one before the horizon included) not yet followed up.
    """
    ledger = Ledger(problem)
    patients = {p.id: p for p in problem.patients}
    for a in problem.fixed:
        ledger.book(problem.appointment_protocol(a), a)
    by_patient: dict[str, list[Visit]] = defaultdict(list)
    follow_ups: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        (follow_ups if v.follow_up else by_patient)[v.patient.id].append(v)
    options = {pid: sum(len(v.starts) for v in vs) for pid, vs in by_patient.items()}
    rebooking = {a.patient for a in problem.previous}  # known patients before new ones
    order = sorted({*by_patient, *follow_ups},
                   key=lambda pid: (pid not in rebooking, -patients[pid].priority,
                                    options.get(pid, 0), pid))
    remaining = remaining_sessions(problem)
    taken = fixed_days(problem)
    used: dict[str, set[int]] = defaultdict(set)  # every day a patient has a session
    for a in problem.fixed:
        used[a.patient].add(a.day)
    placed: list[Placement] = []
    where = {(v.patient.id, v.day.index, v.protocol.id): v for v in visits if not v.follow_up}
    for a in problem.previous:
        visit = where.get((a.patient, a.day, problem.protocol_id(a)))
        if visit is None or problem.is_follow_up(a):
            continue  # follow-ups are matched again below
        patient = patients[a.patient]
        gap = max(1, patient.min_gap_days)
        mine = taken.get(a.patient, [])
        if (remaining[a.patient] == 0 or not _fits_as_is(ledger, visit, a)
                or a.day in used[a.patient]
                or any(abs(a.day - d) < gap for d in mine)
                or not patient.cap_allows(a.day, mine)
                or not _step_ok(problem, patient, visit, mine)):
            continue
        kept = Placement(a.patient, a.day, a.start, a.room, dict(a.staff), None, a.protocol)
        ledger.book(visit.protocol, kept)
        placed.append(kept)
        taken.setdefault(a.patient, []).append(a.day)
        used[a.patient].add(a.day)
        remaining[a.patient] -= 1
    for pid in order:
        patient = patients[pid]
        gap = max(1, patient.min_gap_days)
        tried: set[int] = set()
        while remaining[pid] > 0:
            mine = taken.get(pid, [])
            open_days = [v for v in by_patient[pid] if v.day.index not in tried
                         and all(abs(v.day.index - d) >= gap for d in mine)
                         and patient.cap_allows(v.day.index, mine)
                         and _step_ok(problem, patient, v, mine)]
            if not open_days:
                break
            chosen = min(open_days, key=lambda v: (_spacing_cost(patient, v.day.index, mine),
                                                   v.day.index))
            tried.add(chosen.day.index)
            appointment = _first_fit(ledger, chosen)
            if appointment is not None:
                ledger.book(chosen.protocol, appointment)
                placed.append(appointment)
                taken.setdefault(pid, []).append(chosen.day.index)
                used[pid].add(chosen.day.index)
                remaining[pid] -= 1
        if patient.follow_up is not None:
            placed += _follow_ups(problem, ledger, patient, follow_ups[pid],
                                  taken.get(pid, []), used[pid])
    return placed


def _step_ok(problem: Problem, patient: Patient, visit: Visit, mine: list[int]) -> bool:
    """Whether a session ``visit`` keeps the dose step with the patient's sessions ``mine``:
    its protocol is the one its place calls for, and every fixed session after it keeps
    its own (the greedy books a stepped patient in date order, so nothing else comes after)."""
    if patient.step is None:
        return True
    day = visit.day.index
    if visit.protocol.id != step_protocol(problem, patient, day, mine):
        return False
    fixed = fixed_days(problem).get(patient.id, [])
    if any(d > day for d in mine if d not in fixed):
        return False
    later = [a for a in problem.fixed if a.patient == patient.id and a.day > day
             and not problem.is_follow_up(a)]
    return all(problem.protocol_id(a) == step_protocol(problem, patient, a.day, [*mine, day])
               for a in later)


def _follow_ups(problem: Problem, ledger: Ledger, patient: Patient, visits: list[Visit],
                mine: list[int], used: set[int]) -> list[Placement]:
    """One follow-up, first fit, for each of the patient's sessions not yet followed up.

    Fixed follow-ups take their sessions first (earliest session first: the windows all have
    the same length, so this matches as many as any matching could)."""
    assert patient.follow_up is not None
    _, lo, hi = patient.follow_up
    sources = patient.follow_up_sources(mine)  # dosing sessions only, never preparation
    for day in sorted(fixed_follow_up_days(problem).get(patient.id, [])):
        match = next((s for s in sources if lo <= day - s <= hi), None)
        if match is not None:
            sources.remove(match)
    out: list[Placement] = []
    by_day = {v.day.index: v for v in visits}
    for source in sources:
        for day in range(source + lo, source + hi + 1):
            visit = by_day.get(day)
            if visit is None or day in used:
                continue
            appointment = _first_fit(ledger, visit)
            if appointment is not None:
                ledger.book(visit.protocol, appointment)
                out.append(appointment)
                used.add(day)
                break
    return out


def _spacing_cost(patient: Patient, day: int, taken: list[int]) -> int:
    """Days a session on ``day`` would lie off its ideal gap from the patient's previous
    session (0 without an ideal or a previous one): the greedy tries the best days first, in
    the order of the series, so the hint already keeps a twice-weekly 3-4 days apart."""
    ideal = patient.ideal_gap(day)
    before = [d for d in (*taken, patient.last_session_day) if d is not None and d < day]
    if ideal is None or not before:
        return 0
    since = day - max(before)
    return max(ideal[0] - since, since - ideal[1], 0)


def _fits_as_is(ledger: Ledger, visit: Visit, a: Placement) -> bool:
    """Whether ``a`` could stand exactly as it is (time, room, staff) given the ledger."""
    protocol = visit.protocol
    if a.start not in visit.starts:
        return False
    if protocol.video:
        if a.room is not None:
            return False
    elif (a.room is None or a.start not in visit.rooms.get(a.room, set())
          or not ledger.room_free(a.room, protocol, a.start)):
        return False
    for i, need in enumerate(protocol.staff):
        who = a.staff.get(need.key)
        if who is None or a.start not in visit.staff[i].get(who, set()):
            return False
        if not ledger.staff_free(who, protocol, i, a.start):
            return False
    return True


def _first_fit(ledger: Ledger, visit: Visit) -> Placement | None:
    """The earliest start with a free room and free staff, preferred staff first.

    Each resource's free starts are computed for all of the visit's starts at once, a staff
    need's whole pool in one matrix (numpy), and the starts the resource's own hours allow are
    read off the day's masks (``Visit.options``), so nothing here loops over starts in Python
    until the first feasible one.
    """
    protocol = visit.protocol
    options = visit.options
    preferred = visit.patient.preferred_staff
    starts = np.asarray(visit.starts)
    columns = starts - options.base
    room_rows, staff_rows = ledger.pool_rows(options)
    if protocol.video:  # no room to find
        feasible = np.ones(len(starts), bool)
        rooms = np.zeros((0, len(starts)), bool)
    else:
        rooms = options.room_allow[:, columns]
        if len(room_rows):
            rooms &= ledger.room_masks(room_rows, protocol, starts)
        feasible = np.asarray(rooms.any(axis=0))
    pools: list[tuple[list[str], np.ndarray]] = []
    for i, ids in enumerate(options.staff_ids):
        allow, rows = options.staff_allow[i], staff_rows[i]
        if preferred:
            order = sorted(range(len(ids)), key=lambda k: (ids[k] not in preferred, ids[k]))
            ids, allow, rows = [ids[k] for k in order], allow[order], rows[order]
        masks = allow[:, columns]
        if ids:
            masks &= ledger.staff_masks(rows, protocol, i, starts)
        pools.append((ids, masks))
        feasible &= masks.any(axis=0)
    for k in np.flatnonzero(feasible):
        staff: dict[str, str] = {}
        for i, (ids, masks) in enumerate(pools):
            who = next((ids[j] for j in np.flatnonzero(masks[:, k])
                        if ids[j] not in staff.values()), None)
            if who is None:
                break
            staff[protocol.staff[i].key] = who
        else:
            room = (None if protocol.video
                    else options.room_ids[int(np.flatnonzero(rooms[:, k])[0])])
            own = None if protocol.id == visit.patient.protocol else protocol.id
            return Placement(visit.patient.id, visit.day.index, int(starts[k]), room, staff,
                             None, own)
    return None
