"""Queued work: solves, re-plans and what-if analyses as jobs, each with one typed
:class:`JobParams`; running a claimed job (in a worker process); the weekly draft.

A re-plan stores its first answer (every untouched appointment pinned) as a draft as soon as it
exists, named in the job's progress (:func:`first_answer`), and its final answer when it ends.
A job's parameters are stored as JSON in its row and read back through :class:`JobParams`,
so the defaults and bounds live here once (never beside each reader). An account may have at
most ``cap`` jobs queued or running at once (``CHAIRTIME_MAX_QUEUED_PER_USER``): one more is
:class:`~scheduler.errors.TooMany`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from scheduler.documents import ChangeList, Schedule
from scheduler.errors import InvalidInput, NotFound, TooMany
from scheduler.model import Scenario
from scheduler.security import DESK, MANAGER
from scheduler.service import access
from scheduler.settings import SEED_MAX
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import Job, User, now
from scheduler.usecases import Progress, Replanned, plan_week, read_events, replan
from scheduler.usecases.roll import (
    keep_courses,
    number_after,
    numbers,
)
from scheduler.validate import parse_text
from solver import Options

__all__ = [
    "ANALYSES",
    "FIRST_ANSWER",
    "JobParams",
    "cancel",
    "cancelled",
    "claim",
    "events_text",
    "fail",
    "first_answer",
    "job",
    "jobs_of",
    "new_id",
    "params_of",
    "queue",
    "queue_replan",
    "queue_solve",
    "queued",
    "reclaim_running",
    "room_for_one_more",
    "run",
]

log = logging.getLogger(__name__)

Kind = Literal["solve", "replan", "whatif", "simulate"]
ANALYSES = ("whatif",)
"""Kinds of job with a lane of their own: one at a time, beside (never instead of) the front
desk's solves and re-plans, so a manager's ten-minute what-if does not hold up a re-plan."""


class JobParams(BaseModel):
    """What a job needs to run, as stored in its row."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    scenario_version: int | None = None
    """The clinic's scenario version to solve (None: the latest)."""
    time_limit: float = Field(default=20.0, gt=0, le=24 * 3600)
    """Seconds for each solve (the bounds of ``CHAIRTIME_TIME_LIMIT``)."""
    workers: int = Field(default=1, ge=1, le=256)
    seed: int = Field(default=0, ge=0, le=SEED_MAX)
    """CP-SAT's random seed, an int32 (a larger one fails inside the solver)."""
    week: date | None = None
    """The week a scheduled weekly draft is for (its job id names it too)."""
    # a re-plan
    schedule_id: int | None = None
    events: list[Any] | None = None
    now: datetime | None = None
    # a what-if analysis
    variants: dict[str, Any] | None = None
    headroom: bool = True
    bottleneck: bool = True
    out: str | None = None
    """The folder its report goes to."""
    preset: list[str] = Field(default_factory=list)
    """The form's ticked presets and typed variants, to fill the form again."""
    variants_text: str = ""
    names: list[str] = Field(default_factory=list)
    # a simulation
    runs: int = Field(default=2000, ge=1, le=100_000)
    """Replays of the schedule (its id in ``schedule_id``)."""

    def options(self) -> Options:
        return Options(time_limit=self.time_limit, workers=self.workers, seed=self.seed)

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


def params_of(found: Job) -> JobParams:
    return JobParams.model_validate(found.params)


# ----------------------------------------------------------------------------- queue
def queue(session: Session, clinic_id: int, kind: Kind, params: JobParams, by: User | None,
          job_id: str | None = None, *, cap: int | None = None) -> Job:
    """A queued job (the runner claims it), committed; TooMany when ``by`` has ``cap`` jobs
    queued or running already."""
    clinic = repo.clinic(session, clinic_id)
    if by is not None and cap is not None:
        room_for_one_more(session, by, cap)
    added = repo.add_job(session, job_id or new_id(), clinic.id, kind, params.stored(), by)
    session.commit()
    return added


