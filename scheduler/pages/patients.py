"""The desk's patients: the list with search, a patient's page (course, sessions, feed link),
and issuing, rotating or revoking their feed link."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.pages.forms import Names
from scheduler.pages.web import (
    Csrf,
    FormFields,
    PageSession,
    PageUser,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import drafts, feeds, patients, selfservice, slots

router = APIRouter(include_in_schema=False)


@router.get("/patients", response_class=HTMLResponse)
def patients_page(request: Request, user: PageUser, session: PageSession,
                  q: str = "") -> HTMLResponse:
    scenario, found = patients.find(session, current_clinic(request, session).id, q)
    return page(request, "patients.html", {"patients": found, "q": q, "scenario": scenario})


def _patient(request: Request, session: Session, patient_id: str) -> dict[str, Any]:
    view = patients.view(session, current_clinic(request, session).id, patient_id)
    return {"clinic": view.clinic, "p": view.patient, "protocol": view.protocol,
            "sessions": view.sessions, "link": view.link, "tz": view.tz, "fresh": None,
            "course": view.course, "who": Names.of(view.scenario),
            "slots": _slots(session, view.clinic.id, patient_id)}


def _slots(session: Session, clinic_id: int, patient_id: str) -> slots.Found | None:
    """The patient's next free slots on the live schedule (None: nothing is published)."""
    try:
        return slots.next_slots(session, clinic_id, patient_id)
    except NotFound:
        return None


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: str, user: PageUser,
                 session: PageSession, sent: str | None = None) -> HTMLResponse:
    return page(request, "patient.html", {**_patient(request, session, patient_id),
                                          "sent": sent})


@router.post("/patients/{patient_id}/book", response_class=HTMLResponse, dependencies=[Csrf])
def book_slot(request: Request, patient_id: str, user: PageUser, session: PageSession,
              form: FormFields) -> Response:
    """Book one of the listed slots on the live schedule (one click): a new published version
    with its feeds, then the patient's page with the new session; the checker's words (or
    that someone changed the schedule first) on the same page otherwise."""
    clinic_id = current_clinic(request, session).id
    issues = []
    start: datetime | None = None
    try:
        start = datetime.fromisoformat(form.get("start", ""))
    except ValueError:
        issues.append(Issue("start", "is not a date and time (reload the page)"))
    if start is not None and start.tzinfo is None:
        issues.append(Issue("start", "needs a UTC offset (reload the page)"))
    number = form.get("number", "")
    if not number.isdigit():
        issues.append(Issue("number", "is required (reload the page)"))
    staff = {k.removeprefix("staff."): v for k, v in form.items()
             if k.startswith("staff.") and v}
    try:
        if issues or start is None:
            raise InvalidInput(issues)
        drafts.live_book(session, clinic_id, patient_id, start, form.get("room") or None,
                         staff or None, int(number), user)
    except InvalidInput as exc:
        return page(request, "patient.html", _patient(request, session, patient_id),
                    status_code=422, errors=exc.issues)
    except Conflict as exc:
        session.rollback()
        return page(request, "patient.html", _patient(request, session, patient_id),
                    status_code=409, errors=[Issue("number", str(exc))])
    return redirect(f"/patients/{patient_id}?booked={start.isoformat()}")


@router.post("/patients/{patient_id}/feed", response_class=HTMLResponse, dependencies=[Csrf])
def patient_feed(request: Request, patient_id: str, user: PageUser, session: PageSession,
                 form: FormFields) -> Response:
    """Issue, rotate or revoke the patient's feed link; a new link is shown this once."""
    action = form.get("action", "")
    ctx = _patient(request, session, patient_id)
    clinic_id = ctx["clinic"].id
    if action == "revoke":
        feeds.revoke_link(session, clinic_id, "patient", patient_id, user)
        return redirect(f"/patients/{patient_id}")
    if action not in ("issue", "rotate"):
        raise InvalidInput([Issue("action", "is one of issue, rotate, revoke")])
    if action == "rotate" and ctx["link"] is not None:
        token, row = feeds.rotate_link(session, clinic_id, "patient", patient_id, user)
    else:
        token, row = feeds.issue_link(session, clinic_id, "patient", patient_id, user)
    url, webcal = settings_of(request).feed_urls(str(request.base_url), token)
    qr = segno.make(webcal, error="m").svg_data_uri(scale=5, border=2)
    ctx.update(link=row, fresh={"url": url, "webcal": webcal, "qr": qr})
    response = page(request, "patient.html", ctx, status_code=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/patients/{patient_id}/send-links", dependencies=[Csrf])
def send_links(request: Request, patient_id: str, user: PageUser, session: PageSession
               ) -> Response:
    """E-mail the patient new calendar and self-service links (the old ones stop)."""
    clinic_id = _patient(request, session, patient_id)["clinic"].id
    address = selfservice.send_links(session, clinic_id, patient_id, user,
                                     settings_of(request), str(request.base_url))
    return redirect(f"/patients/{patient_id}?sent={quote(address)}")
