"""Scheduled jobs, each test on SQLite and on PostgreSQL (../shared/FEEDS.md, 'Jobs'): one
process runs them (the database's lock), the weekly draft fires once under a frozen clock with
two service processes, and every job is idempotent: the draft, feeds for a version published
elsewhere, cancelled events dropped after ``feeds.cancelled_days``, and SQLite backups."""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from scheduler.jobs import (
    ScheduledJobs,
    backup_sqlite,
    draft_next_weeks,
    expire_cancelled_events,
    refresh_published_feeds,
)
from scheduler.service.feeds import regenerate as regenerate_feeds
from scheduler.service.weekly import next_week_start
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.storage.tables import AuditEntry, FeedBody, Job, ScheduleRow
from scheduler.usecases import plan_week
from scheduler.validate import validate_scenario
from scheduler.worker import run_job
from solver import Options
from tests.test_feeds_http import prepare, ready, server
from tests.test_service import small_clinic

NEW_YORK = ZoneInfo("America/New_York")
THURSDAY_7AM = datetime(2026, 12, 3, 7, 0, tzinfo=NEW_YORK)
"""The draft's time in the tests: the small clinic's week starts Monday 2026-12-07."""
FROZEN = ("import sys, datetime, time_machine; "
          "time_machine.travel(datetime.datetime.fromisoformat(sys.argv[1]), tick=False).start(); "
          "from scheduler.cli import main; sys.exit(main(sys.argv[2:]))")
"""``chairtime`` under a clock stopped at argv[1] (time-machine: every clock but the monotonic)."""


def clinic_only(url: str) -> None:
    engine = connect(url)
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        repo.add_clinic(session, "small", validate_scenario(small_clinic()))
    engine.dispose()


def count(url: str, query: object) -> int:
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        found = session.scalar(query)  # type: ignore[call-overload]
    engine.dispose()
    return int(found or 0)


# ----------------------------------------------------------------------------- one process
def test_the_weekly_draft_fires_once_under_a_frozen_clock_with_two_service_processes(
        database_url: str, tmp_path: Path) -> None:
    prepare(database_url)  # a published week, which the draft must leave alone
    env = {"CHAIRTIME_DRAFT_DAY": "thu", "CHAIRTIME_DRAFT_TIME": "07:00",
           "CHAIRTIME_JOBS_TIMEZONE": "America/New_York"}
    launcher = [sys.executable, "-c", FROZEN, THURSDAY_7AM.isoformat()]
    with server(database_url, tmp_path, env, launcher, wait=False) as (base_a, a, log_a), \
            server(database_url, tmp_path, env, launcher, wait=False) as (base_b, b, log_b):
        ready(base_a, a)
        ready(base_b, b)
        done = select(func.count()).select_from(Job).where(Job.status == "done")
        deadline = time.monotonic() + 90
        while count(database_url, done) < 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)  # room for a second firing, were there one
        engine = connect(database_url)
        with session_scope(sessions(engine)) as session:
            jobs = session.scalars(select(Job)).all()
            assert [(j.id, j.kind, j.status) for j in jobs] == [
                ("week-1-20261207", "solve", "done")]
            schedules = session.scalars(select(ScheduleRow).order_by(ScheduleRow.id)).all()
            assert [s.status for s in schedules] == ["published", "draft"]  # not published
            assert schedules[1].id == jobs[0].result_schedule_id
            assert repo.published(session, 1).id == schedules[0].id
            stored = session.execute(text(
                "SELECT next_run_time FROM apscheduler_jobs WHERE id = 'weekly-draft'")).scalar()
            assert stored == (THURSDAY_7AM + timedelta(days=7)).timestamp()  # next week's
        engine.dispose()
    logs = [log_a.read_text(encoding="utf-8"), log_b.read_text(encoding="utf-8")]
    assert sorted("scheduled jobs: " in log for log in logs) == [False, True]
    assert sorted("another process runs the scheduled jobs" in log for log in logs) == [
        False, True]
    assert sum(log.count("solve of the week of 2026-12-07 queued") for log in logs) == 1


