"""Whom to tell about a schedule's changes: the patients whose date or time moved (or whose
session was booked or cancelled) first, each with the old and new time in the clinic's local
time and their contact; then the staff whose day changed (who, which day, what); then the rest,
room or staff swaps a patient need not hear about. The input of notifications.

A re-plan's draft has its stored changes; a published version made by a direct edit or an undo
has none stored, so its changes are those against the version it replaced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from scheduler.documents import Appointment, Change
from scheduler.errors import NotFound
from scheduler.model import PatientSpec, Scenario
from scheduler.storage import repo
from scheduler.storage.tables import ScheduleRow
from scheduler.usecases import diff_schedules

__all__ = ["PatientNotice", "StaffNotice", "WhomToTell", "group_changes", "whom_to_tell"]

NO_CONTACT = "no contact on file"
LAST = datetime.max.replace(tzinfo=UTC)


class PatientNotice(BaseModel):
    """A patient to tell: their session moved to another date or time, was booked or was
    cancelled. Times are the clinic's local time."""

    appointment: str
    patient: str
    name: str | None
    contact: str | None
    """How to reach the patient (phone or e-mail from the scenario); None: no contact on file."""
    what: Literal["moved", "booked", "cancelled"]
    before: datetime | None
    after: datetime | None
    room_before: str | None = None
    room_after: str | None = None
    """The rooms (ids; None for a video session, or none before or after)."""
    reason: str


class StaffNotice(BaseModel):
    """A staff member whose day changed: a session of theirs moved, was taken over by someone
    else, given to them, booked or cancelled."""

    staff: str
    name: str | None
    day: date
    """The day that changed for them (the session's old day where they had it, else its new)."""
    appointment: str
    patient: str
    what: str
    """In a clerk's words, by names, in the clinic's local time."""


class WhomToTell(BaseModel):
    """A schedule's changes grouped by whom they concern, patients first."""

    schedule_id: int
    patients: list[PatientNotice]
    staff: list[StaffNotice]
    rest: list[Change]
    """Changes no patient need hear about: the same time, another room or other staff."""


def _contact(spec: PatientSpec | None) -> str | None:
    """The patient's contact, when the scenario holds one (``contact``: phone, e-mail)."""
    contact = spec.contact if spec is not None else None
    found = [v for v in (contact.phone, contact.email) if v] if contact is not None else []
    return ", ".join(found) or None


def _moved(c: Change) -> bool:
    return (c.before is None or c.after is None
            or (c.before.start, c.before.end) != (c.after.start, c.after.end))


def _when(a: Appointment, scenario: Scenario) -> str:
    return f"{a.start.astimezone(scenario.tz):%a %d %b %H:%M}"


def _staff_notices(c: Change, scenario: Scenario, people: dict[str, str | None],
                   patient: str) -> list[StaffNotice]:
    """One notice for each person whose day this change alters."""
    had = set(c.before.staff.values()) if c.before else set()
    has = set(c.after.staff.values()) if c.after else set()
    moved = _moved(c)
    out = []

    def name(sid: str) -> str:
        return people.get(sid) or sid

    for sid in sorted(had | has):
        if sid in had and sid in has and not moved:
            continue  # the same session at the same time: only the room changed for them
        if c.before and c.after and sid in had and sid in has:
            what = (f"{patient}'s session moves from {_when(c.before, scenario)} to "
                    f"{_when(c.after, scenario)}")
        elif c.before and sid in had:
            what = f"no longer has {patient}'s session of {_when(c.before, scenario)}"
            if c.after is None:
                what += " (cancelled)"
            else:
                now_with = ", ".join(name(s) for s in sorted(has))
                what += f" (now {now_with}" + (f", at {_when(c.after, scenario)})" if moved
                                                else ")")
        else:
            assert c.after is not None
            was = ", ".join(name(s) for s in sorted(had)) if c.before else ""
            what = (f"takes {patient}'s session of {_when(c.after, scenario)}"
                    + (f" from {was}" if was else " (newly booked)"))
        first = c.before if c.before is not None and sid in had else c.after
        assert first is not None
        out.append(StaffNotice(staff=sid, name=people.get(sid), day=first.start.astimezone(
            scenario.tz).date(), appointment=c.id, patient=c.patient or first.patient,
            what=what))
    return out


def group_changes(schedule_id: int, scenario: Scenario, changes: list[Change]) -> WhomToTell:
    """``changes`` grouped by whom to tell: patients whose date or time moved (soonest first,
    by their old time), the staff whose day changed (by person and day), then the rest."""
    specs = {p.id: p for p in scenario.patients}
    people = {s.id: s.name for s in scenario.staff}
    patients, staff, rest = [], [], []
    for c in changes:
        either = c.before or c.after
        if either is None:
            continue
        pid = c.patient or either.patient
        spec = specs.get(pid)
        label = (spec.name if spec is not None and spec.name else None) or pid
        if _moved(c):
            what: Literal["moved", "booked", "cancelled"] = (
                "booked" if c.before is None else "cancelled" if c.after is None else "moved")
            patients.append(PatientNotice(
                appointment=c.id, patient=pid, name=spec.name if spec else None,
                contact=_contact(spec), what=what,
                before=c.before.start.astimezone(scenario.tz) if c.before else None,
                after=c.after.start.astimezone(scenario.tz) if c.after else None,
                room_before=c.before.room if c.before else None,
                room_after=c.after.room if c.after else None,
                reason=c.reason))
        else:
            rest.append(c)
        staff.extend(_staff_notices(c, scenario, people, label))
    patients.sort(key=lambda n: (n.before or n.after or LAST, n.patient))
    staff.sort(key=lambda n: (n.staff, n.day, n.appointment))
    return WhomToTell(schedule_id=schedule_id, patients=patients, staff=staff, rest=rest)


def _changes(session: Session, found: ScheduleRow) -> list[Change]:
    if found.changes:
        return [Change.model_validate(c) for c in found.changes]
    if found.status == "published" and found.made_from_id is not None:
        earlier = repo.schedule_row(session, found.made_from_id)
        return diff_schedules(repo.to_schedule(earlier), repo.to_schedule(found))
    return []


def whom_to_tell(session: Session, schedule_id: int, clinic_id: int | None = None
                 ) -> WhomToTell:
    """Schedule ``schedule_id``'s changes (of ``clinic_id`` when given: another clinic's is
    NotFound) grouped by whom to tell."""
    found = repo.schedule_row(session, schedule_id)
    if clinic_id is not None and found.clinic_id != clinic_id:
        raise NotFound("schedule", str(schedule_id))
    return group_changes(found.id, repo.scenario_for(session, found), _changes(session, found))
