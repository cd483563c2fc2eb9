"""Long jobs (solves, re-plans, what-if analyses) run in worker processes, never in the web
server's event loop.

A :class:`JobRunner` thread in the service claims queued jobs from the database (an atomic
UPDATE, so a job runs once) and starts at most ``max_solves`` processes for solves and
re-plans, and one more for a what-if analysis; more wait in the queue.
Each process (:func:`run_job`) opens its own database connection, reports progress into the
job's row, stores the result (a draft schedule; a what-if's report in the folder its params
name) and marks the job done. Cancelling a running job terminates its process; a time limit ends
a solve with the best schedule found.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import threading
import time
from datetime import datetime
from datetime import time as dtime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from scheduler.documents import Schedule
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions
from scheduler.storage.tables import Job, User, now
from scheduler.usecases import Progress, plan_week, read_events, replan
from scheduler.usecases.roll import keep_courses, number_after, numbers
from solver import Options

log = logging.getLogger(__name__)

__all__ = ["JobRunner", "run_job"]


def _options(params: dict[str, Any]) -> Options:
    return Options(time_limit=float(params.get("time_limit", 20.0)),
                   workers=int(params.get("workers", 1)), seed=int(params.get("seed", 0)))


def run_job(database_url: str, job_id: str) -> None:
    """Run one claimed job to its end, in this (worker) process."""
    factory = sessions(connect(database_url))
    with session_scope(factory) as session:
        job = repo.job(session, job_id)
        kind, params, clinic_id = job.kind, dict(job.params), job.clinic_id
        user_id = job.created_by
    last = [0.0]

    def progress(p: Progress) -> None:
        if time.monotonic() - last[0] < 0.5:
            return
        last[0] = time.monotonic()
        with session_scope(factory) as session:
            row = repo.job(session, job_id)
            if row.status == "running":
                row.progress = {"stage": p.stage, "seconds": round(p.seconds, 1),
                                "objective": p.objective, "bound": p.bound}

    if kind == "whatif":
        _run_whatif(factory, job_id, clinic_id, params)
        return
    try:
        with session_scope(factory) as session:
            version = repo.scenario_version(session, clinic_id, params.get("scenario_version"))
            scenario = repo.scenario_of(version)
            given = copy.deepcopy(version.data)
            previous = (repo.to_schedule(repo.schedule_row(session, params["schedule_id"]))
                        if kind == "replan" else None)
            begins = datetime.combine(scenario.horizon.start, dtime(0), scenario.tz)
            first_id = repo.highest_ref_before(session, clinic_id, begins) + 1
        if kind == "solve":
            planned = plan_week(scenario, _options(params), progress)
            schedule, changes, based_on = planned.schedule, None, None
            result_scenario: Scenario | dict[str, Any] = scenario
            if first_id > 1:  # earlier weeks were published: their ids are never reused
                fixed = [f.id for f in scenario.fixed]
                schedule = number_after(schedule, set(fixed),
                                        max([first_id, *(n + 1 for n in numbers(fixed))]))
        else:
            assert previous is not None
            when = datetime.fromisoformat(params["now"]) if params.get("now") else now()
            events = [e for _, e in read_events({"events": params["events"]}, scenario,
                                                previous, when)]
            replanned = replan(scenario, previous, events, when, _options(params), progress)
            schedule, changes = replanned.schedule, replanned.changes
            based_on = params["schedule_id"]
            result_scenario = keep_courses(given, replanned.scenario)  # courses stay kept
        _finish(factory, job_id, clinic_id, user_id, schedule, changes, based_on,
                result_scenario if kind == "replan" else None)
    except InvalidInput as exc:
        _fail(factory, job_id, "; ".join(str(i) for i in exc.issues))
    except Exception as exc:  # a job's failure is reported on the job, not lost
        log.exception("job %s failed", job_id)
        _fail(factory, job_id, f"internal error: {exc}")


def _run_whatif(factory: Any, job_id: str, clinic_id: int, params: dict[str, Any]) -> None:
    """A what-if analysis of the clinic's scenario version: the plan read again (the page
    checked it before queueing), every solve one after the other in this process with one
    CP-SAT worker (one core, beside the service), progress as solves finish, and the report
    written into ``params["out"]``."""
    from scheduler.usecases.whatif import (  # pandas, matplotlib: imported here only
        WhatIfOptions,
        WhatIfProgress,
        local_pool,
        read_plan,
        run_whatif,
    )
    from scheduler.usecases.whatif.report import write_report

    last = [0.0]
    solves = [0]

    def progress(p: WhatIfProgress) -> None:
        solves[0] = p.done
        if time.monotonic() - last[0] < 0.5 and p.done < p.total:
            return
        last[0] = time.monotonic()
        with session_scope(factory) as session:
            row = repo.job(session, job_id)
            if row.status == "running":
                row.progress = {"stage": "what-if", "done": p.done, "total": p.total,
                                "last": p.last, "best so far": p.best}

    try:
        with session_scope(factory) as session:
            version = repo.scenario_version(session, clinic_id, params.get("scenario_version"))
            scenario = repo.scenario_of(version)
        plan = read_plan(params["variants"], scenario)
        options = WhatIfOptions(time_limit=float(params.get("time_limit", 10.0)),
                                seed=int(params.get("seed", 0)),
                                headroom=bool(params.get("headroom", True)),
                                bottleneck=bool(params.get("bottleneck", True)))
        chatter = logging.getLogger("solver")  # hundreds of solves' progress lines
        level = chatter.level
        chatter.setLevel(logging.WARNING)
        try:
            result = run_whatif(scenario, plan, options, local_pool(1), progress, now())
        finally:
            chatter.setLevel(level)
        write_report(result, Path(params["out"]))
        with session_scope(factory) as session:
            job = repo.job(session, job_id)
            if job.status == "running":
                job.status, job.finished_at = "done", now()
                job.progress = {**(job.progress or {}), "done": solves[0],
                                "total": solves[0], "seconds": result.seconds}
    except InvalidInput as exc:
        _fail(factory, job_id, "; ".join(str(i) for i in exc.issues))
    except Exception as exc:  # a job's failure is reported on the job, not lost
        log.exception("job %s failed", job_id)
        _fail(factory, job_id, f"internal error: {exc}")


def _finish(factory: Any, job_id: str, clinic_id: int, user_id: int | None, schedule: Schedule,
            changes: Any, based_on: int | None, edited: Any) -> None:
    with session_scope(factory) as session:
        job = repo.job(session, job_id)
        if job.status != "running":
            return  # cancelled meanwhile: its result is not stored
        user = session.get(User, user_id) if user_id else None
        clinic = repo.clinic(session, clinic_id)
        version = (repo.add_scenario_version(session, clinic, edited, user) if edited is not None
                   else repo.scenario_version(session, clinic_id,
                                              job.params.get("scenario_version")))
        row = repo.add_schedule(session, clinic_id, version, schedule, user, based_on, changes)
        job.status, job.finished_at, job.result_schedule_id = "done", now(), row.id


def _fail(factory: Any, job_id: str, message: str) -> None:
    with session_scope(factory) as session:
        job = repo.job(session, job_id)
        if job.status == "running":
            job.status, job.finished_at, job.error = "failed", now(), message


ANALYSES = ("whatif",)
"""Kinds of job with a lane of their own: one at a time, beside (never instead of) the front
desk's solves and re-plans, so a manager's ten-minute what-if does not hold up a re-plan."""


class JobRunner:
    """Claims queued jobs and runs each in its own process: at most ``max_solves`` solves and
    re-plans at once, and besides them one analysis (a what-if, one CP-SAT worker)."""

    def __init__(self, engine: Engine, database_url: str, max_solves: int = 1,
                 poll_seconds: float = 0.25) -> None:
        self.factory = sessions(engine)
        self.url = database_url
        self.max_solves = max(1, max_solves)
        self.poll = poll_seconds
        self.running: dict[str, BaseProcess] = {}
        self.kinds: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chairtime-jobs", daemon=True)
        self._context = multiprocessing.get_context("spawn")

    def start(self, reclaim: bool = True) -> None:
        """Run queued jobs from now on; with ``reclaim``, first fail the jobs a stopped service
        left running (only a process that knows no other runs them may)."""
        with session_scope(self.factory) as session:
            for job_id in repo.jobs_with_status(session, "running") if reclaim else []:
                job = repo.job(session, job_id)  # left running by a service that stopped
                job.status, job.finished_at = "failed", now()
                job.error = "the service stopped while this job ran; start it again"
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for process in self.running.values():
            process.terminate()
            process.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the runner must outlive a bad tick (a locked database, …)
                log.exception("job runner tick failed")
            self._stop.wait(self.poll)

    def _tick(self) -> None:
        with session_scope(self.factory) as session:
            cancelled = set(repo.jobs_with_status(session, "cancelled"))
        for job_id, process in list(self.running.items()):
            if job_id in cancelled and process.is_alive():
                process.terminate()
            if not process.is_alive():
                process.join()
                del self.running[job_id]
                self.kinds.pop(job_id, None)
                if process.exitcode not in (0, None) and job_id not in cancelled:
                    _fail(self.factory, job_id, f"the worker stopped (exit {process.exitcode})")
        with session_scope(self.factory) as session:
            queued = [(job_id, kind) for job_id, kind in session.execute(
                select(Job.id, Job.kind).where(Job.status == "queued")
                .order_by(Job.created_at, Job.id))]
        for job_id, kind in queued:
            lane = kind in ANALYSES
            busy = sum((k in ANALYSES) == lane for j, k in self.kinds.items()
                       if j in self.running)
            if busy >= (1 if lane else self.max_solves):
                continue
            with session_scope(self.factory) as session:
                if not repo.claim_job(session, job_id):
                    continue
            process = self._context.Process(target=run_job, args=(self.url, job_id),
                                            name=f"chairtime-job-{job_id}", daemon=True)
            process.start()
            self.running[job_id] = process
            self.kinds[job_id] = kind
