"""Typed schedules: contract v1's ``schedule.json`` and ``changes.json`` as pydantic models.

A :class:`Schedule` is what every use case returns and every caller (the CLI, the service, the
feeds) reads; ``to_json()`` is the contract's document, byte for byte what the core wrote before
(times as ISO 8601 with the UTC offset of their date, in the clinic's zone).

>>> Schedule.from_json(schedule.to_json()) == schedule   # doctest: +SKIP
True
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    ValidationError,
)

from scheduler.compile import SlotClock
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.validate import issues_from
from solver import Placement, Problem, Solution, follow_ups_wanted

__all__ = ["Appointment", "Change", "ChangeList", "Kpis", "Phase", "Schedule", "SolverInfo",
           "Unplaced", "appointment_of", "assign_ids", "changes_json", "kpis", "placed_of",
           "rems_forms", "schedule_from_solution"]

Instant = Annotated[AwareDatetime,
                    PlainSerializer(lambda t: t.isoformat(timespec="seconds"), when_used="json")]
"""An aware instant, written as the contract writes it: ``2026-12-07T09:00:00-05:00``."""


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True)


class Phase(_Doc):
    name: str
    start: Instant
    end: Instant


class Appointment(_Doc):
    """One session: who, where, with whom, when (each phase too)."""

    id: str
    patient: str
    protocol: str
    room: str | None
    """``None`` for a video session (a protocol with ``video: true``), which takes no room:
    only scenarios that use video protocols have appointments without a room."""
    staff: dict[str, str]
    start: Instant
    end: Instant
    phases: list[Phase]
    rems_form_due: date | None = None
    """REMS protocols: the date the patient monitoring form is due (within 7 days of the
    session); absent otherwise."""


class Unplaced(_Doc):
    patient: str
    sessions: int
    reason: str


class SolverInfo(_Doc):
    status: str
    seconds: float
    objective: int
    bound: int


class Kpis(_Doc):
    """Figures of a schedule; more may be added (``extra`` fields are kept)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    wanted: int
    placed: int
    weighted_wanted: int = 0
    weighted: int = 0
    by_protocol: dict[str, dict[str, int]] = {}
    room_utilization: float = 0.0
    rooms: dict[str, float] = {}
    nurse_utilization: float = 0.0
    nurses: dict[str, float] = {}
    penalties: dict[str, int] = {}
    greedy_weighted: int = 0
    changed_appointments: int | None = None


class Schedule(_Doc):
    """Contract v1's ``schedule.json``."""

    version: int = 1
    scenario: str = ""
    generated_at: Annotated[AwareDatetime, PlainSerializer(
        lambda t: t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        when_used="json")] | None = None
    solver: SolverInfo | None = None
    """How it was found; absent in a schedule another tool wrote."""
    appointments: list[Appointment]
    unplaced: list[Unplaced] = []
    kpis: Kpis | None = None
    replanned_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as the contract writes it (``json.dumps``-ready)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["appointments"] = [  # a video session's room is written, as null
            a if "room" in a else {"id": a["id"], "patient": a["patient"],
                                   "protocol": a["protocol"], "room": None, **a}
            for a in data["appointments"]]
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = "schedule") -> Schedule:
        """Read a parsed ``schedule.json``; problems raise :class:`InvalidInput` with paths."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(issues_from(exc, where)) from exc


class Change(_Doc):
    """One appointment that differs from the previous schedule, and why."""

    id: str
    patient: str | None
    before: Appointment | None
    after: Appointment | None
    reason: str


ChangeList = list[Change]


def changes_json(changes: ChangeList) -> list[dict[str, Any]]:
    """``changes.json``: the change list as the contract writes it."""
    return [c.model_dump(mode="json") for c in changes]


# ----------------------------------------------------------------------------- from a solution
_NUMBERED = re.compile(r"^A-(\d+)$")


def assign_ids(appointments: list[Placement], taken: set[str]) -> list[Placement]:
    """Give every appointment without an id the next free ``A-NNNN``, in order of start."""
    numbers = [int(m.group(1)) for t in taken if (m := _NUMBERED.match(t))]
    n = max(numbers, default=0)
    out = []
    for a in sorted(appointments, key=lambda a: (a.start, a.patient)):
        if a.id is None:
            n += 1
            while f"A-{n:04d}" in taken:
                n += 1
            a = Placement(a.patient, a.day, a.start, a.room, a.staff, f"A-{n:04d}", a.protocol)
        out.append(a)
    return out


def placed_of(a: Appointment, clock: SlotClock) -> Placement:
    """The solver's appointment for a contract appointment (minutes since the horizon's
    origin; its own protocol kept when it is not the patient's: a dose step, a follow-up)."""
    mine = next((p.protocol for p in clock.scenario.patients if p.id == a.patient), None)
    return Placement(a.patient, clock.day_index(a.start.astimezone(clock.tz).date()),
                     clock.minute(a.start), a.room, dict(a.staff), a.id,
                     None if a.protocol == mine else a.protocol)


