"""Schedules: drafts and published versions; a draft's edits (cancel, move, place a session),
"why not here?", and publishing with the feeds in the same transaction.

Every edit of a draft is the same sequence (:func:`_edit`): read the row and the scenario it
was made from, run the use case (the independent checker judges it), store the result under
the version the caller read (a 409 when someone wrote first), audit it, commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.documents import Appointment, Change, ChangeList, Schedule
from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.model import Scenario
from scheduler.service import feeds
from scheduler.storage import repo
from scheduler.storage.tables import ScheduleRow, User, now
from scheduler.usecases import (
    cancel_appointment,
    diff_schedules,
    move_appointment,
    place_session,
    try_placement,
)

__all__ = ["Draft", "cancel", "changes", "diff", "document", "move", "pick", "place", "publish",
           "published", "row", "rows", "scenario_of", "why_not"]


def row(session: Session, schedule_id: int, clinic_id: int | None = None) -> ScheduleRow:
    """Schedule ``schedule_id`` (of ``clinic_id`` when given: another clinic's is NotFound)."""
    found = repo.schedule_row(session, schedule_id)
    if clinic_id is not None and found.clinic_id != clinic_id:
        raise NotFound("schedule", str(schedule_id))
    return found


def rows(session: Session, clinic_id: int) -> list[ScheduleRow]:
    """The clinic's drafts and published versions, oldest first."""
    return repo.schedules(session, repo.clinic(session, clinic_id).id)


def published(session: Session, clinic_id: int) -> ScheduleRow:
    """The clinic's latest published version (NotFound when none is)."""
    return repo.published(session, repo.clinic(session, clinic_id).id)


def document(found: ScheduleRow) -> Schedule:
    """The row as contract v1's schedule."""
    return repo.to_schedule(found)


def scenario_of(session: Session, found: ScheduleRow) -> Scenario:
    """The scenario the schedule was made from."""
    return repo.scenario_for(session, found)


def changes(found: ScheduleRow) -> list[Change]:
    """A re-plan's changes against the schedule it was made from (empty for a solve)."""
    return [Change.model_validate(c) for c in found.changes or []]


def pick(session: Session, clinic_id: int, wanted: int | None) -> ScheduleRow | None:
    """The schedule asked for; else the newest draft not older than the last published
    version; else the last published; else none."""
    if wanted is not None:
        return row(session, wanted, clinic_id)
    found = repo.schedules(session, clinic_id)
    if not found:
        return None
    done = [r for r in found if r.status == "published"]
    drafts = [r for r in found if r.status == "draft" and (not done or r.id > done[-1].id)]
    return (drafts or done or found)[-1]


def diff(session: Session, schedule_id: int, other_id: int) -> ChangeList:
    """What changed from one schedule to another of the same clinic."""
    before, after = row(session, schedule_id), row(session, other_id)
    if before.clinic_id != after.clinic_id:
        raise InvalidInput([Issue("other_id", f"schedule {other_id} is of another clinic")])
    return diff_schedules(document(before), document(after))


# ----------------------------------------------------------------------------- edits
class Draft:
    """A draft read for an edit: its row, the scenario it was made from, the schedule."""

    def __init__(self, session: Session, schedule_id: int) -> None:
        self.row = row(session, schedule_id)
        if self.row.status != "draft":
            raise Conflict(f"schedule {self.row.id} is published: solve or re-plan for a "
                           "draft to edit")
        self.scenario = scenario_of(session, self.row)
        self.schedule = document(self.row)


def _appointment(schedule: Schedule, ref: str) -> Appointment:
    return next(a for a in schedule.appointments if a.id == ref)


def _edit(session: Session, schedule_id: int, version: int, by: User, action: str,
          change: Callable[[Draft], Schedule],
          audited: Callable[[Schedule, Schedule], tuple[Any, Any]]) -> ScheduleRow:
    """Read the draft, ``change`` it (a use case), store it under ``version`` (Conflict when
    someone wrote first), audit ``action`` with what ``audited`` picks before and after."""
    draft = Draft(session, schedule_id)
    edited = change(draft)
    before, after = audited(draft.schedule, edited)
    repo.replace_schedule(session, draft.row, edited, version, by, action, before, after)
    session.commit()
    return draft.row


def cancel(session: Session, schedule_id: int, ref: str, reason: str, version: int,
           by: User) -> ScheduleRow:
    """Appointment ``ref`` cancelled; its session is listed as unplaced with ``reason``."""
    return _edit(session, schedule_id, version, by, "cancel appointment",
                 lambda d: cancel_appointment(d.scenario, d.schedule, ref, reason),
                 lambda old, new: (_appointment(old, ref).model_dump(mode="json"), None))


def move(session: Session, schedule_id: int, ref: str, start: datetime, room: str | None,
         staff: dict[str, str] | None, version: int, by: User) -> ScheduleRow:
    """Appointment ``ref`` at ``start`` (in ``room``, with ``staff`` when given), or the
    checker's words (InvalidInput) when that breaks a hard rule."""
    return _edit(session, schedule_id, version, by, "move appointment",
                 lambda d: move_appointment(d.scenario, d.schedule, ref, start, room, staff),
                 lambda old, new: (_appointment(old, ref).model_dump(mode="json"),
                                   _appointment(new, ref).model_dump(mode="json")))


def _added(old: Schedule, new: Schedule) -> Appointment:
    known = {a.id for a in old.appointments}
    return next(a for a in new.appointments if a.id not in known)


def place(session: Session, schedule_id: int, patient: str, start: datetime, room: str,
          staff: dict[str, str] | None, version: int, by: User) -> ScheduleRow:
    """One more session of ``patient``, refused with the checker's words unless it fits."""
    return _edit(session, schedule_id, version, by, "place session",
                 lambda d: place_session(d.scenario, d.schedule, patient, start, room, staff),
                 lambda old, new: (None, _added(old, new).model_dump(mode="json")))


def why_not(session: Session, schedule_id: int, patient: str, start: datetime, room: str
            ) -> tuple[Appointment, list[str]]:
    """The session ``patient`` would have at ``start`` in ``room``, and the hard rules it
    would break (empty: it fits). Nothing is stored."""
    found = row(session, schedule_id)
    before = document(found)
    candidate, problems = try_placement(scenario_of(session, found), before, patient, start,
                                        room)
    return _added(before, candidate), problems


def publish(session: Session, schedule_id: int, version: int, by: User,
            clinic_id: int | None = None) -> ScheduleRow:
    """A draft as the clinic's next published version with its calendar feeds, all or
    nothing: if anything fails before the commit, the last published version stays."""
    published_row = repo.publish(session, row(session, schedule_id, clinic_id), version, by)
    feeds.regenerate(session, published_row.clinic_id, now())
    session.commit()
    return published_row
