"""The manager's what-if pages: pick or write variants, run them as a job, read the comparison,
the headroom, the bottleneck and the heat maps. Managers and admins only (a front-desk account
gets the 403 page). A form is checked before anything is queued, and a bad one comes back with
every message beside the box it belongs to and everything typed kept (HTTP 422).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.pages.heat import heat_rows, hours_open
from scheduler.pages.web import (
    Csrf,
    ManagerUser,
    PageSession,
    PostedForm,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import clinics, jobs, whatif

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

CHART = re.compile(r"[a-z0-9][a-z0-9-]{0,100}")
"""A chart's file name (without ``.png``) as the report writes them."""
JOB_ID = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]


def _default_form() -> dict[str, Any]:
    return {"preset": [], "variants": "", "time_limit": f"{whatif.TIME_LIMIT:g}",
            "headroom": True, "bottleneck": True}


def _whatif_page(request: Request, session: Session, form: dict[str, Any],
                 errors: list[Issue] | None = None, status_code: int = 200) -> HTMLResponse:
    clinic = current_clinic(request, session)
    version, scenario = clinics.scenario(session, clinic.id)
    return page(request, "whatif.html", {
        "clinic": clinic, "scenario": scenario, "version": version.number,
        "presets": whatif.presets(scenario), "form": form,
        "runs": whatif.past_runs(session, clinic.id), "most_seconds": whatif.MOST_SECONDS},
        status_code=status_code, errors=errors)


@router.get("/whatif", response_class=HTMLResponse)
def whatif_page(request: Request, user: ManagerUser, session: PageSession,
                again: str = "") -> HTMLResponse:
    """The form (``?again=JOB`` fills it with that run's choices) and the past runs."""
    form = _default_form()
    if re.fullmatch(r"[0-9a-f]{32}", again):
        try:
            job = whatif.whatif_job(session, again)
        except NotFound:
            job = None
        if job is not None:
            params = jobs.params_of(job)
            form.update(preset=list(params.preset), variants=params.variants_text,
                        time_limit=f"{params.time_limit:g}", headroom=params.headroom,
                        bottleneck=params.bottleneck)
    return _whatif_page(request, session, form)


@router.post("/whatif", response_class=HTMLResponse, dependencies=[Csrf])
def whatif_run(request: Request, user: ManagerUser, session: PageSession,
               raw: PostedForm) -> Response:
    form = {"preset": [str(v) for v in raw.getlist("preset")],
            "variants": str(raw.get("variants", "")),
            "time_limit": str(raw.get("time_limit", "")).strip(),
            "headroom": bool(raw.get("headroom")), "bottleneck": bool(raw.get("bottleneck"))}
    settings = settings_of(request)
    try:
        job = whatif.queue(session, current_clinic(request, session).id, form,
                           settings.data_dir, settings.seed, user,
                           cap=settings.max_queued_per_user)
    except InvalidInput as exc:
        return _whatif_page(request, session, form, exc.issues, 422)
    return redirect(f"/jobs/{job.id}")


# ============================================================================ what-if: results
def headroom_text(v: dict[str, Any]) -> str:
    """The headroom as the report words it (``≥ 4``, ``2–9``, ``+3``, ``0``, ``—``)."""
    n, state = v.get("headroom_patients", 0), v.get("headroom_status", "")
    most = v.get("headroom_most")
    if state == "SKIPPED":
        return "—"
    if state == "LIMIT":
        return f"≥ {n} (search limit)"
    if state == "OPTIMAL":
        return f"+{n}" if n else "0"
    return f"{n}–{most}" if most is not None else f"≥ {n}"


def headroom_note(v: dict[str, Any]) -> str:
    """How the headroom is known: what found it, what bounds it (LP or CP-SAT)."""
    return whatif.headroom_note(v.get("headroom_found_by", ""), v.get("headroom_proof", ""),
                                v.get("headroom_most"), v.get("headroom_status", ""))


def _usage_chart(name: str) -> str:
    return "usage-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant")


