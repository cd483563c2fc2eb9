"""Long work as jobs: solve a clinic's week, re-plan a schedule after events, simulate a
schedule's days; poll, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from scheduler.api.deps import AnyStaff, Desk, RowId, SessionDep, SettingsDep
from scheduler.api.errors import R400, R404, R409, R422, R429, SIGNED_IN
from scheduler.api.schemas import (
    FirstAnswer,
    JobPublic,
    ReplanRequest,
    SimulateRequest,
    SolveRequest,
)
from scheduler.service import jobs, simulation
from scheduler.service.jobs import JobParams
from scheduler.storage.tables import Job, now

router = APIRouter(tags=["jobs"], responses=R422)  # ids in the path


def job_public(request: Request, job: Job) -> JobPublic:
    result = (str(request.url_for("get_schedule", schedule_id=job.result_schedule_id))
              if job.result_schedule_id is not None else None)
    got = jobs.first_answer(job)
    first = None if got is None else FirstAnswer(
        schedule_id=got["schedule_id"], placed=got["placed"], wanted=got["wanted"],
        moved=got["moved"], seconds=got.get("seconds"),
        url=str(request.url_for("get_schedule", schedule_id=got["schedule_id"])))
    return JobPublic(id=job.id, clinic_id=job.clinic_id, kind=job.kind,
                     status=job.status,
                     progress=job.progress, result_schedule_id=job.result_schedule_id,
                     result=job.result,
                     error=job.error, created_at=job.created_at, started_at=job.started_at,
                     finished_at=job.finished_at,
                     url=str(request.url_for("get_job", job_id=job.id)), result_url=result,
                     first_answer=first)


def _accepted(request: Request, response: Response, job: Job) -> JobPublic:
    body = job_public(request, job)
    response.headers["Location"] = body.url
    return body


@router.post("/clinics/{clinic_id}/solve", response_model=JobPublic,
             status_code=status.HTTP_202_ACCEPTED,
             responses=R400 | SIGNED_IN | R404 | R422 | R429,
             summary="Solve the clinic's week as a job: poll the job, then read its draft "
                     "(front desk and up)")
def solve(clinic_id: RowId, body: SolveRequest, user: Desk, session: SessionDep,
          settings: SettingsDep, request: Request, response: Response) -> JobPublic:
    job = jobs.queue_solve(session, clinic_id, JobParams(
        seed=body.seed, workers=settings.workers,
        time_limit=body.time_limit or settings.time_limit), user,
        cap=settings.max_queued_per_user)
    return _accepted(request, response, job)


@router.post("/schedules/{schedule_id}/replan", response_model=JobPublic,
             status_code=status.HTTP_202_ACCEPTED,
             responses=R400 | SIGNED_IN | R404 | R422 | R429,
             summary="Re-plan a schedule after events as a job; its draft lists the changes "
                     "(front desk and up)")
def replan(schedule_id: RowId, body: ReplanRequest, user: Desk, session: SessionDep,
           settings: SettingsDep, request: Request, response: Response) -> JobPublic:
    job = jobs.queue_replan(session, schedule_id, body.events, body.now or now(), JobParams(
        seed=body.seed, workers=settings.workers,
        time_limit=body.time_limit or settings.time_limit), user,
        cap=settings.max_queued_per_user)
    return _accepted(request, response, job)


@router.post("/schedules/{schedule_id}/simulate", response_model=JobPublic,
             status_code=status.HTTP_202_ACCEPTED,
             responses=R400 | SIGNED_IN | R404 | R422 | R429,
             summary="Simulate a schedule's days against overruns, late arrivals, no-shows and "
                     "absences as a job; its figures are the job's result (front desk and up)")
def simulate(schedule_id: RowId, body: SimulateRequest, user: Desk, session: SessionDep,
             settings: SettingsDep, request: Request, response: Response) -> JobPublic:
    job = simulation.queue(session, schedule_id, body.runs, body.seed, user,
                           cap=settings.max_queued_per_user)
    return _accepted(request, response, job)


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=SIGNED_IN | R404,
            summary="A job's status and progress (any staff role)")
def get_job(job_id: str, user: AnyStaff, session: SessionDep, request: Request) -> JobPublic:
    return job_public(request, jobs.job(session, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic,
             responses=SIGNED_IN | R404 | R409,
             summary="Cancel a queued or running job (front desk and up)")
def cancel_job(job_id: str, user: Desk, session: SessionDep, request: Request) -> JobPublic:
    return job_public(request, jobs.cancel(session, job_id, user))
