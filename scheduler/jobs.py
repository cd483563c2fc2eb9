"""Scheduled jobs (APScheduler 3): entry points over the service layer.

One process runs the jobs: the one that holds the database's ``jobs`` lock
(:func:`scheduler.storage.db.try_lock`); every other service process serves HTTP only and tries
the lock again every ``retry`` seconds, so it takes over when the holder ends. Jobs are stored
in the database (APScheduler's SQLAlchemyJobStore), run one module-level function
(:func:`run_scheduled`) with fixed ids, ``coalesce``, one instance at a time and a chosen
misfire grace, and are idempotent: running one twice does what running it once does.

What APScheduler stores (pickled, in ``apscheduler_jobs``) is the job's id and the name of a
context this process registered (its engine and settings), never a database URL: a URL may
carry the database's password, and nothing secret belongs in the database. The process that
takes the jobs over writes its own context's name into every stored job before any runs.

- ``weekly-draft`` (CHAIRTIME_DRAFT_DAY at CHAIRTIME_DRAFT_TIME): queue a solve of next week for
  every clinic: a draft, which a person reads and publishes (nothing here publishes); the
  scenario rolls on first: the published week's sessions go into the course history, so next
  week's sessions follow from each patient's course;
- ``refresh-feeds`` (every minute): render the feeds of a clinic whose latest published version
  has none yet (the publish route renders them in its own transaction; this catches a version
  published by any other way);
- ``outbox`` (every CHAIRTIME_OUTBOX_SECONDS, 20 by default): release change notices whose
  hold is over, write the reminders now due, send what is due (``scheduler.service.outbox``);
- ``expire-cancelled`` (nightly at CHAIRTIME_BACKUP_TIME): drop cancelled events older than the
  clinic's ``feeds.cancelled_days`` from its feeds;
- ``backup`` (nightly, SQLite only): an online backup (sqlite3's backup API) into
  ``DATA_DIR/backups/``, kept CHAIRTIME_BACKUP_DAYS days.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput
from scheduler.mail import Sender
from scheduler.service import clinics, feeds, outbox, weekly
from scheduler.settings import Settings
from scheduler.storage.db import Lock, connect, first_line, session_scope, sessions, try_lock
from scheduler.storage.tables import now

log = logging.getLogger(__name__)

__all__ = [
    "ScheduledJobs",
    "backup_sqlite",
    "draft_next_weeks",
    "expire_cancelled_events",
    "refresh_published_feeds",
    "run_outbox",
    "run_scheduled",
]

LOCK = "jobs"
BACKUP_PREFIX = "chairtime-"


Database = str | Engine
"""A database URL (an engine of its own for the call), or the process's engine."""


@contextmanager
def _engine(database: Database) -> Iterator[Engine]:
    if isinstance(database, Engine):
        yield database
        return
    engine = connect(database)
    try:
        yield engine
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- each clinic
def _each_clinic(database: Database, work: Callable[[Session, int], str | None]) -> list[str]:
    """Run ``work`` for every clinic, each in a transaction of its own; one clinic's failure
    is logged and does not stop the others. Returns what ``work`` reported."""
    with _engine(database) as engine:
        factory = sessions(engine)
        with session_scope(factory) as session:
            ids = [c.id for c in clinics.clinics(session)]
        done: list[str] = []
        for clinic_id in ids:
            try:
                with session_scope(factory) as session:
                    result = work(session, clinic_id)
            except InvalidInput as exc:
                log.error("clinic %d: %s", clinic_id, "; ".join(map(str, exc.issues)))
                continue
            except IntegrityError:  # another run did the same meanwhile: nothing to do
                log.info("clinic %d: done by another run meanwhile", clinic_id)
                continue
            except Exception:
                log.exception("clinic %d: job failed", clinic_id)
                continue
            if result is not None:
                done.append(result)
        return done


def refresh_published_feeds(database: Database) -> list[str]:
    """Render feeds for every clinic whose latest published version has none yet."""
    def work(session: Session, clinic_id: int) -> str | None:
        changed = feeds.refresh(session, clinic_id)
        if changed is None:
            return None
        log.info("clinic %d: feeds of the published version rendered (%d changed)", clinic_id,
                 changed)
        return f"{clinic_id}"

    return _each_clinic(database, work)


def expire_cancelled_events(database: Database) -> list[str]:
    """Re-render the feeds of every clinic with a published version at the present time, which
    drops cancelled events older than ``feeds.cancelled_days`` (nothing else changes)."""
    def work(session: Session, clinic_id: int) -> str | None:
        done = feeds.expire_cancelled(session, clinic_id)
        if done is None:
            return None
        dropped, changed = done
        if dropped:
            log.info("clinic %d: %d expired cancelled event(s) dropped, %d feed(s) changed",
                     clinic_id, dropped, changed)
        return f"{clinic_id}" if changed else None

    return _each_clinic(database, work)