@router.get("/whatif/{job_id}", response_class=HTMLResponse)
def whatif_result(request: Request, job_id: JOB_ID, user: ManagerUser,
                  session: PageSession) -> Response:
    job = whatif.whatif_job(session, job_id)
    if job.status == "queued":
        return RedirectResponse(f"/jobs/{job.id}", status_code=status.HTTP_303_SEE_OTHER)
    tz = clinics.scenario(session, job.clinic_id)[1].tz  # times on the clinic's wall clock
    if job.status == "running":  # the LP's first answers while the solves run
        progress = job.progress or {}
        return page(request, "whatif_result.html", {
            "job": job, "doc": None, "running": True, "tz": tz,
            "first": whatif.first_answers(job), "done": progress.get("done"),
            "total": progress.get("total")})
    out, doc = whatif.report(settings_of(request).data_dir, job)
    if doc is None:
        why = (f"This run {job.status}" + (f": {job.error}" if job.error else ".")
               if job.status != "done" else "This run's report is no longer on the server.")
        return page(request, "whatif_result.html", {"job": job, "doc": None, "why": why, "tz": tz},
                    status_code=200 if job.status != "done" else 404)
    compared = [v for v in doc["variants"] if "sweep_cell" not in v]
    charts = {p.stem for p in (out / "charts").glob("*.png")}
    grids = [v["usage"][k] for v in compared for k in ("rooms", "nurses")]
    hours = hours_open(grids)
    busy = [{"name": v["variant"], "chart": _usage_chart(v["variant"]),
             "rooms": heat_rows(v["usage"]["rooms"], hours),
             "nurses": heat_rows(v["usage"]["nurses"], hours)} for v in compared]
    protocols = sorted({p for v in compared for p in v.get("by_protocol", {})})
    return page(request, "whatif_result.html", {
        "job": job, "doc": doc, "tz": tz, "compared": compared, "charts": charts, "busy": busy,
        "hours": hours, "protocols": protocols, "resources": whatif.RESOURCES,
        "combined": whatif.COMBINED, "base": whatif.BASE, "headroom_text": headroom_text,
        "headroom_note": headroom_note,
        "weekdays": whatif.WEEKDAY_NAMES})


@router.get("/whatif/{job_id}/charts/{name}.png")
def whatif_chart(request: Request, job_id: JOB_ID, name: str, user: ManagerUser,
                 session: PageSession) -> FileResponse:
    job = whatif.whatif_job(session, job_id)
    path = whatif.report_dir(settings_of(request).data_dir, job.id) / "charts" / f"{name}.png"
    if not CHART.fullmatch(name) or not path.is_file():
        raise NotFound("chart in this run", name)
    return FileResponse(path, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


@router.get("/whatif/{job_id}/{name}")
def whatif_file(request: Request, job_id: JOB_ID, name: str, user: ManagerUser,
                session: PageSession) -> FileResponse:
    """The report's own files to keep: ``comparison.csv`` (a download) and the
    self-contained ``report.html``, opened in the browser (inline, under a policy of its own:
    its inline style and its ``data:`` charts, no script, nothing fetched)."""
    types = {"comparison.csv": "text/csv; charset=utf-8",
             "report.html": "text/html; charset=utf-8"}
    job = whatif.whatif_job(session, job_id)
    path = whatif.report_dir(settings_of(request).data_dir, job.id) / name
    if name not in types or not path.is_file():
        raise NotFound("file in this run", name)
    if name == "report.html":
        return FileResponse(path, media_type=types[name],
                            filename=f"whatif-{job.id[:8]}-{name}",
                            content_disposition_type="inline",
                            headers={"Content-Security-Policy": REPORT_CSP})
    return FileResponse(path, media_type=types[name], filename=f"whatif-{job.id[:8]}-{name}",
                        content_disposition_type="attachment")


REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
"""The self-contained report's policy: it carries its own ``<style>`` and ``data:`` images,
and runs no script (the pages' policy, :data:`scheduler.pages.web.CSP`, would unstyle it)."""


