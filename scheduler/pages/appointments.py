"""One appointment of a draft (its page, move, cancel), the unplaced sessions, "why not
here?" and placing a session by hand; the independent checker judges every change."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.pages.forms import context, local_start, paths_of, slot, version_of
from scheduler.pages.web import (
    Csrf,
    FormFields,
    PageSession,
    PageUser,
    PostedForm,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import drafts, slots, weeks
from scheduler.service.board import week_dates
from scheduler.storage.tables import ScheduleRow, User

router = APIRouter(include_in_schema=False)


def schedule_context(session: Session, schedule_id: int) -> dict[str, Any]:
    row = drafts.row(session, schedule_id)
    doc = drafts.document(row)
    return {**context(row, drafts.judged_against(session, row), doc),
            "live": drafts.latest_published(session, row.clinic_id),
            "superseded": drafts.superseded(session, row),
            "marks": weeks.attendance(session, row.clinic_id, doc)
            if row.status == "published" else {}, "mark_labels": weeks.LABELS}


def number_of(form: Any) -> int:
    """The published version number the form was read at (a 409 when another came since)."""
    raw = str(form.get("number", ""))
    if not raw.isdigit():
        raise InvalidInput([Issue("number", "is required (reload the page)")])
    return int(raw)


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
    return page(request, "appointment.html", {**ctx, "a": found, "form": form,
                                              "past": found.start < settings_of(request).now()},
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
    nearest = [] if not problems else slots.nearest(session, schedule_id, form["patient"],
                                                    start)
    verdict = {"fits": not problems, "problems": problems, "appointment": added,
               "nearest": nearest}
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


# ----------------------------------------------------------------------------- the live schedule
def _live_context(request: Request, session: Session) -> dict[str, Any]:
    clinic_id = current_clinic(request, session).id
    live = drafts.latest_published(session, clinic_id)
    if live is None:
        raise NotFound("published schedule of clinic", str(clinic_id))
    return schedule_context(session, live.id)


def _moved(request: Request, session: Session, ctx: dict[str, Any], ref: str, user: User,
           form: FormFields) -> ScheduleRow:
    """The live move the form and the board's drag both ask for (the date, time, room and
    staff fields), judged by the checker and published as the next version."""
    start, staff = slot(ctx["scenario"], form)
    return drafts.live_move(session, ctx["row"].clinic_id, ref, start, form.get("room") or None,
                            staff or None, number_of(form), user, settings_of(request).now())


@router.post("/live/appointments/{ref}/move", response_class=HTMLResponse, dependencies=[Csrf])
def live_move(request: Request, ref: str, user: PageUser, session: PageSession,
              form: FormFields) -> Response:
    """Move an appointment of the live schedule: a new published version, feeds and all."""
    ctx = _live_context(request, session)
    try:
        row = _moved(request, session, ctx, ref, user, form)
    except InvalidInput as exc:
        return _appointment(request, ctx, ref, form, paths_of(exc.issues, ref), 422)
    return redirect(f"/board?schedule={row.id}&zoom=day&day={form['date']}&live=1"
                    f"&moved={quote(ref)}")


@router.post("/live/appointments/{ref}/move.json", dependencies=[Csrf])
def live_move_json(request: Request, ref: str, user: PageUser, session: PageSession,
                   form: FormFields) -> JSONResponse:
    """The board's drag on the live schedule: the move judged and stored as by the form
    (:func:`live_move`), answered in JSON for the board's script: the new published
    version (200), the checker's words in names (422), or that someone changed the schedule
    first (409); nothing is stored unless it is a 200."""
    ctx = _live_context(request, session)
    try:
        row = _moved(request, session, ctx, ref, user, form)
    except InvalidInput as exc:
        return JSONResponse({"problems": [i.message for i in exc.issues]}, status_code=422)
    except Conflict as exc:
        session.rollback()
        return JSONResponse({"problems": [str(exc)]}, status_code=409)
    return JSONResponse({"schedule": row.id, "number": row.number, "moved": ref})


@router.post("/live/appointments/{ref}/cancel", dependencies=[Csrf])
def live_cancel(request: Request, ref: str, user: PageUser, session: PageSession,
                form: PostedForm) -> Response:
    """Cancel an appointment of the live schedule: a new published version."""
    ctx = _live_context(request, session)
    reason = str(form.get("reason") or "").strip() or "cancelled by the front desk"
    row = drafts.live_cancel(session, ctx["row"].clinic_id, ref, reason, number_of(form), user,
                             settings_of(request).now())
    return redirect(f"/board?schedule={row.id}&live=1")


@router.post("/live/undo", dependencies=[Csrf])
def live_undo(request: Request, user: PageUser, session: PageSession,
              form: PostedForm) -> Response:
    """Undo the last change of the live schedule: a new published version equal to the one
    before it."""
    clinic = current_clinic(request, session)
    row = drafts.undo(session, clinic.id, number_of(form), user)
    return redirect(f"/board?schedule={row.id}&live=1")
