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
from solver import Placement, Problem

__all__ = ["Trial", "cancel_appointment", "diff_schedules", "move_appointment", "place_session",
           "try_placement"]


def _find(schedule: Schedule, ref: str) -> Appointment:
    found = next((a for a in schedule.appointments if a.id == ref), None)
    if found is None:
        raise NotFound("appointment", ref)
    return found


def _with_figures(scenario: Scenario, schedule: Schedule,
                  appointments: list[Appointment], unplaced: list[Unplaced],
                  problem: Problem | None = None) -> Schedule:
    """``schedule`` with new appointments and unplaced list, its figures recomputed (with
    ``problem``, the scenario's compiled problem when the caller has it)."""
    problem = problem if problem is not None else to_problem(scenario)
    clock = SlotClock(scenario)
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


class Trial:
    """One more session of ``patient`` on ``schedule``, judged by the independent checker: what
    stays the same from one judgement to the next (the compiled problem, the violations the
    schedule already had, the ids taken, the unplaced list with one session less) is read once,
    so "why not here?" and the slot finder judge many candidates in the same way a booking is
    judged."""

    def __init__(self, scenario: Scenario, schedule: Schedule, patient: str) -> None:
        self.scenario, self.schedule, self.patient = scenario, schedule, patient
        self.problem, self.clock = to_problem(scenario), SlotClock(scenario)
        self.taken = {a.id for a in schedule.appointments} | {f.id for f in scenario.fixed}
        self.before = {_key(v) for v in check_schedule(scenario, schedule)}
        self.unplaced: list[Unplaced] = []
        for u in schedule.unplaced:
            if u.patient == patient:
                if u.sessions > 1:
                    self.unplaced.append(u.model_copy(update={"sessions": u.sessions - 1}))
            else:
                self.unplaced.append(u)
        placed = [placed_of(a, self.clock) for a in schedule.appointments
                  if a.patient == patient]
        self.main_days = sorted(a.day for a in placed if not self.problem.is_follow_up(a))

    def protocol(self, day: int) -> str | None:
        """The protocol of the patient's session on ``day`` (the dose step counts the sessions
        before it); None: the patient's own."""
        spec = self.problem.patient[self.patient]
        chosen = spec.main_protocol(sum(1 for d in self.main_days if d < day))
        return None if chosen == spec.protocol else chosen

    def judge(self, day: int, minute: int, room: str | None, staff: dict[str, str],
              figures: bool = True) -> tuple[Schedule, list[str]]:
        """The schedule with the session at ``minute`` of ``day`` in ``room`` with ``staff``,
        and the checker's words for each hard rule it newly breaks (empty: it fits). Without
        ``figures`` the schedule's figures are left as they were (the checker does not read
        them; the slot finder stores nothing)."""
        [placed] = assign_ids([Placement(self.patient, day, minute, room, staff,
                                         protocol=self.protocol(day))], self.taken)
        added = appointment_of(placed, self.problem, self.clock)
        appointments = [*self.schedule.appointments, added]
        candidate = (_with_figures(self.scenario, self.schedule, appointments, self.unplaced,
                                   self.problem) if figures else
                     self.schedule.model_copy(update={"appointments": appointments,
                                                      "unplaced": self.unplaced}))
        new = [f"{v.rule}: {v.what}" for v in check_schedule(self.scenario, candidate)
               if _key(v) not in self.before]
        return candidate, new


STAFF_TRIES = 200
"""Staff combinations tried for one placement (one nurse and one prescriber each from a
handful is far fewer; a bigger clinic gets the first 200 in the scenario's order)."""


def try_placement(scenario: Scenario, schedule: Schedule, patient: str, start: datetime,
                  room: str | None, staff: dict[str, str] | None = None
                  ) -> tuple[Schedule, list[str]]:
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
    video = spec is not None and scenario.protocol(spec.protocol).video
    if room is None and not video:
        issues.append(Issue("room", "is required (only a video session takes no room)"))
    elif room is not None and room not in {r.id for r in scenario.rooms}:
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
    trial = Trial(scenario, schedule, patient)
    best: tuple[Schedule, list[str]] | None = None
    for choice in choices:
        found = trial.judge(day, clock.minute(start), room,
                            {k: v for k, v in choice.items() if v})
        if best is None or len(found[1]) < len(best[1]):
            best = found
        if not found[1]:
            break
    assert best is not None
    return best


def place_session(scenario: Scenario, schedule: Schedule, patient: str, start: datetime,
                  room: str | None, staff: dict[str, str] | None = None) -> Schedule:
    """:func:`try_placement`, refused (InvalidInput, the checker's words) unless it fits."""
    candidate, problems = try_placement(scenario, schedule, patient, start, room, staff)
    if problems:
        clock = SlotClock(scenario)
        where = (f"{start.astimezone(clock.tz):%a %d %b %H:%M} "
                 f"{'in ' + room if room else 'by video'}")
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
