"""Edit a schedule by hand: cancel or move one appointment (the checker is the judge), and
compare two schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice, product

from scheduler.check import Violation
from scheduler.compile import SlotClock, to_problem
from scheduler.documents import (
    Appointment,
    Change,
    ChangeList,
    Kpis,
    Schedule,
    Unplaced,
    appointment_of,
    assign_ids,
    kpis,
    placed_of,
)
from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.model import Scenario
from scheduler.usecases.check import check_schedule
from solver import Placement

__all__ = ["cancel_appointment", "diff_schedules", "move_appointment", "place_session",
           "try_placement"]


def _find(schedule: Schedule, ref: str) -> Appointment:
    found = next((a for a in schedule.appointments if a.id == ref), None)
    if found is None:
        raise NotFound("appointment", ref)
    return found


def _with_figures(scenario: Scenario, schedule: Schedule,
                  appointments: list[Appointment], unplaced: list[Unplaced]) -> Schedule:
    """``schedule`` with new appointments and unplaced list, its figures recomputed."""
    problem, clock = to_problem(scenario), SlotClock(scenario)
    placed = [placed_of(a, clock) for a in appointments]
    old = schedule.kpis.model_dump() if schedule.kpis is not None else {}
    figures = {**old, **kpis(problem, placed)}
    return schedule.model_copy(update={
        "appointments": sorted(appointments, key=lambda a: (a.start, a.id)),
        "unplaced": unplaced, "kpis": Kpis(**figures)})


def cancel_appointment(scenario: Scenario, schedule: Schedule, ref: str,
                       reason: str = "cancelled by the front desk") -> Schedule:
    """``schedule`` without appointment ``ref``; its session is listed as unplaced, with
    ``reason``."""
    gone = _find(schedule, ref)
    unplaced = list(schedule.unplaced)
    mine = next((u for u in unplaced if u.patient == gone.patient), None)
    if mine is None:
        unplaced.append(Unplaced(patient=gone.patient, sessions=1, reason=reason))
    else:
        unplaced[unplaced.index(mine)] = Unplaced(patient=gone.patient,
                                                  sessions=mine.sessions + 1, reason=reason)
    return _with_figures(scenario, schedule,
                         [a for a in schedule.appointments if a.id != ref], unplaced)


def _key(v: Violation) -> tuple[str, str, str]:
    return (v.rule, v.appointment, v.what)


def move_appointment(scenario: Scenario, schedule: Schedule, ref: str, start: datetime,
                     room: str | None = None, staff: dict[str, str] | None = None) -> Schedule:
    """``schedule`` with appointment ``ref`` starting at ``start`` (in ``room``, with ``staff``
    when given; else as before). A move that breaks a hard rule raises InvalidInput with the
    independent checker's words for every rule it breaks."""
    if start.tzinfo is None:
        raise InvalidInput([Issue("start", "needs a UTC offset, e.g. "
                                           "2026-12-08T09:00:00-05:00")])
    old = _find(schedule, ref)
    problem, clock = to_problem(scenario), SlotClock(scenario)
    day = clock.day_index(start.astimezone(clock.tz).date())
    if not 0 <= day < scenario.horizon.days:
        raise InvalidInput([Issue("start", f"{start.isoformat()} is outside the horizon")])
    own = placed_of(old, clock).protocol
    moved = appointment_of(Placement(old.patient, day, clock.minute(start), room or old.room,
                                     dict(staff if staff is not None else old.staff), ref, own),
                           problem, clock)
    appointments = [moved if a.id == ref else a for a in schedule.appointments]
    candidate = _with_figures(scenario, schedule, appointments, list(schedule.unplaced))
    before = {_key(v) for v in check_schedule(scenario, schedule)}
    new = [v for v in check_schedule(scenario, candidate) if _key(v) not in before]
    if new:
        where = (f"{start.astimezone(clock.tz):%a %d %b %H:%M} "
                 f"{'in ' + moved.room if moved.room else 'by video'}")
        raise InvalidInput([Issue(f"appointments.{ref}", f"moving it to {where} breaks the "
                                  f"{v.rule} rule: {v.appointment}: {v.what}") for v in new])
    return candidate


STAFF_TRIES = 200
"""Staff combinations tried for one placement (one nurse and one prescriber each from a
handful is far fewer; a bigger clinic gets the first 200 in the scenario's order)."""


