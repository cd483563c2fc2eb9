"""Long jobs (solves, re-plans, what-if analyses) run in worker processes, never in the web
server's event loop.

A :class:`JobRunner` thread in the service claims queued jobs from the database (an atomic
UPDATE, so a job runs once) and starts at most ``max_solves`` processes for solves and
re-plans, and one more for a what-if analysis; more wait in the queue.
Each process (:func:`run_job`) opens its own database connection and runs the job through the
service (:func:`scheduler.service.jobs.run`): progress into the job's row, the result stored,
the job marked done. Cancelling a running job terminates its process; a time limit ends a solve
with the best schedule found.

A worker process ends when the service process that started it ends, however it ends (``kill
-9`` too): on Linux the kernel kills it (``PR_SET_PDEATHSIG``), elsewhere a thread watching
the pipe to its parent does; so no orphan solves beside the jobs of the next service, and
``max_solves`` holds across a restart. A database that is away (a PostgreSQL restart) is one
warning, ticks further apart up to ``max_backoff`` seconds, and one line when it is back.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from scheduler.service import jobs
from scheduler.storage.db import connect, first_line, session_scope, sessions

log = logging.getLogger(__name__)

__all__ = ["JobRunner", "run_job"]

PR_SET_PDEATHSIG = 1
"""prctl(2): the signal this process gets when the thread that started it ends."""


def run_job(database_url: str, job_id: str) -> None:
    """Run one claimed job to its end, in this (worker) process."""
    engine = connect(database_url)
    try:
        jobs.run(sessions(engine), job_id)
    finally:
        engine.dispose()


def _worker(database_url: str, job_id: str, parent: int) -> None:
    """A worker process's start: bound to the life of ``parent`` (the service's process),
    then :func:`run_job`."""
    _end_with(parent)
    run_job(database_url, job_id)


def _end_with(parent: int) -> None:
    """End this process as soon as process ``parent`` ends.

    Linux: the kernel sends SIGKILL when the thread that started this process ends (the job
    runner's, which lives as long as the service; a stopping runner ends its workers anyway),
    however it ends, and whatever this process is doing (CP-SAT may hold the interpreter). A
    parent that died before that was set shows in ``getppid``. Every platform also gets a
    thread that waits on multiprocessing's pipe from the parent, which closes when it dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os._exit(1)  # the service ended before this process could start its job
    started_by = multiprocessing.parent_process()
    if started_by is not None and started_by.sentinel is not None:
        threading.Thread(target=_exit_with, args=(started_by.sentinel,),
                         name="chairtime-parent-watch", daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


class JobRunner:
    """Claims queued jobs and runs each in its own process: at most ``max_solves`` solves and
    re-plans at once, and besides them one analysis (a what-if: two one-worker solves at once
    on threads, service/whatif.THREADS)."""

    def __init__(self, engine: Engine, database_url: str, max_solves: int = 1,
                 poll_seconds: float = 0.25, max_backoff: float = 30.0) -> None:
        self.factory = sessions(engine)
        self.url = database_url
        self.max_solves = max(1, max_solves)
        self.poll = poll_seconds
        self.max_backoff = max(poll_seconds, max_backoff)
        self.running: dict[str, BaseProcess] = {}
        self.kinds: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chairtime-jobs", daemon=True)
        self._context = multiprocessing.get_context("spawn")

    def start(self, reclaim: bool = True) -> None:
        """Run queued jobs from now on; with ``reclaim``, first fail the jobs a stopped service
        left running (only a process that knows no other runs them may)."""
        if reclaim:
            with session_scope(self.factory) as session:
                jobs.reclaim_running(session)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for process in self.running.values():
            process.terminate()
            process.join(timeout=5)

    def _loop(self) -> None:
        """Tick every ``poll`` seconds. A failing tick is logged once (a database that is away
        as one warning line, anything else with its traceback) and the ticks go further apart,
        doubling up to ``max_backoff``; the first good tick after says so once."""
        failures, since = 0, 0.0
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # the runner must outlive a bad tick (a locked database, …)
                if failures == 0:
                    since = time.monotonic()
                    if isinstance(exc, DBAPIError):
                        log.warning("job runner: the database is unavailable (%s); trying "
                                    "again, at most %g s apart", first_line(exc),
                                    self.max_backoff)
                    else:
                        log.exception("job runner tick failed; trying again, at most %g s "
                                      "apart", self.max_backoff)
                else:
                    log.debug("job runner tick failed again: %s", first_line(exc))
                failures += 1
                self._stop.wait(min(self.max_backoff, self.poll * 2 ** min(failures, 32)))
                continue
            if failures:
                log.info("job runner: working again after %.0f s of failed ticks",
                         time.monotonic() - since)
                failures = 0
            self._stop.wait(self.poll)

    def _tick(self) -> None:
        with session_scope(self.factory) as session:
            cancelled = jobs.cancelled(session)
        for job_id, process in list(self.running.items()):
            if job_id in cancelled and process.is_alive():
                process.terminate()
            if not process.is_alive():
                process.join()
                del self.running[job_id]
                self.kinds.pop(job_id, None)
                if process.exitcode not in (0, None) and job_id not in cancelled:
                    jobs.fail(self.factory, job_id,
                              f"the worker stopped (exit {process.exitcode})")
        with session_scope(self.factory) as session:
            queued = jobs.queued(session)
        for job_id, kind in queued:
            lane = kind in jobs.ANALYSES
            busy = sum((k in jobs.ANALYSES) == lane for j, k in self.kinds.items()
                       if j in self.running)
            if busy >= (1 if lane else self.max_solves):
                continue
            with session_scope(self.factory) as session:
                if not jobs.claim(session, job_id):
                    continue
            process = self._context.Process(target=_worker,
                                            args=(self.url, job_id, os.getpid()),
                                            name=f"chairtime-job-{job_id}", daemon=True)
            process.start()
            self.running[job_id] = process
            self.kinds[job_id] = kind
            log.info("job %s (%s) runs in process %s", job_id, kind, process.pid)
