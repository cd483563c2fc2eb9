"""Greedy first fit: what a careful clerk does by hand, and the CP-SAT search's first hint.

Patients in priority order (most constrained first among equals), each session at the earliest
day and minute where a room, the staff and the patient's gaps all allow it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class Ledger:
    """Bookings so far, per room and per staff member."""

    problem: Problem
    rooms: dict[str, list[Interval]] = field(default_factory=lambda: defaultdict(list))
    hands: dict[str, list[Interval]] = field(default_factory=lambda: defaultdict(list))
    load: dict[str, list[Interval]] = field(default_factory=lambda: defaultdict(list))

    def room_free(self, room: str, protocol: Protocol, start: int) -> bool:
        chairs = next(r.chairs for r in self.problem.rooms if r.id == room)
        end = start + protocol.minutes + protocol.turnover
        return max_overlap(self.rooms[room], start, end) < chairs

    def staff_free(self, staff: str, protocol: Protocol, need: int, start: int) -> bool:
        modes = protocol.staff[need].modes
        cap = next(s.max_patients for s in self.problem.staff if s.id == staff)
        for a, b in mode_blocks(protocol, modes, HANDS):
            if max_overlap(self.hands[staff], start + a, start + b) >= 1:
                return False
        return all(
            max_overlap(self.load[staff], start + a, start + b) < cap
            for a, b in mode_blocks(protocol, modes, LOAD)
        )

    def book(self, protocol: Protocol, appointment: Appointment) -> None:
        s = appointment.start
        self.rooms[appointment.room].append((s, s + protocol.minutes + protocol.turnover))
        for need in protocol.staff:
            who = appointment.staff[need.key]
            self.hands[who] += [(s + a, s + b) for a, b in mode_blocks(protocol, need.modes, HANDS)]
            self.load[who] += [(s + a, s + b) for a, b in mode_blocks(protocol, need.modes, LOAD)]


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
        room = next(
            (r for r, ok in visit.rooms.items()
             if start in ok and ledger.room_free(r, protocol, start)),
            None,
        )
        if room is None:
            continue
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
        else:
            return Appointment(visit.patient.id, visit.day.index, start, room, staff)
    return None