def room_for_one_more(session: Session, by: User, cap: int) -> None:
    """Nothing when ``by`` has fewer than ``cap`` jobs queued or running; else TooMany, whose
    ``retry_after`` is when the first of them is due to end (a running one's time limit from
    its start, else the shortest time limit among them)."""
    waiting = repo.unfinished_jobs_by(session, by.id)
    if len(waiting) < cap:
        return
    at = now()
    ends = [(j.started_at + timedelta(seconds=params_of(j).time_limit) - at).total_seconds()
            for j in waiting if j.status == "running" and j.started_at is not None]
    seconds = min(ends or [params_of(j).time_limit for j in waiting])
    raise TooMany(f"you have {len(waiting)} jobs queued or running (at most {cap} at once): "
                  "ask again when one has ended, or cancel one",
                  math.ceil(min(max(seconds, 1.0), 3600.0)))


def queue_solve(session: Session, clinic_id: int, params: JobParams, by: User, *,
                cap: int | None = None) -> Job:
    """A solve of the clinic's latest scenario version."""
    version = repo.scenario_version(session, repo.clinic(session, clinic_id).id)
    return queue(session, clinic_id, "solve",
                 params.model_copy(update={"scenario_version": version.number}), by, cap=cap)


def queue_replan(session: Session, schedule_id: int, events: list[Any], when: datetime,
                 params: JobParams, by: User, *, cap: int | None = None) -> Job:
    """A re-plan of schedule ``schedule_id`` after ``events`` (every problem of every event
    now, as InvalidInput: nothing is queued then)."""
    row = repo.schedule_row(session, schedule_id)
    version = repo.scenario_version(session, row.clinic_id)
    weeks = repo.version_weeks(session, row.clinic_id)
    if weeks.get(version.id) != weeks.get(row.scenario_version_id):
        # the clinic's data is rolled on to a later week already: this week's own data
        version = repo.scenario_version_of(session, row)
    read_events({"events": events}, repo.scenario_of(version), repo.to_schedule(row), when)
    return queue(session, row.clinic_id, "replan", params.model_copy(update={
        "scenario_version": version.number, "schedule_id": schedule_id, "events": events,
        "now": when}), by, cap=cap)


def events_text(text: str) -> Any:
    """Events written as YAML (a form's box), every value as text for the events' reader to
    validate; ``ValueError`` saying where when it is not YAML, nests too deep or its aliases
    expand it past its own size."""
    return parse_text(text, strings=True)


def new_id() -> str:
    return uuid.uuid4().hex


def job(session: Session, job_id: str, clinic_id: int | None = None) -> Job:
    """Job ``job_id`` (of ``clinic_id`` when given: another clinic's is NotFound)."""
    found = repo.job(session, job_id)
    if clinic_id is not None and found.clinic_id != clinic_id:
        raise NotFound("job", job_id)
    return found


def jobs_of(session: Session, clinic_id: int) -> list[Job]:
    """The clinic's latest jobs, newest first."""
    return repo.jobs_of(session, clinic_id)


def cancel(session: Session, job_id: str, by: User) -> Job:
    """Cancel a queued or running job (its runner stops the process); Conflict otherwise. A
    solve, re-plan or simulation is the front desk's to cancel; an analysis (what-if) is the
    managers' who run them."""
    found = repo.job(session, job_id)
    access.require(session, by, found.clinic_id,
                   MANAGER if found.kind in ANALYSES else DESK, NotFound("job", job_id))
    cancelled_job = repo.cancel_job(session, found, by)
    session.commit()
    return cancelled_job


# ----------------------------------------------------------------------------- the runner's
def reclaim_running(session: Session) -> None:
    """Fail the jobs a stopped service left running (only a process that knows no other runs
    them may call this)."""
    for job_id in repo.jobs_with_status(session, "running"):
        found = repo.job(session, job_id)
        found.status, found.finished_at = "failed", now()
        found.error = "the service stopped while this job ran; start it again"