def draft_next_weeks(database: Database, workers: int, time_limit: float,
                     when: datetime | None = None) -> list[str]:
    """Queue a solve of next week (after ``when``: ``Settings.now()``, else the real time)
    for every clinic, once per clinic and week (see
    :func:`scheduler.service.weekly.draft_next_week`); the job runner solves it into a draft.
    Returns the ids of the jobs queued."""
    return _each_clinic(database, lambda session, clinic_id: weekly.draft_next_week(
        session, clinic_id, workers, time_limit, when))


def run_outbox(database: Database, settings: Settings, sender: Sender | None = None
               ) -> outbox.Delivered | None:
    """The outbox's round: release the change notices whose hold is over and write the
    reminders now due, clinic by clinic; then send every due message (through ``sender``,
    default the SMTP server of the settings; without one, messages wait). None: no sender."""
    hold = timedelta(minutes=settings.notice_hold_minutes)

    def work(session: Session, clinic_id: int) -> str | None:
        due = outbox.release_held(session, clinic_id, hold)
        due += outbox.plan_reminders(session, clinic_id, settings.reminder_hours,
                                     settings.reminder_evening)
        return f"{clinic_id}" if due else None

    _each_clinic(database, work)
    sender = sender or outbox.sender_for(settings)
    if sender is None:
        return None
    with _engine(database) as engine:
        done = outbox.deliver(sessions(engine), sender, settings)
    if done.sent or done.retried or done.failed:
        log.info("outbox: %d sent, %d to try again, %d failed", done.sent, done.retried,
                 done.failed)
    return done


# ----------------------------------------------------------------------------- backups
def backup_sqlite(database: Database, folder: str | Path, keep_days: int) -> Path | None:
    """Copy a SQLite database with sqlite3's online backup API (consistent while the service
    writes) into ``folder/chairtime-YYYY-MM-DD.db``, replacing today's, and delete backups
    older than ``keep_days`` days. None for a database that is not a SQLite file. The folder
    is the owner's alone (0700) and every backup too (0600), whatever the umask."""
    url = database.url if isinstance(database, Engine) else make_url(database)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    target_dir = Path(folder)
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target_dir.chmod(0o700)
    today = now().date()
    target = target_dir / f"{BACKUP_PREFIX}{today:%Y-%m-%d}.db"
    partial = target.with_name(f".{target.name}.part")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # sqlite keeps it
    source = sqlite3.connect(url.database, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(target)  # never half a backup under the real name
    for old in target_dir.glob(f"{BACKUP_PREFIX}*.db"):
        try:
            day = date.fromisoformat(old.stem.removeprefix(BACKUP_PREFIX))
        except ValueError:
            continue
        if day <= today - timedelta(days=keep_days):
            old.unlink()
    log.info("backed up the database to %s", target)
    return target


# ----------------------------------------------------------------------------- the scheduler
@dataclass(frozen=True, slots=True)
class Context:
    """What a scheduled job runs with in this process: the service's engine and settings."""

    engine: Engine
    settings: Settings


_contexts: dict[str, Context] = {}
"""This process's contexts by name; a stored job names one (:func:`run_scheduled`)."""

WORK: dict[str, Callable[[Context], object]] = {
    "weekly-draft": lambda c: draft_next_weeks(c.engine, c.settings.workers,
                                               c.settings.time_limit, c.settings.now()),
    "refresh-feeds": lambda c: refresh_published_feeds(c.engine),
    "outbox": lambda c: run_outbox(c.engine, c.settings),
    "expire-cancelled": lambda c: expire_cancelled_events(c.engine),
    "backup": lambda c: backup_sqlite(c.engine, c.settings.data_dir / "backups",
                                      c.settings.backup_days),
}
"""What each scheduled job does, by its id."""


def run_scheduled(job: str, context: str) -> None:
    """Run scheduled job ``job`` with this process's context ``context`` (APScheduler calls
    this with the arguments it stored: names only)."""
    found = _contexts.get(context)
    if found is None:  # a job stored by a process that no longer holds the jobs
        log.warning("scheduled job %s: context %s is not this process's; skipped", job,
                    context)
        return
    WORK[job](found)


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    trigger: Any
    misfire_grace: int
    """Seconds late a run may still start (after a restart); later runs are skipped."""


def job_specs(settings: Settings) -> list[JobSpec]:
    """The scheduled jobs for ``settings`` (each job's work is :data:`WORK`'s)."""
    tz = ZoneInfo(settings.jobs_timezone)
    draft_hour, draft_minute = map(int, settings.draft_time.split(":"))
    night_hour, night_minute = map(int, settings.backup_time.split(":"))
    specs = [
        JobSpec("weekly-draft", CronTrigger(day_of_week=settings.draft_day, hour=draft_hour,
                                            minute=draft_minute, timezone=tz),
                misfire_grace=6 * 3600),  # a morning's restart still drafts the week
        JobSpec("refresh-feeds", IntervalTrigger(minutes=1, timezone=tz), misfire_grace=60),
        JobSpec("outbox", IntervalTrigger(seconds=settings.outbox_seconds, timezone=tz),
                misfire_grace=60),
        JobSpec("expire-cancelled", CronTrigger(hour=night_hour, minute=night_minute,
                                                timezone=tz), misfire_grace=20 * 3600),
    ]
    if make_url(settings.database).get_backend_name() == "sqlite" and settings.backup_days > 0:
        specs.append(JobSpec("backup", CronTrigger(hour=night_hour, minute=night_minute,
                                                   timezone=tz), misfire_grace=20 * 3600))
    return specs


def start_scheduler(engine: Engine, settings: Settings, context: str) -> BackgroundScheduler:
    """APScheduler over the database's job store, with every job of :func:`job_specs` (a job
    whose trigger is unchanged keeps its stored next run, so a run missed while no service ran
    still happens within its misfire grace). Jobs run with this process's context
    ``context``: it is registered here and named in every stored job."""
    _contexts[context] = Context(engine, settings)
    # "Running job …" and "… executed successfully" for the outbox every 20 s and the feeds
    # every minute buried the service's own lines; failures are still logged (as errors)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1},
        jobstore_retry_interval=30,  # a database that is away: a warning every 30 s, not 10
        timezone=ZoneInfo(settings.jobs_timezone))
    scheduler.start(paused=True)
    specs = job_specs(settings)
    for spec in specs:
        stored = scheduler.get_job(spec.id)
        keep: dict[str, Any] = {}
        if (stored is not None and stored.next_run_time is not None
                and repr(stored.trigger) == repr(spec.trigger)):
            keep["next_run_time"] = stored.next_run_time
        scheduler.add_job(run_scheduled, spec.trigger, id=spec.id, name=spec.id,
                          kwargs={"job": spec.id, "context": context}, replace_existing=True,
                          coalesce=True, max_instances=1, misfire_grace_time=spec.misfire_grace,
                          **keep)
    for job in scheduler.get_jobs():
        if job.id not in {s.id for s in specs}:
            job.remove()  # a job these settings turned off (backups on PostgreSQL, …)
    scheduler.resume()
    log.info("scheduled jobs: %s", ", ".join(
        f"{j.id} (next {j.next_run_time:%Y-%m-%d %H:%M %Z})" for j in scheduler.get_jobs()))
    return scheduler


