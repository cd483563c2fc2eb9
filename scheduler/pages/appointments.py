"""One appointment of a draft (its page, move, cancel), the unplaced sessions, "why not
here?" and placing a session by hand; the independent checker judges every change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.pages.forms import context, local_start, paths_of, slot, version_of
from scheduler.pages.web import (
    Csrf,
    FormFields,
    PageSession,
    PageUser,
    PostedForm,
    page,
    redirect,
)
from scheduler.service import drafts
from scheduler.service.board import week_dates

router = APIRouter(include_in_schema=False)


def schedule_context(session: Session, schedule_id: int) -> dict[str, Any]:
    row = drafts.row(session, schedule_id)
    return context(row, drafts.scenario_of(session, row), drafts.document(row))


@router.get("/schedules/{schedule_id}/appointments/{ref}", response_class=HTMLResponse)
def appointment_page(request: Request, schedule_id: int, ref: str, user: PageUser,
                     session: PageSession) -> HTMLResponse:
    return _appointment(request, schedule_context(session, schedule_id), ref, {}, [])


def _appointment(request: Request, ctx: dict[str, Any], ref: str, values: dict[str, str],
                 errors: list[Issue], status_code: int = 200) -> HTMLResponse:
    found = next((a for a in ctx["schedule"].appointments if a.id == ref), None)
    if found is None:
        raise NotFound(f"appointment in schedule {ctx['row'].id}", ref)
    local = found.start.astimezone(ctx["tz"])
    form = {"date": local.date().isoformat(), "time": f"{local:%H:%M}", "room": found.room,
            **{f"staff.{k}": v for k, v in found.staff.items()}, **values}
    return page(request, "appointment.html", {**ctx, "a": found, "form": form},
                status_code=status_code, errors=errors)


@router.post("/schedules/{schedule_id}/appointments/{ref}/cancel", dependencies=[Csrf])
def cancel(request: Request, schedule_id: int, ref: str, user: PageUser, session: PageSession,
           form: PostedForm) -> Response:
    reason = str(form.get("reason") or "").strip() or "cancelled by the front desk"
    row = drafts.cancel(session, schedule_id, ref, reason, version_of(form), user)
    return redirect(f"/board?schedule={row.id}")


@router.post("/schedules/{schedule_id}/appointments/{ref}/move", response_class=HTMLResponse,
             dependencies=[Csrf])
def move(request: Request, schedule_id: int, ref: str, user: PageUser, session: PageSession,
         form: FormFields) -> Response:
    ctx = schedule_context(session, schedule_id)
    try:
        start, staff = slot(ctx["scenario"], form)
        row = drafts.move(session, schedule_id, ref, start, form.get("room") or None,
                          staff or None, version_of(form), user)
    except InvalidInput as exc:
        return _appointment(request, ctx, ref, form, paths_of(exc.issues, ref), 422)
    return redirect(f"/board?schedule={row.id}&zoom=day&day={form['date']}")


@router.get("/schedules/{schedule_id}/unplaced", response_class=HTMLResponse)
def unplaced_page(request: Request, schedule_id: int, user: PageUser, session: PageSession,
                  patient: str = "", day: Annotated[str, Query(alias="date")] = "",
                  clock: Annotated[str, Query(alias="time")] = "", room: str = ""
                  ) -> HTMLResponse:
    """The unplaced sessions and the "why not here?" form, filled from the query (a click on
    an empty stretch of the board sends its day, time and room)."""
    ctx = schedule_context(session, schedule_id)
    first = week_dates(ctx["scenario"])
    form = {"patient": patient, "date": day or (first[0].isoformat() if first else ""),
            "time": clock or "09:00", "room": room or ctx["scenario"].rooms[0].id}
    return page(request, "unplaced.html", {**ctx, "form": form, "verdict": None})


@router.post("/schedules/{schedule_id}/whynot", response_class=HTMLResponse,
             dependencies=[Csrf])
def why_not(request: Request, schedule_id: int, user: PageUser, session: PageSession,
            form: FormFields) -> HTMLResponse:
    ctx = schedule_context(session, schedule_id)
    try:
        start, issues = local_start(ctx["scenario"], form.get("date", ""), form.get("time", ""))
        if not form.get("patient"):
            issues.append(Issue("patient", "pick a patient"))
        if issues or start is None:
            raise InvalidInput(issues)
        added, problems = drafts.why_not(session, schedule_id, form["patient"], start,
                                         form.get("room", ""))
    except InvalidInput as exc:
        return page(request, "unplaced.html", {**ctx, "form": form, "verdict": None},
                    status_code=422, errors=exc.issues)
    verdict = {"fits": not problems, "problems": problems, "appointment": added}
    return page(request, "unplaced.html", {**ctx, "form": form, "verdict": verdict})


@router.post("/schedules/{schedule_id}/place", response_class=HTMLResponse, dependencies=[Csrf])
def place(request: Request, schedule_id: int, user: PageUser, session: PageSession,
          form: FormFields) -> Response:
    ctx = schedule_context(session, schedule_id)
    try:
        start, staff = slot(ctx["scenario"], form)
        row = drafts.place(session, schedule_id, form.get("patient", ""), start,
                           form.get("room", ""), staff or None, version_of(form), user)
    except InvalidInput as exc:
        return page(request, "unplaced.html", {**ctx, "form": form, "verdict": None},
                    status_code=422, errors=paths_of(exc.issues, ""))
    return redirect(f"/board?schedule={row.id}&zoom=day&day={form['date']}")