def cancelled(session: Session) -> set[str]:
    return set(repo.jobs_with_status(session, "cancelled"))


def queued(session: Session) -> list[tuple[str, str]]:
    """Queued jobs' ids and kinds, oldest first."""
    return repo.queued_jobs(session)


def claim(session: Session, job_id: str) -> bool:
    """Mark a queued job running; False when another runner (or a cancel) got there first."""
    return repo.claim_job(session, job_id)


def fail(factory: sessionmaker[Session], job_id: str, message: str) -> None:
    with session_scope(factory) as session:
        found = repo.job(session, job_id)
        if found.status == "running":
            found.status, found.finished_at, found.error = "failed", now(), message


# ----------------------------------------------------------------------------- running one
def run(factory: sessionmaker[Session], job_id: str) -> None:
    """Run one claimed job to its end (in a worker process): progress into its row, its result
    stored (a draft; a what-if's report in its folder), any failure reported on the job."""
    with session_scope(factory) as session:
        found = repo.job(session, job_id)
        kind, params, clinic_id = found.kind, params_of(found), found.clinic_id
        user_id = found.created_by
    try:
        if kind == "whatif":
            from scheduler.service.whatif import run_analysis  # pandas, matplotlib: here only

            run_analysis(factory, job_id, clinic_id, params)
        elif kind == "simulate":
            from scheduler.service import simulation

            simulation.run(factory, job_id, params)
        else:
            _run_solve(factory, job_id, clinic_id, user_id, kind, params)
    except InvalidInput as exc:
        fail(factory, job_id, "; ".join(str(i) for i in exc.issues))
    except Exception as exc:  # a job's failure is reported on the job, not lost
        log.exception("job %s failed", job_id)
        fail(factory, job_id, f"internal error: {exc}")


def report_progress(factory: sessionmaker[Session], job_id: str, every: float = 0.5
                    ) -> Callable[[dict[str, Any], bool], None]:
    """A function that writes progress into the job's row while it runs, at most every
    ``every`` seconds unless told it is the last."""
    last = [0.0]

    def write(progress: dict[str, Any], final: bool = False) -> None:
        if time.monotonic() - last[0] < every and not final:
            return
        last[0] = time.monotonic()
        with session_scope(factory) as session:
            row = repo.job(session, job_id)
            if row.status == "running":
                row.progress = progress

    return write


def _run_solve(factory: sessionmaker[Session], job_id: str, clinic_id: int,
               user_id: int | None, kind: str, params: JobParams) -> None:
    write = report_progress(factory, job_id)
    first: dict[str, Any] = {}
    """A re-plan's first answer once stored (``FIRST_ANSWER``): kept in every progress write."""

    def progress(p: Progress) -> None:
        write({"stage": p.stage, "seconds": round(p.seconds, 1), "objective": p.objective,
               "bound": p.bound, **({FIRST_ANSWER: first} if first else {})}, False)

    with session_scope(factory) as session:
        version = repo.scenario_version(session, clinic_id, params.scenario_version)
        scenario = repo.scenario_of(version)
        given = copy.deepcopy(version.data)
        base = (repo.schedule_row(session, params.schedule_id)
                if kind == "replan" and params.schedule_id is not None else None)
        previous = repo.to_schedule(base) if base is not None else None
        # what the draft is made from, as it stands now: a publish while it runs supersedes it
        if base is not None:
            made_from = repo.made_from_for(session, base)
        else:
            latest = repo.latest_published(session, clinic_id)
            made_from = latest.id if latest is not None else None
        begins = datetime.combine(scenario.horizon.start, dtime(0), scenario.tz)
        first_id = repo.highest_ref_before(session, clinic_id, begins) + 1
    changes: ChangeList | None = None
    edited: dict[str, Any] | Scenario | None = None
    if previous is None:
        schedule = plan_week(scenario, params.options(), progress).schedule
        if first_id > 1:  # earlier weeks were published: their ids are never reused
            fixed = [f.id for f in scenario.fixed]
            schedule = number_after(schedule, set(fixed),
                                    max([first_id, *(n + 1 for n in numbers(fixed))]))
    else:
        when = params.now or now()
        events = [e for _, e in read_events({"events": params.events or []}, scenario,
                                            previous, when)]
        def on_first(answer: Replanned) -> None:
            first.update(_store_first(factory, job_id, clinic_id, user_id, answer,
                                      params.schedule_id, keep_courses(given, answer.scenario),
                                      made_from))
            if first:
                write({"stage": "first answer", FIRST_ANSWER: first}, True)

        replanned = replan(scenario, previous, events, when, params.options(), progress,
                           on_first=on_first)
        schedule, changes = replanned.schedule, replanned.changes
        edited = keep_courses(given, replanned.scenario)  # courses stay kept
        if first:  # the same edited scenario: its version is the first answer's
            edited = None
    _finish(factory, job_id, clinic_id, user_id, schedule, changes, params.schedule_id
            if previous is not None else None, edited, made_from, first.get("version"))


