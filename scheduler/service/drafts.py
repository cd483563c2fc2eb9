"""Schedules: drafts and published versions; a draft's edits (cancel, move, place a session),
"why not here?", and publishing with the feeds in the same transaction.

Every edit of a draft is the same sequence (:func:`_edit`): read the row and the scenario it
was made from, run the use case (the independent checker judges it), store the result under
the version the caller read (a 409 when someone wrote first), audit it, commit.

One truth: the clinic's latest published version is what patients, feeds and the API see. A
draft remembers the published version it was made from (``made_from_id``); once another is
published it is superseded: it can be neither edited nor published (a 409 that says onto which
version to re-plan it).

Direct edits of the live schedule (:func:`live_move`, :func:`live_cancel`, :func:`live_book`,
:func:`undo`): the same use cases judged by the same checker, each stored as the clinic's next
published version made from the one the caller read (a 409 when someone published or changed it
first), with the feeds regenerated, the audit entry and the change notices held
(``scheduler.service.outbox``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.documents import Appointment, Change, ChangeList, Schedule
from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.model import Scenario
from scheduler.naming import Namer
from scheduler.service import feeds, outbox
from scheduler.storage import repo
from scheduler.storage.tables import ScheduleRow, User, now
from scheduler.usecases import (
    cancel_appointment,
    diff_schedules,
    move_appointment,
    place_session,
    try_placement,
)
from scheduler.usecases.check import check_schedule

__all__ = ["Draft", "cancel", "changes", "diff", "document", "judged_against",
           "latest_published", "live_book", "live_cancel", "live_move", "live_scenario", "move",
           "pick", "place", "publish", "published", "row", "rows", "scenario_of", "superseded",
           "undo", "why_not"]


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


def latest_published(session: Session, clinic_id: int) -> ScheduleRow | None:
    """The clinic's latest published version, or None when nothing is published."""
    return repo.latest_published(session, clinic_id)


def superseded(session: Session, found: ScheduleRow) -> ScheduleRow | None:
    """The published version that superseded draft ``found`` (published after the draft was
    made), or None: the draft is current (or ``found`` is published)."""
    return repo.superseded_by(session, found)


def pick(session: Session, clinic_id: int, wanted: int | None) -> ScheduleRow | None:
    """The schedule asked for; else the newest draft made from the latest published version
    (one a later publish superseded is never picked); else the latest published; else none."""
    if wanted is not None:
        return row(session, wanted, clinic_id)
    found = repo.schedules(session, clinic_id)
    if not found:
        return None
    latest = repo.latest_published(session, clinic_id)
    current = latest.id if latest is not None else None
    drafts = [r for r in found if r.status == "draft" and r.made_from_id == current]
    if drafts:
        return drafts[-1]
    return latest if latest is not None else found[-1]


def diff(session: Session, schedule_id: int, other_id: int) -> ChangeList:
    """What changed from one schedule to another of the same clinic (another clinic's is the
    NotFound of a schedule that does not exist: the caller's right to the first says nothing
    of the second)."""
    before = row(session, schedule_id)
    after = row(session, other_id, before.clinic_id)
    return diff_schedules(document(before), document(after))


# ----------------------------------------------------------------------------- edits
class Draft:
    """A draft read for an edit: its row, the scenario it was made from, the schedule."""

    def __init__(self, session: Session, schedule_id: int) -> None:
        self.row = row(session, schedule_id)
        if self.row.status != "draft":
            raise Conflict(f"schedule {self.row.id} is published: edit the live schedule, or "
                           "solve or re-plan for a draft to edit")
        latest = superseded(session, self.row)
        if latest is not None:
            raise Conflict(repo.stale_message(self.row, latest))
        self.scenario = scenario_of(session, self.row)
        self.schedule = document(self.row)


def _named(scenario: Scenario, schedule: Schedule, change: Callable[[], Schedule]) -> Schedule:
    """``change()``, its refusal (InvalidInput: the checker's words) with names for ids:
    "Dana Fischer (N4)", not "N4"."""
    try:
        return change()
    except InvalidInput as exc:
        say = Namer.of(scenario, schedule.appointments)
        raise InvalidInput([Issue(i.path, say(i.message)) for i in exc.issues]) from exc


def _appointment(schedule: Schedule, ref: str) -> Appointment:
    return next(a for a in schedule.appointments if a.id == ref)


