"""Long jobs (solves, re-plans, what-if analyses) run in worker processes, never in the web
server's event loop.

A :class:`JobRunner` thread in the service claims queued jobs from the database (an atomic
UPDATE, so a job runs once) and starts at most ``max_solves`` processes for solves and
re-plans, and one more for a what-if analysis; more wait in the queue.
Each process (:func:`run_job`) opens its own database connection and runs the job through the
service (:func:`scheduler.service.jobs.run`): progress into the job's row, the result stored,
the job marked done. Cancelling a running job terminates its process; a time limit ends a solve
with the best schedule found.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine

from scheduler.service import jobs
from scheduler.storage.db import connect, session_scope, sessions

log = logging.getLogger(__name__)

__all__ = ["JobRunner", "run_job"]


def run_job(database_url: str, job_id: str) -> None:
    """Run one claimed job to its end, in this (worker) process."""
    engine = connect(database_url)
    try:
        jobs.run(sessions(engine), job_id)
    finally:
        engine.dispose()


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
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the runner must outlive a bad tick (a locked database, …)
                log.exception("job runner tick failed")
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
            process = self._context.Process(target=run_job, args=(self.url, job_id),
                                            name=f"chairtime-job-{job_id}", daemon=True)
            process.start()
            self.running[job_id] = process
            self.kinds[job_id] = kind
