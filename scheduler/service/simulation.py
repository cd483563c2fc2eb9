"""Will the day hold? A schedule's risk from the simulation: queued as a job (its figures kept
on the job) for the API, and the days at risk with their fragile sessions for the board (a
quicker replay, cached per schedule version)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from scheduler.service import drafts, jobs
from scheduler.service.jobs import JobParams
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import Job, ScheduleRow, User, now
from scheduler.usecases.simulate import SimulationSettings, simulate

__all__ = ["BOARD_RUNS", "DayRisk", "board_risk", "queue", "run"]

BOARD_RUNS = 1000
"""Replays behind the board's badges: the figures to a percent or two, in a fraction of a
second on a demo-sized week (bench/README.md, 'Simulation')."""


def queue(session: Session, schedule_id: int, runs: int, seed: int, by: User,
          clinic_id: int | None = None, *, cap: int | None = None) -> Job:
    """A simulation of schedule ``schedule_id`` as a job; its figures land on the job."""
    row = drafts.row(session, schedule_id, clinic_id)
    return jobs.queue(session, row.clinic_id, "simulate",
                      JobParams(schedule_id=schedule_id, runs=runs, seed=seed), by, cap=cap)


def run(factory: sessionmaker[Session], job_id: str, params: JobParams) -> None:
    """The job's replays, in a worker process; the figures stored on the job."""
    with session_scope(factory) as session:
        row = repo.schedule_row(session, params.schedule_id or 0)
        scenario, schedule = repo.scenario_for(session, row), repo.to_schedule(row)
    result = simulate(scenario, schedule, SimulationSettings(), params.runs, params.seed)
    with session_scope(factory) as session:
        found = repo.job(session, job_id)
        if found.status == "running":
            found.status, found.finished_at, found.result = "done", now(), result.to_json()


@dataclass(frozen=True, slots=True)
class DayRisk:
    """What the board says of a day: the chance of running past closing at all and by more
    than 15 minutes, and the sessions that most often start late."""

    p_overtime: float
    p_overtime_15: float
    fragile: tuple[str, ...]


_CACHE: OrderedDict[tuple[int, int], dict[date, DayRisk]] = OrderedDict()
_LOCK = threading.Lock()
CACHED = 32


def board_risk(session: Session, row: ScheduleRow) -> dict[date, DayRisk]:
    """Each day's risk for the board, from :data:`BOARD_RUNS` replays (seed 0), once per
    schedule version."""
    key = (row.id, row.row_version)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    result = simulate(repo.scenario_for(session, row), repo.to_schedule(row),
                      SimulationSettings(), BOARD_RUNS, 0)
    fragile: dict[date, list[str]] = {}
    for s in result.fragile:
        fragile.setdefault(s.start.date(), []).append(s.id)
    risk = {d.first: DayRisk(d.p_overtime, d.p_overtime_15, tuple(fragile.get(d.first, ())))
            for d in result.days}
    with _LOCK:
        _CACHE[key] = risk
        while len(_CACHE) > CACHED:
            _CACHE.popitem(last=False)
    return risk