def _edit(session: Session, schedule_id: int, version: int, by: User, action: str,
          change: Callable[[Draft], Schedule],
          audited: Callable[[Schedule, Schedule], tuple[Any, Any]]) -> ScheduleRow:
    """Read the draft, ``change`` it (a use case), store it under ``version`` (Conflict when
    someone wrote first), audit ``action`` with what ``audited`` picks before and after."""
    draft = Draft(session, schedule_id)
    edited = _named(draft.scenario, draft.schedule, lambda: change(draft))
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
    would break, in names (empty: it fits). Nothing is stored."""
    found = row(session, schedule_id)
    before = document(found)
    scenario = judged_against(session, found)
    candidate, problems = try_placement(scenario, before, patient, start, room)
    say = Namer.of(scenario, before.appointments)
    return _added(before, candidate), [say(p) for p in problems]


def publish(session: Session, schedule_id: int, version: int, by: User,
            clinic_id: int | None = None) -> ScheduleRow:
    """A draft as the clinic's next published version with its calendar feeds, all or
    nothing: if anything fails before the commit, the last published version stays."""
    draft = row(session, schedule_id, clinic_id)
    before = repo.latest_published(session, draft.clinic_id)
    published_row = repo.publish(session, draft, version, by)
    feeds.regenerate(session, published_row.clinic_id, now())
    outbox.changed(session, published_row.clinic_id, before, published_row)
    session.commit()
    return published_row


# ----------------------------------------------------------------------------- the live schedule
def live_scenario(session: Session, latest: ScheduleRow) -> tuple[Scenario, int]:
    """The scenario a direct edit of published version ``latest`` is judged against, and the
    id of its scenario version (the new published version is stored under it, so ``check``
    of any published version against its own scenario holds): the clinic's current scenario
    version when it plans the same week and the published schedule keeps every hard rule of
    it (a patient added since, a phone number changed: the booking uses today's data), else
    the version the published schedule was made from (the clinic's data moved on to another
    week, or changed so that the week needs a re-plan)."""
    own = scenario_of(session, latest)
    current = repo.scenario_version(session, latest.clinic_id)
    if current.id == latest.scenario_version_id:
        return own, current.id
    newer = repo.scenario_of(current)
    if newer.horizon == own.horizon and not check_schedule(newer, document(latest)):
        return newer, current.id
    return own, latest.scenario_version_id


def judged_against(session: Session, found: ScheduleRow) -> Scenario:
    """The scenario schedule ``found`` is edited and asked about against: for the live one
    (the clinic's latest published version) that of :func:`live_scenario`, else the one it
    was made from."""
    latest = repo.latest_published(session, found.clinic_id)
    if latest is not None and latest.id == found.id:
        return live_scenario(session, found)[0]
    return scenario_of(session, found)


def _live(session: Session, clinic_id: int, number: int, by: User | None, action: str,
          change: Callable[[Scenario, Schedule], Schedule],
          audited: Callable[[Schedule, Schedule], tuple[Any, Any]]) -> ScheduleRow:
    """Read the clinic's latest published version (a Conflict unless it is number ``number``,
    the one the caller read), ``change`` it (a use case the checker judges; InvalidInput with
    its words), and store the result as the next published version made from it, with the
    feeds regenerated and the audit entry, in one transaction."""
    latest = published(session, clinic_id)
    if latest.number != number:
        raise Conflict(f"the published schedule is version {latest.number}, you read version "
                       f"{number}; reload it and try again")
    before = document(latest)
    scenario, version_id = live_scenario(session, latest)
    edited = _named(scenario, before, lambda: change(scenario, before))
    old, new = audited(before, edited)
    stored = repo.publish_edit(session, latest, number, edited, by, action, old, new,
                               version_id)
    feeds.regenerate(session, clinic_id, now())
    outbox.changed(session, clinic_id, latest, stored)
    session.commit()
    return stored


def _unless_past(change: Callable[[Scenario, Schedule], Schedule], ref: str | None,
                 start: datetime | None, when: datetime | None
                 ) -> Callable[[Scenario, Schedule], Schedule]:
    """``change``, refused when it would touch the past as of ``when`` (the caller's now,
    else the real time): session ``ref`` has begun (a 409: the past is read-only), or
    ``start`` is before now (a 422 on ``start``)."""
    def guarded(scenario: Scenario, schedule: Schedule) -> Schedule:
        at = when if when is not None else now()
        a = next((a for a in schedule.appointments if a.id == ref), None)
        if a is not None and a.start < at:
            raise Conflict(f"{ref} began on {a.start.astimezone(scenario.tz):%a %d %b %H:%M}: "
                           "a session in the past is read-only (mark it arrived, completed or "
                           "no-show instead)")
        if start is not None and start.tzinfo is not None and start < at:
            raise InvalidInput([Issue("start", f"{start.astimezone(scenario.tz):%a %d %b %H:%M}"
                                               " is in the past: choose a time from now on")])
        return change(scenario, schedule)
    return guarded


def live_cancel(session: Session, clinic_id: int, ref: str, reason: str, number: int,
                by: User | None, when: datetime | None = None) -> ScheduleRow:
    """Appointment ``ref`` cancelled on the live schedule (published version ``number``): a
    new published version where its session is unplaced with ``reason``; refused when the
    session began before ``when`` (the caller's now: ``Settings.now()``)."""
    return _live(session, clinic_id, number, by, "cancel appointment (live)",
                 _unless_past(lambda scenario, s: cancel_appointment(scenario, s, ref, reason),
                              ref, None, when),
                 lambda old, new: ({"appointment": _appointment(old, ref).model_dump(
                     mode="json"), "reason": reason}, None))


def live_move(session: Session, clinic_id: int, ref: str, start: datetime, room: str | None,
              staff: dict[str, str] | None, number: int, by: User | None,
              when: datetime | None = None) -> ScheduleRow:
    """Appointment ``ref`` of the live schedule moved to ``start`` (``room``, ``staff`` when
    given), or the checker's words (InvalidInput) when that breaks a hard rule; refused when
    the session began, or ``start`` is, before ``when`` (the caller's now)."""
    return _live(session, clinic_id, number, by, "move appointment (live)",
                 _unless_past(lambda scenario, s: move_appointment(scenario, s, ref, start,
                                                                   room, staff), ref, start, when),
                 lambda old, new: (_appointment(old, ref).model_dump(mode="json"),
                                   _appointment(new, ref).model_dump(mode="json")))


def _book(scenario: Scenario, schedule: Schedule, patient: str, start: datetime,
          room: str | None, staff: dict[str, str] | None) -> Schedule:
    """One more session of ``patient`` at ``start``: in ``room`` when given, else in the first
    room (in the scenario's order) with the features the patient's protocol needs where the
    checker accepts it; the staff likewise. InvalidInput with the checker's words (for the room
    it objected to least) when nothing fits."""
    if room:
        return place_session(scenario, schedule, patient, start, room, staff)
    spec = next((p for p in scenario.patients if p.id == patient), None)
    protocol = next((p for p in scenario.protocols if spec and p.id == spec.protocol), None)
    if protocol is not None and protocol.video:  # a video session takes no room
        return place_session(scenario, schedule, patient, start, None, staff)
    rooms = [r.id for r in scenario.rooms
             if protocol is None or set(protocol.room_features) <= set(r.features)]
    if not rooms:
        raise InvalidInput([Issue("room", f"no room of this clinic has what {patient}'s "
                                          "protocol needs")])
    best: InvalidInput | None = None
    for candidate in rooms:
        try:
            return place_session(scenario, schedule, patient, start, candidate, staff)
        except InvalidInput as exc:
            if best is None or len(exc.issues) < len(best.issues):
                best = exc
    assert best is not None
    raise best


def live_book(session: Session, clinic_id: int, patient: str, start: datetime,
              room: str | None, staff: dict[str, str] | None, number: int,
              by: User, when: datetime | None = None) -> ScheduleRow:
    """One more session of ``patient`` on the live schedule (the room and staff picked when not
    given), refused with the checker's words unless it fits, or when ``start`` is before
    ``when`` (the caller's now)."""
    return _live(session, clinic_id, number, by, "book session (live)",
                 _unless_past(lambda scenario, s: _book(scenario, s, patient, start, room,
                                                        staff), None, start, when),
                 lambda old, new: (None, _added(old, new).model_dump(mode="json")))


def undo(session: Session, clinic_id: int, number: int, by: User) -> ScheduleRow:
    """Undo the last change of the live schedule (published version ``number``): a new
    published version equal to the one it replaced (its appointments, unplaced list and
    figures, of the same scenario version), made from the one undone. Any published version
    that replaced another can be undone: a direct edit, a publish (the draft's base comes back),
    or an undo (which redoes the change it undid). The first published version replaced
    nothing: a Conflict."""
    latest = published(session, clinic_id)
    if latest.number != number:
        raise Conflict(f"the published schedule is version {latest.number}, you read version "
                       f"{number}; reload it and try again")
    if latest.made_from_id is None:
        raise Conflict(f"published version {latest.number} replaced no earlier version: "
                       "there is nothing to undo")
    earlier = repo.schedule_row(session, latest.made_from_id)
    stored = repo.publish_edit(session, latest, number, document(earlier), by, "undo",
                               {"number": latest.number},
                               {"restores": earlier.number, "schedule": earlier.id},
                               earlier.scenario_version_id)
    feeds.regenerate(session, clinic_id, now())
    outbox.changed(session, clinic_id, latest, stored)
    session.commit()
    return stored
