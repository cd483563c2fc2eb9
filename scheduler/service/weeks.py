"""Week after week: which schedule the board shows for a week, planning a week from the rolling
solve, and the front desk's attendance marks.

A week is named by its first day (the weekday the clinic's horizon starts on). Each schedule
belongs to the week its scenario version was planned for; a week's published schedule is its
latest published version. The clinic's latest published version (the live schedule) is the
newest week's; the weeks before it are history, read-only, and stay in patients' calendars
(``feeds.regenerate``).

A week is planned from the rolling solve (``scheduler.usecases.roll``): the live schedule's
sessions before the week are folded into the patients' course history, except those the desk
marked no-show (``roll --missed``: the course continues without them), and the week is solved
into a draft, which a person publishes.

Marks (arrived, completed, no-show) are kept by appointment ref: a ref is stable across the
live schedule's versions (a move keeps it) and, by the roll's numbering, unique across weeks.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.documents import Schedule
from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.service import jobs
from scheduler.service.jobs import JobParams
from scheduler.storage import repo
from scheduler.storage.tables import (
    MARKS,
    AppointmentRow,
    Job,
    ScenarioVersion,
    ScheduleRow,
    User,
    now,
)
from scheduler.usecases.roll import RollOptions, roll_scenario

__all__ = ["MARKS", "MarkCounts", "WeekView", "attendance", "counts", "first_day", "mark",
           "no_shows", "plan", "view", "week_counts", "week_of", "week_start"]

log = logging.getLogger(__name__)

LABELS = {"arrived": "arrived", "completed": "completed", "no_show": "no-show"}


def week_start(first: date, day: date) -> date:
    """The first day of the clinic's week holding ``day``, when its weeks start on
    ``first``'s weekday.

    >>> week_start(date(2026, 12, 7), date(2026, 12, 17))  # Mondays; a Thursday
    datetime.date(2026, 12, 14)
    """
    return day - timedelta(days=(day.weekday() - first.weekday()) % 7)


@dataclass
class WeekView:
    """What the board shows for one week."""

    week: date
    row: ScheduleRow | None
    """The week's schedule: its newest draft made from the live schedule, else its published
    schedule, else None (not planned yet)."""
    live: ScheduleRow | None
    live_week: date | None
    today: date
    """The clinic's today: days before it are past (read-only)."""
    plan_refused: str | None = None
    """Why the week cannot be planned (None: a button plans it)."""
    history: bool = False
    """The week is before the live schedule's: its published schedule is read-only."""
    stale_plan: bool = False
    """The week had a draft made before the live schedule last changed (superseded)."""

    @property
    def previous(self) -> date:
        return self.week - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.week + timedelta(days=7)


def _clinic_today(tz: ZoneInfo, when: datetime) -> date:
    return when.astimezone(tz).date()


def first_day(session: Session, clinic_id: int, day: date) -> date:
    """The first day of the clinic's week holding ``day``: its weeks start on the weekday of
    the live schedule's week (else of its latest planned week)."""
    weeks = repo.version_weeks(session, clinic_id)
    live = repo.latest_published(session, clinic_id)
    live_week = weeks.get(live.scenario_version_id) if live is not None else None
    anchor = live_week or next(iter(sorted(weeks.values(), reverse=True)), day)
    return week_start(anchor, day)


def week_of(session: Session, row: ScheduleRow) -> date | None:
    """The first day of the week schedule ``row`` was planned for."""
    return repo.week_of(session, row)


def view(session: Session, clinic_id: int, week: date, tz: ZoneInfo,
         when: datetime | None = None) -> WeekView:
    """The board's week ``week`` (any day of it: the week holding it), as of ``when`` (the
    caller's now: ``Settings.now()``; else the real time)."""
    when = when if when is not None else now()
    weeks = repo.version_weeks(session, clinic_id)
    live = repo.latest_published(session, clinic_id)
    live_week = weeks.get(live.scenario_version_id) if live is not None else None
    week = first_day(session, clinic_id, week)
    mine = [r for r in repo.schedules(session, clinic_id)
            if weeks.get(r.scenario_version_id) == week]
    current = live.id if live is not None else None
    drafts = [r for r in mine if r.status == "draft" and r.made_from_id == current]
    published = [r for r in mine if r.status == "published"]
    row = drafts[-1] if drafts else (max(published, key=lambda r: r.number or 0)
                                     if published else None)
    out = WeekView(week, row, live, live_week, _clinic_today(tz, when),
                   history=live_week is not None and week < live_week)
    if row is None:
        out.stale_plan = any(r.status == "draft" for r in mine)
        out.plan_refused = _refusal(week, live_week, tz, when)
    return out


def _refusal(week: date, live_week: date | None, tz: ZoneInfo, when: datetime
             ) -> str | None:
    """Why week ``week`` cannot be planned at ``when``, or None."""
    if live_week is not None and week <= live_week:
        return (f"the week of {live_week:%d %B %Y} is published: a week before it is not "
                "planned afterwards")
    if datetime.combine(week, time(0), tz) <= when:
        return (f"the week of {week:%d %B %Y} has begun: a week is planned before it starts "
                "(re-plan the published week for changes within it)")
    return None


