"""Greedy first fit: what a careful clerk does by hand, and the CP-SAT search's first hint.

Patients in priority order (most constrained first among equals), each session at the earliest
day and minute where a room, the staff and the patient's gaps all allow it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from solver.candidates import Visit, fixed_days, mode_blocks, remaining_sessions
from solver.problem import Appointment, Interval, Mode, Problem, Protocol

HANDS = {Mode.HANDS_ON}
LOAD = {Mode.HANDS_ON, Mode.MONITOR}


def max_overlap(spans: list[Interval], start: int, end: int) -> int:
    """The largest number of ``spans`` that overlap one moment of ``[start, end)``."""
    events: list[tuple[int, int]] = []
    for a, b in spans:
        if a < end and start < b:
            events.append((max(a, start), 1))
            events.append((min(b, end), -1))
    events.sort()
    best = level = 0
    for _, delta in events:
        level += delta
        best = max(best, level)
    return best


class Ledger:
    """Bookings so far: per room and staff member, how many sessions hold each minute."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.chairs = {r.id: r.chairs for r in problem.rooms}
        self.capacity = {s.id: s.max_patients for s in problem.staff}
        last = max((d.index for d in problem.days), default=0)
        self.minutes = (last + 3) * 24 * 60
        self.rooms: dict[str, np.ndarray] = {}
        self.hands: dict[str, np.ndarray] = {}
        self.load: dict[str, np.ndarray] = {}
        self._blocks: dict[tuple[int, int], tuple[list[Interval], list[Interval]]] = {}

    def _row(self, table: dict[str, np.ndarray], key: str) -> np.ndarray:
        row = table.get(key)
        if row is None:
            row = table[key] = np.zeros(self.minutes, dtype=np.int16)
        return row

    def _peak(self, table: dict[str, np.ndarray], key: str, start: int, end: int) -> int:
        row = table.get(key)
        return 0 if row is None else int(row[start:end].max())

    def blocks(self, protocol: Protocol, need: int) -> tuple[list[Interval], list[Interval]]:
        """Hands-on and engaged (hands-on or monitor) offsets of one staff need."""
        key = (id(protocol), need)
        if key not in self._blocks:
            modes = protocol.staff[need].modes
            self._blocks[key] = (mode_blocks(protocol, modes, HANDS),
                                 mode_blocks(protocol, modes, LOAD))
        return self._blocks[key]

    def room_free(self, room: str, protocol: Protocol, start: int) -> bool:
        end = start + protocol.minutes + protocol.turnover
        return self._peak(self.rooms, room, start, end) < self.chairs[room]

    def staff_free(self, staff: str, protocol: Protocol, need: int, start: int) -> bool:
        hands, load = self.blocks(protocol, need)
        if any(self._peak(self.hands, staff, start + a, start + b) >= 1 for a, b in hands):
            return False
        cap = self.capacity[staff]
        return all(self._peak(self.load, staff, start + a, start + b) < cap for a, b in load)

    def book(self, protocol: Protocol, appointment: Appointment) -> None:
        s = appointment.start
        self._row(self.rooms, appointment.room)[s:s + protocol.minutes + protocol.turnover] += 1
        for n, need in enumerate(protocol.staff):
            who = appointment.staff[need.key]
            hands, load = self.blocks(protocol, n)
            for a, b in hands:
                self._row(self.hands, who)[s + a:s + b] += 1
            for a, b in load:
                self._row(self.load, who)[s + a:s + b] += 1


def greedy(problem: Problem, visits: list[Visit]) -> list[Appointment]:
    """New appointments (fixed ones excluded) placed first-fit in priority order.

    When re-planning, every previous appointment that still fits exactly is kept first.
    """
    ledger = Ledger(problem)
    patients = {p.id: p for p in problem.patients}
    for a in problem.fixed:
        ledger.book(problem.session_protocol(a.patient, a.day), a)
    by_patient: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_patient[v.patient.id].append(v)
    options = {pid: sum(len(v.starts) for v in vs) for pid, vs in by_patient.items()}
    rebooking = {a.patient for a in problem.previous}  # known patients before new ones
    order = sorted(by_patient, key=lambda pid: (pid not in rebooking, -patients[pid].priority,
                                                options[pid], pid))
    remaining = remaining_sessions(problem)
    taken = fixed_days(problem)
    placed: list[Appointment] = []
    where = {(v.patient.id, v.day.index): v for v in visits}
    for a in problem.previous:
        visit = where.get((a.patient, a.day))
        gap = max(1, patients[a.patient].min_gap_days) if a.patient in patients else 1
        if (visit is None or remaining[a.patient] == 0 or not _fits_as_is(ledger, visit, a)
                or any(abs(a.day - d) < gap for d in taken.get(a.patient, []))):
            continue
        kept = Appointment(a.patient, a.day, a.start, a.room, dict(a.staff))
        ledger.book(visit.protocol, kept)
        placed.append(kept)
        taken.setdefault(a.patient, []).append(a.day)
        remaining[a.patient] -= 1
    for pid in order:
        patient = patients[pid]
        gap = max(1, patient.min_gap_days)
        for visit in by_patient[pid]:
            if remaining[pid] == 0:
                break
            if any(abs(visit.day.index - d) < gap for d in taken.get(pid, [])):
                continue
            appointment = _first_fit(ledger, visit)
            if appointment is not None:
                ledger.book(visit.protocol, appointment)
                placed.append(appointment)
                taken.setdefault(pid, []).append(visit.day.index)
                remaining[pid] -= 1
    return placed


def _fits_as_is(ledger: Ledger, visit: Visit, a: Appointment) -> bool:
    """Whether ``a`` could stand exactly as it is (time, room, staff) given the ledger."""
    protocol = visit.protocol
    if a.start not in visit.starts or a.start not in visit.rooms.get(a.room, set()):
        return False
    if not ledger.room_free(a.room, protocol, a.start):
        return False
    for i, need in enumerate(protocol.staff):
        who = a.staff.get(need.key)
        if who is None or a.start not in visit.staff[i].get(who, set()):
            return False
        if not ledger.staff_free(who, protocol, i, a.start):
            return False
    return True


def _first_fit(ledger: Ledger, visit: Visit) -> Appointment | None:
    protocol = visit.protocol
    preferred = visit.patient.preferred_staff
    for start in visit.starts:
        staff: dict[str, str] = {}
        for i, need in enumerate(protocol.staff):
            pool = sorted(visit.staff[i], key=lambda sid: (sid not in preferred, sid))
            who = next(
                (sid for sid in pool
                 if start in visit.staff[i][sid] and sid not in staff.values()
                 and ledger.staff_free(sid, protocol, i, start)),
                None,
            )
            if who is None:
                break
            staff[need.key] = who
        else:  # staff first: on staff-limited weeks most starts fail there, and it is cheaper
            room = next((r for r, ok in visit.rooms.items()
                         if start in ok and ledger.room_free(r, protocol, start)), None)
            if room is not None:
                return Appointment(visit.patient.id, visit.day.index, start, room, staff)
    return None