FIRST_ANSWER = "first_answer"
"""The key of a re-plan's first answer in its job's progress: the draft's ``schedule_id``, its
sessions ``placed`` of ``wanted``, the known appointments it ``moved``, the ``seconds`` it took
and the scenario ``version`` it was made with (the final answer's too)."""


def first_answer(found: Job) -> dict[str, Any] | None:
    """Job ``found``'s first answer (a re-plan's, once stored), else None."""
    got = (found.progress or {}).get(FIRST_ANSWER) if found.kind == "replan" else None
    return got if isinstance(got, dict) and "schedule_id" in got else None


def _store_first(factory: sessionmaker[Session], job_id: str, clinic_id: int,
                 user_id: int | None, answer: Replanned, based_on: int | None,
                 edited: dict[str, Any] | Scenario, made_from: int | None) -> dict[str, Any]:
    """A re-plan's first answer stored as a draft the desk may publish while the job improves
    on it; what the job's progress says of it (nothing when the job was cancelled)."""
    with session_scope(factory) as session:
        found = repo.job(session, job_id)
        if found.status != "running":
            return {}
        user = session.get(User, user_id) if user_id else None
        version = repo.add_scenario_version(session, repo.clinic(session, clinic_id), edited,
                                            user)
        row = repo.add_schedule(session, clinic_id, version, answer.schedule, user, based_on,
                                answer.changes, made_from)
        kpis = answer.schedule.kpis
        return {"schedule_id": row.id, "placed": kpis.placed if kpis else 0,
                "wanted": kpis.wanted if kpis else 0,
                "moved": sum(1 for c in answer.changes if c.before is not None),
                "seconds": round((now() - found.started_at).total_seconds(), 1)
                if found.started_at is not None else None,
                "version": version.number}


def _finish(factory: sessionmaker[Session], job_id: str, clinic_id: int, user_id: int | None,
            schedule: Schedule, changes: ChangeList | None, based_on: int | None,
            edited: dict[str, Any] | Scenario | None, made_from: int | None,
            version_number: int | None = None) -> None:
    with session_scope(factory) as session:
        found = repo.job(session, job_id)
        if found.status != "running":
            return  # cancelled meanwhile: its result is not stored
        user = session.get(User, user_id) if user_id else None
        clinic = repo.clinic(session, clinic_id)
        version = (repo.add_scenario_version(session, clinic, edited, user) if edited is not None
                   else repo.scenario_version(session, clinic_id, version_number
                                              or params_of(found).scenario_version))
        row = repo.add_schedule(session, clinic_id, version, schedule, user, based_on, changes,
                               made_from)
        found.status, found.finished_at, found.result_schedule_id = "done", now(), row.id