def test_one_process_holds_the_jobs_and_another_takes_over_when_it_stops(
        database_url: str, tmp_path: Path) -> None:
    engine_a, engine_b = connect(database_url), connect(database_url)  # as two processes
    upgrade(engine_a)
    settings = Settings(data_dir=tmp_path, database_url=database_url,
                        jobs_timezone="America/New_York")
    first, second = ScheduledJobs(engine_a, settings), ScheduledJobs(engine_b, settings, 0.2)
    try:
        assert first.start() is True
        assert second.start() is False
        assert first.scheduler is not None
        jobs = {j.id: j for j in first.scheduler.get_jobs()}
        sqlite = make_url(database_url).get_backend_name() == "sqlite"
        assert set(jobs) == {"weekly-draft", "refresh-feeds", "outbox", "expire-cancelled",
                             *(["backup"] if sqlite else [])}
        for job in jobs.values():
            assert (job.coalesce, job.max_instances) == (True, 1)
            assert job.misfire_grace_time >= 60
            assert job.func.__module__ == "scheduler.jobs"  # module-level: stored by reference
        planned = jobs["weekly-draft"].next_run_time
        first.stop()
        deadline = time.monotonic() + 10
        while not second.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert second.running
        assert second.scheduler is not None
        kept = second.scheduler.get_job("weekly-draft")
        assert kept.next_run_time == planned  # the stored next run, not one computed anew
    finally:
        first.stop()
        second.stop()
        engine_a.dispose()
        engine_b.dispose()


# ----------------------------------------------------------------------------- each job
def test_the_weekly_draft_queues_next_week_once_and_publishes_nothing(database_url: str) -> None:
    clinic_only(database_url)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tick=False):
        first = draft_next_weeks(database_url, workers=1, time_limit=2)
        again = draft_next_weeks(database_url, workers=1, time_limit=2)
    assert (first, again) == (["week-1-20261214"], [])
    engine = connect(database_url)
    factory = sessions(engine)
    with session_scope(factory) as session:
        version = repo.scenario_version(session, 1)
        assert (version.number, version.data["horizon"]["start"]) == (2, "2026-12-14")
        assert repo.job(session, "week-1-20261214").params["scenario_version"] == 2
        assert repo.claim_job(session, "week-1-20261214")
    run_job(database_url, "week-1-20261214")  # as the job runner does
    with session_scope(factory) as session:
        job = repo.job(session, "week-1-20261214")
        assert job.status == "done", job.error
        draft = repo.schedule_row(session, job.result_schedule_id or 0)
        assert draft.status == "draft"
        assert min(a.start_at for a in draft.appointments).date() >= date(2026, 12, 14)
        assert session.scalar(select(func.count()).select_from(ScheduleRow).where(
            ScheduleRow.status == "published")) == 0
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.user_id.is_(None)).order_by(AuditEntry.id)).all()
        assert actions[-3:] == ["change", "queue", "create"]  # horizon, job, draft: audited
    engine.dispose()


def test_next_week_starts_on_the_clinics_own_weekday() -> None:
    monday, sunday = date(2026, 12, 7), date(2026, 12, 6)
    assert next_week_start(monday, date(2026, 12, 3)) == date(2026, 12, 7)  # a Thursday
    assert next_week_start(monday, date(2026, 12, 7)) == date(2026, 12, 14)  # a Monday
    assert next_week_start(sunday, date(2026, 12, 3)) == date(2026, 12, 6)


def _published(url: str, cancel_first: bool = False, feeds: bool = True) -> str:
    """Publish a solved week of the small clinic (without its first appointment); returns
    the appointment id of that first one."""
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        version = repo.scenario_version(session, 1)
        planned = plan_week(repo.scenario_of(version),
                            Options(time_limit=2, workers=1, soft_goals=False))
        schedule = planned.schedule
        first = schedule.appointments[0].id
        if cancel_first:
            schedule = schedule.model_copy(update={"appointments": schedule.appointments[1:]})
        row = repo.add_schedule(session, 1, version, schedule)
        repo.publish(session, row, row.row_version)
        if feeds:
            regenerate_feeds(session, 1, datetime.now(UTC))
    engine.dispose()
    return first