class ScheduledJobs:
    """The scheduled jobs of one service process: started only while it holds the database's
    ``jobs`` lock; without it, a thread tries again every ``retry`` seconds."""

    def __init__(self, engine: Engine, settings: Settings, retry: float = 30.0) -> None:
        self.engine = engine
        self.settings = settings
        self.retry = retry
        self.lock: Lock | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.context = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        """The name the stored jobs carry (:func:`run_scheduled`)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    @property
    def running(self) -> bool:
        return self.scheduler is not None

    def acquire(self) -> bool:
        """Take the database's jobs lock if no other process holds it; True while held."""
        with self._mutex:
            if self.lock is None and not self._stop.is_set():
                self.lock = try_lock(self.engine, LOCK)
            return self.lock is not None

    def start(self) -> bool:
        """Start the jobs now if this process holds the lock or can take it (True); else keep
        trying in the background (False)."""
        if self._try():
            return True
        log.info("another process runs the scheduled jobs; this one tries again every %g s",
                 self.retry)
        self._thread = threading.Thread(target=self._wait_for_lock, name="chairtime-jobs-lock",
                                        daemon=True)
        self._thread.start()
        return False

    def _try(self) -> bool:
        if not self.acquire():
            return False
        with self._mutex:
            if self._stop.is_set() or self.lock is None:
                return False
            if self.scheduler is None:
                try:
                    self.scheduler = start_scheduler(self.engine, self.settings, self.context)
                except BaseException:
                    _contexts.pop(self.context, None)
                    self.lock.release()
                    self.lock = None
                    raise
            return True

    def _wait_for_lock(self) -> None:
        failed = False
        while not self._stop.wait(self.retry):
            try:
                if self._try():
                    log.info("took over the scheduled jobs")
                    return
            except DBAPIError as exc:  # a database that is away now may answer next time
                if not failed:
                    log.warning("trying the jobs lock failed: the database is unavailable "
                                "(%s); trying again every %g s", first_line(exc), self.retry)
                failed = True
                continue
            except Exception:
                log.exception("trying the jobs lock failed")
            failed = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._mutex:
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=True)
                self.scheduler = None
            _contexts.pop(self.context, None)
            if self.lock is not None:
                self.lock.release()
                self.lock = None