def plan(session: Session, clinic_id: int, week: date, params: JobParams, by: User,
         cap: int | None = None, when: datetime | None = None) -> Job:
    """Queue a solve of week ``week`` from the rolling solve: the live schedule's sessions
    before it folded into the course history (those marked no-show left out, as missed), its
    sessions inside the week kept as fixed; nothing published yet: the clinic's data planned
    for that week. A Conflict (nothing queued) when the week cannot be planned at ``when``
    (the caller's now: ``Settings.now()``; else the real time)."""
    when = when if when is not None else now()
    clinic = repo.clinic(session, clinic_id)
    latest = repo.scenario_version(session, clinic_id)
    tz = repo.scenario_of(latest).tz
    weeks = repo.version_weeks(session, clinic_id)
    live = repo.latest_published(session, clinic_id)
    live_week = weeks.get(live.scenario_version_id) if live is not None else None
    week = week_start(live_week or weeks.get(latest.id) or week, week)
    refused = _refusal(week, live_week, tz, when)
    if refused is not None:
        raise Conflict(f"not planned: {refused}")
    version: ScenarioVersion
    if live is None:
        if weeks.get(latest.id) == week:
            version = latest
        else:
            version = repo.add_scenario_version(session, clinic, {
                **latest.data, "horizon": {**latest.data["horizon"], "start": week.isoformat()}},
                by)
    else:
        # the clinic's data as it stands, unless it is already rolled on past the live week
        base = (latest if weeks.get(latest.id) == live_week
                else repo.scenario_version_of(session, live))
        previous = repo.to_schedule(live)
        missed = no_shows(session, clinic_id, previous, datetime.combine(week, time(0), tz))
        try:
            rolled = roll_scenario(base.data, previous, RollOptions(
                start=week, now=when, missed=missed,
                where=f"published version {live.number}"))
        except InvalidInput as exc:
            raise InvalidInput([Issue(f"week: {i.path}", i.message) for i in exc.issues]
                               ) from exc
        version = repo.add_scenario_version(session, clinic, rolled.data, by)
        log.info("clinic %d: published version %s rolled into the week of %s (%d sessions into "
                 "history, %d kept, %d missed)", clinic_id, live.number, week,
                 sum(map(len, rolled.folded.values())), len(rolled.kept), len(missed))
    return jobs.queue(session, clinic_id, "solve", params.model_copy(update={
        "scenario_version": version.number, "week": week}), by, cap=cap)


# ----------------------------------------------------------------------------- attendance
def attendance(session: Session, clinic_id: int, schedule: Schedule) -> dict[str, str]:
    """The marks of ``schedule``'s sessions by ref (a mark holds while its ref is still the
    same patient's session)."""
    patients = {a.id: a.patient for a in schedule.appointments}
    return {ref: m.mark for ref, m in repo.marks(session, clinic_id, list(patients)).items()
            if patients.get(ref) == m.patient}


def no_shows(session: Session, clinic_id: int, schedule: Schedule, before: datetime
             ) -> tuple[str, ...]:
    """The refs of ``schedule``'s sessions before ``before`` marked no-show: a roll's
    ``missed`` (they are not folded into the course history)."""
    marked = attendance(session, clinic_id, schedule)
    return tuple(a.id for a in schedule.appointments
                 if marked.get(a.id) == "no_show" and a.start < before)


@dataclass(frozen=True)
class MarkCounts:
    """A week's sessions by attendance."""

    arrived: int = 0
    completed: int = 0
    no_show: int = 0
    unmarked: int = 0
    by_patient: dict[str, str] = field(default_factory=dict)

    @property
    def attended(self) -> int:
        return self.arrived + self.completed


def counts(schedule: Schedule, marked: dict[str, str]) -> MarkCounts:
    """How many of ``schedule``'s sessions arrived, completed, did not show, are unmarked."""
    seen = Counter(marked.get(a.id, "") for a in schedule.appointments)
    return MarkCounts(seen["arrived"], seen["completed"], seen["no_show"], seen[""])


def week_counts(session: Session, clinic_id: int, schedule_ids: list[int]
                ) -> dict[int, MarkCounts]:
    """The attendance of each of the published schedules ``schedule_ids`` (the clinic's)."""
    out = {}
    for schedule_id in schedule_ids:
        row = repo.schedule_row(session, schedule_id)
        if row.clinic_id == clinic_id:
            schedule = repo.to_schedule(row)
            out[schedule_id] = counts(schedule, attendance(session, clinic_id, schedule))
    return out


def _published_session(session: Session, clinic_id: int, ref: str) -> AppointmentRow:
    """Session ``ref`` as its week's published schedule has it (NotFound: no such session in
    the clinic's published weeks, another clinic's included)."""
    rows = [r.id for r in repo.published_by_week(session, clinic_id).values()]
    found = session.scalars(select(AppointmentRow).where(
        AppointmentRow.schedule_id.in_(rows), AppointmentRow.ref == ref)
        .order_by(AppointmentRow.schedule_id.desc())).first() if rows else None
    if found is None:
        raise NotFound(f"published appointment of clinic {clinic_id}", ref)
    return found


def mark(session: Session, clinic_id: int, ref: str, value: str | None, by: User
         ) -> tuple[AppointmentRow, str | None]:
    """Mark published session ``ref`` arrived, completed or no-show (None: clear its mark),
    audited. A mark is kept by ref: later versions of the week keep it while the ref is the
    same patient's session."""
    repo.clinic(session, clinic_id)
    if value is not None and value not in MARKS:
        raise InvalidInput([Issue("mark", f"{value!r}: one of {', '.join(MARKS)}, or null to "
                                          "clear the mark")])
    found = _published_session(session, clinic_id, ref)
    repo.set_mark(session, clinic_id, ref, found.patient, value, by)
    session.commit()
    return found, value