def appointment_of(a: Placement, problem: Problem, clock: SlotClock) -> Appointment:
    """The contract's appointment for a solver appointment (phases laid out in real time)."""
    protocol = problem.appointment_protocol(a)
    phases = []
    t = a.start
    for ph in protocol.phases:
        phases.append(Phase(name=ph.name, start=clock.instant(t),
                            end=clock.instant(t + ph.minutes)))
        t += ph.minutes
    assert a.id is not None
    start = clock.instant(a.start)
    rems = clock.scenario.protocol(protocol.id).requires_rems
    return Appointment(id=a.id, patient=a.patient, protocol=protocol.id, room=a.room,
                       staff=dict(a.staff), start=start, end=clock.instant(t),
                       phases=phases,
                       rems_form_due=start.date() + timedelta(days=REMS_FORM_DAYS)
                       if rems else None)


def rems_forms(schedule: Schedule) -> list[dict[str, str]]:
    """The front desk's REMS paperwork list: one row per esketamine (REMS) session, in order
    of the form's due date: appointment, patient, session date, form due."""
    rows = [{"appointment": a.id, "patient": a.patient, "protocol": a.protocol,
             "session": a.start.date().isoformat(), "form_due": a.rems_form_due.isoformat()}
            for a in schedule.appointments if a.rems_form_due is not None]
    return sorted(rows, key=lambda r: (r["form_due"], r["session"], r["appointment"]))


REMS_FORM_DAYS = 7
"""Spravato REMS: the patient monitoring form is due within 7 days of each session."""


def continuity(problem: Problem, appointments: list[Placement], clock: SlotClock) -> dict[str, Any]:
    """Week-to-week continuity of patients with two or more sessions: consecutive sessions
    with the same nurse, and how far their wall-clock start times lie apart."""
    nurses = {s.id for s in problem.staff if s.role == "nurse"}
    mine: dict[str, list[Placement]] = defaultdict(list)
    for a in appointments:
        mine[a.patient].append(a)
    pairs = same_nurse = same_time = shift = 0
    for items in mine.values():
        items.sort(key=lambda a: a.start)
        for x, y in itertools.pairwise(items):
            pairs += 1
            if {s for s in x.staff.values() if s in nurses} & \
                    {s for s in y.staff.values() if s in nurses}:
                same_nurse += 1
            tx, ty = clock.instant(x.start), clock.instant(y.start)
            minutes = abs((tx.hour * 60 + tx.minute) - (ty.hour * 60 + ty.minute))
            shift += minutes
            same_time += minutes <= CONTINUITY_MINUTES
    return {
        "pairs": pairs,
        "same_nurse": same_nurse,
        "same_nurse_share": round(same_nurse / pairs, 3) if pairs else 0.0,
        "same_time": same_time,
        "same_time_share": round(same_time / pairs, 3) if pairs else 0.0,
        "mean_time_shift_minutes": round(shift / pairs, 1) if pairs else 0.0,
    }


CONTINUITY_MINUTES = 30
"""Two sessions starting within this many minutes of each other's time of day count as the
same time."""


def by_week(problem: Problem, appointments: list[Placement], clock: SlotClock) -> dict[str, Any]:
    """Sessions placed per calendar week (Monday's date), and the spacing of consecutive
    sessions against their week's ideal gap (days)."""
    weeks: dict[str, int] = defaultdict(int)
    days: dict[str, list[int]] = defaultdict(list)
    for a in appointments:
        day = clock.instant(a.start).date()
        weeks[(day - timedelta(days=day.weekday())).isoformat()] += 1
        days[a.patient].append(a.day)
    pairs = within = off = 0
    for p in problem.patients:
        if not p.ideal_gaps:
            continue
        seq = sorted(days.get(p.id, []))
        if p.last_session_day is not None:
            seq.insert(0, p.last_session_day)
        for x, y in itertools.pairwise(seq):
            ideal = p.ideal_gap(y)
            if ideal is None:
                continue
            pairs += 1
            days_off = max(ideal[0] - (y - x), (y - x) - ideal[1], 0)
            within += days_off == 0
            off += days_off
    return {"by_week": dict(sorted(weeks.items())),
            "spacing": {"pairs": pairs, "within_ideal": within, "days_off_ideal": off}}