def _bodies(url: str) -> dict[tuple[str, str], tuple[bytes, str, datetime]]:
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        found = {(b.kind, b.subject): (b.body, b.etag, b.last_modified)
                 for b in session.scalars(select(FeedBody))}
    engine.dispose()
    return found


def test_feeds_of_a_version_published_elsewhere_are_rendered_once(database_url: str) -> None:
    clinic_only(database_url)
    _published(database_url, feeds=False)  # as a publish outside the API would leave it
    assert _bodies(database_url) == {}
    assert refresh_published_feeds(database_url) == ["1"]
    rendered = _bodies(database_url)
    assert {("clinic", ""), ("patient", "P01"), ("staff", "N1"), ("room", "R1")} <= set(rendered)
    assert refresh_published_feeds(database_url) == []
    assert _bodies(database_url) == rendered


def test_cancelled_events_go_after_cancelled_days_and_not_before(database_url: str) -> None:
    clinic_only(database_url)
    _published(database_url)
    gone = _published(database_url, cancel_first=True)
    engine = connect(database_url)
    with session_scope(sessions(engine)) as session:
        state = repo.feed_state(session, 1)
        assert state is not None and state.events[gone]["status"] == "CANCELLED"
        patient = state.events[gone]["appointment"]["patient"]
    before = _bodies(database_url)
    assert b"STATUS:CANCELLED" in before[("patient", patient)][0]
    start = datetime.now(UTC)
    with time_machine.travel(start + timedelta(days=13), tick=False):
        assert expire_cancelled_events(database_url) == []
    assert _bodies(database_url) == before
    with time_machine.travel(start + timedelta(days=15), tick=False):
        assert expire_cancelled_events(database_url) == ["1"]
        assert expire_cancelled_events(database_url) == []  # idempotent
    after = _bodies(database_url)
    body, etag, modified = after[("patient", patient)]
    assert b"STATUS:CANCELLED" not in body and b"BEGIN:VCALENDAR" in body
    assert etag != before[("patient", patient)][1]
    assert modified >= start + timedelta(days=15) - timedelta(seconds=1)
    unchanged = [k for k in after if k[0] == "patient" and k[1] != patient]
    assert all(after[k] == before[k] for k in unchanged)
    with session_scope(sessions(engine)) as session:
        state = repo.feed_state(session, 1)
        assert state is not None and gone not in state.events
    engine.dispose()


def test_nightly_sqlite_backup_is_online_and_kept_n_days(database_url: str, tmp_path: Path
                                                         ) -> None:
    clinic_only(database_url)
    folder = tmp_path / "backups"
    if make_url(database_url).get_backend_name() != "sqlite":
        assert backup_sqlite(database_url, str(folder), 3) is None  # pg_dump's business
        assert not folder.exists()
        return
    today = datetime.now(UTC).date()
    folder.mkdir()
    for age in range(1, 6):
        (folder / f"chairtime-{today - timedelta(days=age):%Y-%m-%d}.db").write_bytes(b"old")
    engine = connect(database_url)
    with engine.connect() as reader:  # a reader holds the database open meanwhile
        reader.execute(text("SELECT count(*) FROM clinics"))
        target = backup_sqlite(database_url, str(folder), 3)
    engine.dispose()
    assert target == folder / f"chairtime-{today:%Y-%m-%d}.db"
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT slug FROM clinics").fetchall() == [("small",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == [f"chairtime-{today - timedelta(days=age):%Y-%m-%d}.db" for age in (2, 1, 0)]
    assert backup_sqlite(database_url, str(folder), 3) == target  # again: replaced, not added
    assert len(list(folder.iterdir())) == 3
