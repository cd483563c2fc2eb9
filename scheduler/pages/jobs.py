"""A job's page: live progress, cancel, a re-plan's first answer while it improves, and where its
result is when it is done."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from scheduler.pages.web import Csrf, PageSession, PageUser, page, redirect
from scheduler.service import jobs
from scheduler.storage.tables import Job

router = APIRouter(include_in_schema=False)


def _next(job: Job) -> str | None:
    if job.status != "done" or job.kind == "simulate":  # its figures are the API's answer
        return None
    if job.kind == "whatif":
        return f"/whatif/{job.id}"
    if job.kind == "replan":
        return f"/schedules/{job.result_schedule_id}/changes"
    return f"/board?schedule={job.result_schedule_id}"


def _first(job: Job) -> dict[str, object] | None:
    """A running re-plan's first answer: its counts and where the desk accepts it."""
    got = jobs.first_answer(job)
    if got is None or job.status not in ("queued", "running"):
        return None
    return {"placed": got["placed"], "wanted": got["wanted"], "moved": got["moved"],
            "href": f"/schedules/{got['schedule_id']}/changes"}


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, user: PageUser, session: PageSession
             ) -> HTMLResponse:
    job = jobs.job(session, job_id)
    return page(request, "job.html", {"job": job, "next": _next(job), "first": _first(job)})


@router.get("/jobs/{job_id}/progress.json")
def job_progress(job_id: str, user: PageUser, session: PageSession) -> JSONResponse:
    job = jobs.job(session, job_id)
    return JSONResponse({"status": job.status, "progress": job.progress, "error": job.error,
                         "next": _next(job), "first": _first(job)},
                        headers={"Cache-Control": "no-store"})


@router.post("/jobs/{job_id}/cancel", dependencies=[Csrf])
def cancel_job(job_id: str, user: PageUser, session: PageSession) -> Response:
    jobs.cancel(session, job_id, user)
    return redirect(f"/jobs/{job_id}")
