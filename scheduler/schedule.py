"""Solver solutions -> ``schedule.json`` documents (contract v1), with ids and figures.

Appointment ids are stable: fixed ones keep theirs, new ones are numbered after the highest
``A-NNNN`` in use, in order of start, so a re-solve can carry them over.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from scheduler.compile import Clock
from scheduler.scenario import Scenario
from solver import Appointment, Problem, Solution

_NUMBERED = re.compile(r"^A-(\d+)$")


def assign_ids(appointments: list[Appointment], taken: set[str]) -> list[Appointment]:
    """Give every appointment without an id the next free ``A-NNNN``, in order of start."""
    numbers = [int(m.group(1)) for t in taken if (m := _NUMBERED.match(t))]
    n = max(numbers, default=0)
    out = []
    for a in sorted(appointments, key=lambda a: (a.start, a.patient)):
        if a.id is None:
            n += 1
            while f"A-{n:04d}" in taken:
                n += 1
            a = Appointment(a.patient, a.day, a.start, a.room, a.staff, f"A-{n:04d}")
        out.append(a)
    return out


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def appointment_json(a: Appointment, problem: Problem, clock: Clock) -> dict[str, Any]:
    protocol = problem.session_protocol(a.patient, a.day)
    phases = []
    t = a.start
    for ph in protocol.phases:
        phases.append({"name": ph.name, "start": _iso(clock.instant(t)),
                       "end": _iso(clock.instant(t + ph.minutes))})
        t += ph.minutes
    return {
        "id": a.id,
        "patient": a.patient,
        "protocol": protocol.id,
        "room": a.room,
        "staff": dict(a.staff),
        "start": _iso(clock.instant(a.start)),
        "end": _iso(clock.instant(t)),
        "phases": phases,
    }


def kpis(problem: Problem, appointments: list[Appointment]) -> dict[str, Any]:
    """Wanted/placed (overall and by protocol), weighted value and utilizations."""
    patients = {p.id: p for p in problem.patients}
    by_protocol: dict[str, dict[str, int]] = {
        pid: {"wanted": 0, "placed": 0} for pid in problem.protocols}
    for p in problem.patients:
        by_protocol[p.protocol]["wanted"] += p.sessions
    for a in appointments:
        by_protocol[patients[a.patient].protocol]["placed"] += 1
    open_minutes = {
        r.id: r.chairs * sum(b - a for a, b in (r.hours if r.hours is not None else
                                                [h for d in problem.days for h in d.hours]))
        for r in problem.rooms
    }
    used: dict[str, int] = defaultdict(int)
    load: dict[str, int] = defaultdict(int)
    for a in appointments:
        protocol = problem.session_protocol(a.patient, a.day)
        used[a.room] += protocol.minutes + protocol.turnover
        offsets = protocol.phase_offsets()
        for need in protocol.staff:
            load[a.staff[need.key]] += sum(offsets[ph][1] - offsets[ph][0] for ph in need.modes)
    nurses = [s for s in problem.staff if s.role == "nurse" and s.max_patients > 0]
    nurse_capacity = sum(s.max_patients * sum(b - a for a, b in s.shifts) for s in nurses)

    def ratio(x: float, y: float) -> float:
        return round(x / y, 3) if y else 0.0

    return {
        "wanted": sum(p.sessions for p in problem.patients),
        "placed": len(appointments),
        "weighted_wanted": sum(p.priority * p.sessions for p in problem.patients),
        "weighted": sum(patients[a.patient].priority for a in appointments),
        "by_protocol": by_protocol,
        "room_utilization": ratio(sum(used.values()), sum(open_minutes.values())),
        "rooms": {r: ratio(used[r], m) for r, m in open_minutes.items()},
        "nurse_utilization": ratio(sum(load[s.id] for s in nurses), nurse_capacity),
        "nurses": {s.id: ratio(load[s.id], s.max_patients * sum(b - a for a, b in s.shifts))
                   for s in nurses},
    }


def schedule_document(scenario: Scenario, problem: Problem, solution: Solution,
                      now: datetime | None = None) -> dict[str, Any]:
    """The ``schedule.json`` document for a solution of ``problem`` (compiled from ``scenario``)."""
    clock = Clock(scenario)
    taken = {a.id for a in solution.appointments if a.id is not None}
    appointments = assign_ids(solution.appointments, taken)
    figures = kpis(problem, appointments)
    figures["penalties"] = solution.penalties
    figures["greedy_weighted"] = solution.greedy_objective
    return {
        "version": 1,
        "scenario": scenario.clinic.name,
        "generated_at": (now or datetime.now(UTC)).astimezone(UTC)
        .isoformat(timespec="seconds").replace("+00:00", "Z"),
        "solver": {
            "status": solution.status,
            "seconds": round(solution.seconds, 2),
            "objective": solution.objective,
            "bound": solution.bound,
        },
        "appointments": [appointment_json(a, problem, clock) for a in appointments],
        "unplaced": [{"patient": u.patient, "sessions": u.sessions, "reason": u.reason}
                     for u in solution.unplaced],
        "kpis": figures,
    }