def try_placement(scenario: Scenario, schedule: Schedule, patient: str, start: datetime,
                  room: str, staff: dict[str, str] | None = None) -> tuple[Schedule, list[str]]:
    """One more session of ``patient`` at ``start`` in ``room`` (with ``staff``, else the staff
    combination the checker objects to least): the schedule it gives and, when it breaks hard
    rules, the independent checker's words for each (empty: it fits). "Why not here?"."""
    if start.tzinfo is None:
        raise InvalidInput([Issue("start", "needs a UTC offset, e.g. "
                                           "2026-12-08T09:00:00-05:00")])
    issues = []
    spec = next((p for p in scenario.patients if p.id == patient), None)
    if spec is None:
        issues.append(Issue("patient", f"{patient!r} is not a patient of this clinic"))
    if room not in {r.id for r in scenario.rooms}:
        issues.append(Issue("room", f"{room!r} is not a room of this clinic"))
    clock = SlotClock(scenario)
    day = clock.day_index(start.astimezone(clock.tz).date())
    if not 0 <= day < scenario.horizon.days:
        issues.append(Issue("start", f"{start.astimezone(clock.tz):%a %d %b %Y} is outside the "
                                     "week being planned"))
    if issues:
        raise InvalidInput(issues)
    assert spec is not None
    protocol = next(p for p in scenario.protocols if p.id == spec.protocol)
    keys = [n.key or n.role for n in protocol.staff]
    if staff is not None and set(staff) != set(keys):
        raise InvalidInput([Issue("staff", f"{patient}'s protocol {protocol.id} needs staff "
                                           f"for {', '.join(keys) or 'nothing'}; given "
                                           f"{', '.join(sorted(staff)) or 'none'}")])
    if staff is not None:
        choices: list[dict[str, str]] = [dict(staff)]
    else:
        pools = [[s.id for s in scenario.staff if s.role == n.role
                  and (n.qualification is None or n.qualification in s.qualifications)]
                 or [""] for n in protocol.staff]
        choices = [dict(zip(keys, combo, strict=True)) for combo in
                   islice(product(*pools), STAFF_TRIES)] or [{}]
    problem = to_problem(scenario)
    taken = {a.id for a in schedule.appointments} | {f.id for f in scenario.fixed}
    before = {_key(v) for v in check_schedule(scenario, schedule)}
    unplaced = []
    for u in schedule.unplaced:
        if u.patient == patient:
            if u.sessions > 1:
                unplaced.append(u.model_copy(update={"sessions": u.sessions - 1}))
        else:
            unplaced.append(u)
    best: tuple[Schedule, list[str]] | None = None
    for choice in choices:
        [placed] = assign_ids([Placement(patient, day, clock.minute(start), room,
                                         {k: v for k, v in choice.items() if v})], taken)
        added = appointment_of(placed, problem, clock)
        candidate = _with_figures(scenario, schedule, [*schedule.appointments, added],
                                  unplaced)
        new = [f"{v.rule}: {v.what}" for v in check_schedule(scenario, candidate)
               if _key(v) not in before]
        if best is None or len(new) < len(best[1]):
            best = (candidate, new)
        if not new:
            break
    assert best is not None
    return best


def place_session(scenario: Scenario, schedule: Schedule, patient: str, start: datetime,
                  room: str, staff: dict[str, str] | None = None) -> Schedule:
    """:func:`try_placement`, refused (InvalidInput, the checker's words) unless it fits."""
    candidate, problems = try_placement(scenario, schedule, patient, start, room, staff)
    if problems:
        clock = SlotClock(scenario)
        where = f"{start.astimezone(clock.tz):%a %d %b %H:%M} in {room}"
        raise InvalidInput([Issue("start", f"{patient} at {where} breaks the {p}")
                            for p in problems])
    return candidate


def diff_schedules(before: Schedule, after: Schedule) -> ChangeList:
    """Every appointment that differs between two schedules: added, removed, moved (its time
    changed) or reassigned (room or staff only)."""
    old = {a.id: a for a in before.appointments}
    new = {a.id: a for a in after.appointments}
    out = []
    for ref in sorted(old.keys() | new.keys()):
        b, a = old.get(ref), new.get(ref)
        if a is not None and b is not None:
            if (a.start.astimezone(UTC), a.end.astimezone(UTC)) != (b.start.astimezone(UTC),
                                                                     b.end.astimezone(UTC)):
                reason = "moved"
            elif (a.room, a.staff, a.patient) != (b.room, b.staff, b.patient):
                reason = "room or staff changed"
            else:
                continue
        else:
            reason = "added" if b is None else "removed"
        either = a or b
        assert either is not None
        out.append(Change(id=ref, patient=either.patient, before=b, after=a, reason=reason))
    return out
