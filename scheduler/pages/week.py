"""The week board (the schedule asked for, else the current one; rooms or nurses; a week or a
day; each day's simulated risk of overtime and its fragile sessions), solving the week as a
job, and publishing a draft."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.documents import Schedule
from scheduler.errors import Conflict, Issue
from scheduler.model import Scenario
from scheduler.naming import Namer
from scheduler.pages import versions
from scheduler.pages.forms import Names, names, version_of
from scheduler.pages.web import (
    Csrf,
    PageSession,
    PageUser,
    PostedForm,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import clinics, drafts, jobs, simulation
from scheduler.service.board import day_panels, initials, week_dates
from scheduler.service.jobs import JobParams
from scheduler.storage.tables import now

router = APIRouter(include_in_schema=False)


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, user: PageUser, session: PageSession,
          schedule: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
          day: str | None = None, view: str = "rooms", zoom: str = "week") -> HTMLResponse:
    return page(request, "board.html", board_context(request, session, schedule, day, view,
                                                     zoom))


def board_context(request: Request, session: Session, schedule: int | None = None,
                  day: str | None = None, view: str = "rooms", zoom: str = "week"
                  ) -> dict[str, Any]:
    """What the board shows: the schedule asked for (else the current one), its days."""
    clinic = current_clinic(request, session)
    row = drafts.pick(session, clinic.id, schedule)
    scenario = (clinics.scenario(session, clinic.id)[1] if row is None
                else drafts.scenario_of(session, row))
    days = week_dates(scenario)
    chosen: date | None = None
    if day:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            chosen = None
    if zoom == "day":
        chosen = chosen if chosen in days else (days[0] if days else None)
        shown = [chosen] if chosen else []
    else:
        shown = days
    doc = drafts.document(row) if row is not None else None
    panels = day_panels(scenario, doc, shown, now()) if doc is not None else []
    risk = simulation.board_risk(session, row) if row is not None and doc is not None and \
        doc.appointments else {}
    running = [j for j in jobs.jobs_of(session, clinic.id) if j.status in ("queued", "running")]
    live = drafts.latest_published(session, clinic.id)
    return {
        "live": live, "superseded": drafts.superseded(session, row) if row is not None else None,
        "clinic": clinic, "row": row, "schedule": doc, "scenario": scenario, "panels": panels,
        "days": days, "day": chosen, "view": "nurses" if view == "nurses" else "rooms",
        "zoom": "day" if zoom == "day" else "week", "names": names(scenario),
        "who": Names.of(scenario), "say": Namer.of(scenario, doc.appointments if doc else ()),
        "tz": scenario.tz, "rows": drafts.rows(session, clinic.id), "running": running,
        "scale": 1.25 if zoom == "day" else 1.15, "initials": initials, "form": {},
        "risk": risk, "fragile": {i for r in risk.values() for i in r.fragile},
        "published_check": versions.banner(session, clinic.id),
        "moved": moved_note(scenario, doc, request.query_params.get("moved"))
        if request.query_params.get("live") else None}


def moved_note(scenario: Scenario, doc: Schedule | None, ref: str | None) -> str | None:
    """What a move on the live schedule did, in names and the clinic's time (the checker
    accepted it); None when there is nothing to say."""
    found = next((a for a in doc.appointments if a.id == ref), None) if doc and ref else None
    if found is None:
        return None
    who = Names.of(scenario)
    where = f"in {who.room(found.room)}" if found.room else "by video"
    staff = ", ".join(who.staff(v) for v in found.staff.values())
    return (f"Moved {who.patient(found.patient)} to "
            f"{found.start.astimezone(scenario.tz):%a %d %b %H:%M}–"
            f"{found.end.astimezone(scenario.tz):%H:%M} {where}"
            f"{' with ' + staff if staff else ''}: the checker found every hard rule kept.")


@router.post("/solve", dependencies=[Csrf])
def solve(request: Request, user: PageUser, session: PageSession,
          time_limit: Annotated[str, Form()] = "") -> Response:
    clinic = current_clinic(request, session)
    settings = settings_of(request)
    params = JobParams(workers=settings.workers, time_limit=settings.time_limit,
                       seed=settings.seed)
    if time_limit.strip():
        try:
            seconds = float(time_limit)
            if not 1 <= seconds <= 3600:
                raise ValueError
        except ValueError:
            return page(request, "board.html",
                        {**board_context(request, session), "form": {"time_limit": time_limit}},
                        status_code=422, errors=[Issue(
                            "time_limit", f"{time_limit!r}: give seconds between 1 and 3600")])
        params.time_limit = seconds
    job = jobs.queue_solve(session, clinic.id, params, user, cap=settings.max_queued_per_user)
    return redirect(f"/jobs/{job.id}")


@router.post("/schedules/{schedule_id}/publish", dependencies=[Csrf])
def publish(request: Request, schedule_id: int, user: PageUser, session: PageSession,
            form: PostedForm) -> Response:
    try:
        row = drafts.publish(session, schedule_id, version_of(form), user)
    except Conflict as exc:  # superseded meanwhile, or changed: the board says so, nothing stored
        session.rollback()
        context = board_context(request, session, schedule_id)
        return page(request, "board.html", {**context, "refused": str(exc)}, status_code=409)
    return redirect(f"/board?schedule={row.id}&published=1")
