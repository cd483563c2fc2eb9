"""Next week's draft, queued once per clinic and week by the scheduled job: the clinic's
scenario rolled on to the new week first (the published week's sessions into the course
history), then a solve queued."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, NotFound
from scheduler.model import Scenario
from scheduler.service.jobs import JobParams
from scheduler.service.weeks import no_shows
from scheduler.storage import repo
from scheduler.storage.tables import ScenarioVersion, now
from scheduler.usecases.roll import RollOptions, roll_scenario

__all__ = ["draft_next_week", "next_week_start", "weekly_job_id"]

log = logging.getLogger(__name__)


def next_week_start(start: date, today: date) -> date:
    """The first day after ``today`` that falls on the weekday the clinic's weeks start on
    (its scenario's ``horizon.start``).

    >>> next_week_start(date(2026, 12, 7), date(2026, 12, 10))  # weeks start Mondays; a Thu
    datetime.date(2026, 12, 14)
    """
    return today + timedelta(days=(start.weekday() - today.weekday()) % 7 or 7)


def weekly_job_id(clinic_id: int, week: date) -> str:
    return f"week-{clinic_id}-{week:%Y%m%d}"


def draft_next_week(session: Session, clinic_id: int, workers: int, time_limit: float,
                    when: datetime | None = None) -> str | None:
    """Queue a solve of next week for the clinic, once per week (the job's id names both, so
    a second run finds it and does nothing); when the clinic's scenario is for another week, it
    rolls on to next week first (:func:`_roll_on`). Next week is the one after ``when`` (the
    caller's now: ``Settings.now()``; else the real time). Returns the id of the job queued."""
    when = when if when is not None else now()
    version = repo.scenario_version(session, clinic_id)
    scenario = repo.scenario_of(version)
    today = when.astimezone(ZoneInfo(scenario.clinic.timezone)).date()
    week = next_week_start(scenario.horizon.start, today)
    job_id = weekly_job_id(clinic_id, week)
    try:
        repo.job(session, job_id)
        return None  # queued by an earlier run
    except NotFound:
        pass
    if scenario.horizon.start != week:
        version = _roll_on(session, clinic_id, version.data, scenario, week, when)
    repo.add_job(session, job_id, clinic_id, "solve", JobParams(
        scenario_version=version.number, seed=0, workers=workers, time_limit=time_limit,
        week=week).stored())
    log.info("clinic %d: solve of the week of %s queued (job %s)", clinic_id, week, job_id)
    return job_id


def _roll_on(session: Session, clinic_id: int, given: dict[str, Any], scenario: Scenario,
             week: date, when: datetime) -> ScenarioVersion:
    """A new scenario version for the week of ``week``: the latest published schedule's
    sessions before it folded into the patients' course history (not those the desk marked
    no-show: they are missed), those from it on kept as fixed (``scheduler.usecases.roll``).
    When nothing is published, or the published version
    is not of the scenario's horizon (a week was skipped), only the horizon moves."""
    clinic = repo.clinic(session, clinic_id)
    try:
        row = repo.published(session, clinic_id)
    except NotFound:
        row = None
    if row is not None and week > scenario.horizon.start:
        previous = repo.to_schedule(row)
        missed = no_shows(session, clinic_id, previous,
                          datetime.combine(week, time(0), scenario.tz))
        try:
            rolled = roll_scenario(given, previous, RollOptions(
                start=week, now=when, missed=missed, where=f"published version {row.number}"))
        except InvalidInput as exc:
            log.warning("clinic %d: published version %s not folded into the history (%s); "
                        "the horizon moves on alone", clinic_id, row.number,
                        "; ".join(map(str, exc.issues)))
        else:
            log.info("clinic %d: published version %s rolled into the week of %s "
                     "(%d sessions into history, %d kept)", clinic_id, row.number, week,
                     sum(map(len, rolled.folded.values())), len(rolled.kept))
            return repo.add_scenario_version(session, clinic, rolled.data)
    data = {**given, "horizon": {**given["horizon"], "start": week.isoformat()}}
    return repo.add_scenario_version(session, clinic, data)