def kpis(problem: Problem, appointments: list[Placement]) -> dict[str, Any]:
    """Wanted/placed (overall and by protocol), weighted value and utilizations."""
    patients = {p.id: p for p in problem.patients}
    by_protocol: dict[str, dict[str, int]] = {
        pid: {"wanted": 0, "placed": 0} for pid in problem.protocols}
    for p in problem.patients:
        first = p.sessions if p.step is None else min(p.sessions, p.step[0])
        by_protocol[p.protocol]["wanted"] += first
        if p.step is not None:  # the sessions after the dose step
            by_protocol[p.step[1]]["wanted"] += p.sessions - first
    follow = follow_ups_wanted(problem)
    for p in problem.patients:
        if p.follow_up is not None:
            by_protocol[p.follow_up[0]]["wanted"] += follow[p.id]
    for a in appointments:
        by_protocol[problem.protocol_id(a)]["placed"] += 1
    open_minutes = {
        r.id: r.chairs * sum(b - a for a, b in (r.hours if r.hours is not None else
                                                [h for d in problem.days for h in d.hours]))
        for r in problem.rooms
    }
    used: dict[str, int] = defaultdict(int)
    load: dict[str, int] = defaultdict(int)
    for a in appointments:
        protocol = problem.appointment_protocol(a)
        if a.room is not None:  # a video session takes no room
            used[a.room] += protocol.minutes + protocol.turnover
        offsets = protocol.phase_offsets()
        for need in protocol.staff:
            load[a.staff[need.key]] += sum(offsets[ph][1] - offsets[ph][0] for ph in need.modes)
    nurses = [s for s in problem.staff if s.role == "nurse" and s.max_patients > 0]
    nurse_capacity = sum(s.max_patients * sum(b - a for a, b in s.shifts) for s in nurses)

    def ratio(x: float, y: float) -> float:
        return round(x / y, 3) if y else 0.0

    return {
        "wanted": sum(p.sessions + follow.get(p.id, 0) for p in problem.patients),
        "placed": len(appointments),
        "weighted_wanted": sum(p.priority * (p.sessions + follow.get(p.id, 0))
                               for p in problem.patients),
        "weighted": sum(patients[a.patient].priority for a in appointments),
        "by_protocol": by_protocol,
        **({"video_sessions": sum(1 for a in appointments if a.room is None)}
           if any(p.video for p in problem.protocols.values()) else {}),
        "room_utilization": ratio(sum(used.values()), sum(open_minutes.values())),
        "rooms": {r: ratio(used[r], m) for r, m in open_minutes.items()},
        "nurse_utilization": ratio(sum(load[s.id] for s in nurses), nurse_capacity),
        "nurses": {s.id: ratio(load[s.id], s.max_patients * sum(b - a for a, b in s.shifts))
                   for s in nurses},
    }


def schedule_from_solution(scenario: Scenario, problem: Problem, solution: Solution,
                           now: datetime | None = None) -> Schedule:
    """The schedule of a solution of ``problem`` (compiled from ``scenario``)."""
    clock = SlotClock(scenario)
    taken = {a.id for a in solution.appointments if a.id is not None}
    appointments = assign_ids(solution.appointments, taken)
    figures = kpis(problem, appointments)
    figures["continuity"] = continuity(problem, appointments, clock)
    figures |= by_week(problem, appointments, clock)
    return Schedule(
        scenario=scenario.clinic.name,
        generated_at=(now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0),
        solver=SolverInfo(status=solution.status, seconds=round(solution.seconds, 2),
                          objective=solution.objective, bound=solution.bound),
        appointments=[appointment_of(a, problem, clock) for a in appointments],
        unplaced=[Unplaced(patient=u.patient, sessions=u.sessions, reason=u.reason)
                  for u in solution.unplaced],
        kpis=Kpis(**figures, penalties=solution.penalties,
                  greedy_weighted=solution.greedy_objective),
    )
