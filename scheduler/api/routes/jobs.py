"""Long work as jobs: solve a clinic's week, re-plan a schedule after events; poll, cancel."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from scheduler.api.deps import AnyStaff, Desk, RowId, SessionDep, SettingsDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import JobPublic, ReplanRequest, SolveRequest
from scheduler.storage import repo
from scheduler.storage.tables import Job, now
from scheduler.usecases import read_events

router = APIRouter(tags=["jobs"], responses=R422)  # ids in the path


def job_public(request: Request, job: Job) -> JobPublic:
    result = (str(request.url_for("get_schedule", schedule_id=job.result_schedule_id))
              if job.result_schedule_id is not None else None)
    return JobPublic(id=job.id, clinic_id=job.clinic_id, kind=job.kind,
                     status=job.status,
                     progress=job.progress, result_schedule_id=job.result_schedule_id,
                     error=job.error, created_at=job.created_at, started_at=job.started_at,
                     finished_at=job.finished_at,
                     url=str(request.url_for("get_job", job_id=job.id)), result_url=result)


def _accepted(request: Request, response: Response, job: Job) -> JobPublic:
    body = job_public(request, job)
    response.headers["Location"] = body.url
    return body


@router.post("/clinics/{clinic_id}/solve", response_model=JobPublic,
             status_code=status.HTTP_202_ACCEPTED, responses=R400 | SIGNED_IN | R404 | R422,
             summary="Solve the clinic's week as a job: poll the job, then read its draft "
                     "(front desk and up)")
def solve(clinic_id: RowId, body: SolveRequest, user: Desk, session: SessionDep,
          settings: SettingsDep, request: Request, response: Response) -> JobPublic:
    version = repo.scenario_version(session, repo.clinic(session, clinic_id).id)
    job = repo.add_job(session, uuid.uuid4().hex, clinic_id, "solve", {
        "scenario_version": version.number, "seed": body.seed, "workers": settings.workers,
        "time_limit": body.time_limit or settings.time_limit}, user)
    session.commit()
    return _accepted(request, response, job)


@router.post("/schedules/{schedule_id}/replan", response_model=JobPublic,
             status_code=status.HTTP_202_ACCEPTED, responses=R400 | SIGNED_IN | R404 | R422,
             summary="Re-plan a schedule after events as a job; its draft lists the changes "
                     "(front desk and up)")
def replan(schedule_id: RowId, body: ReplanRequest, user: Desk, session: SessionDep,
           settings: SettingsDep, request: Request, response: Response) -> JobPublic:
    row = repo.schedule_row(session, schedule_id)
    version = repo.scenario_version(session, row.clinic_id)
    when = body.now or now()
    read_events({"events": body.events}, repo.scenario_of(version), repo.to_schedule(row),
                when)  # every problem of every event now, as a 422: nothing is queued
    job = repo.add_job(session, uuid.uuid4().hex, row.clinic_id, "replan", {
        "scenario_version": version.number, "schedule_id": schedule_id,
        "events": body.events, "now": when.isoformat(), "seed": body.seed,
        "workers": settings.workers, "time_limit": body.time_limit or settings.time_limit}, user)
    session.commit()
    return _accepted(request, response, job)


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=SIGNED_IN | R404,
            summary="A job's status and progress (any staff role)")
def get_job(job_id: str, user: AnyStaff, session: SessionDep, request: Request) -> JobPublic:
    return job_public(request, repo.job(session, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic,
             responses=SIGNED_IN | R404 | R409,
             summary="Cancel a queued or running job (front desk and up)")
def cancel_job(job_id: str, user: Desk, session: SessionDep, request: Request) -> JobPublic:
    job = repo.cancel_job(session, repo.job(session, job_id), user)
    session.commit()
    return job_public(request, job)
