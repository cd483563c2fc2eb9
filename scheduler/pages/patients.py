"""The desk's patients: the list with search, a patient's page (course, sessions, feed link),
and issuing, rotating or revoking their feed link."""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, Issue
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
from scheduler.service import feeds, patients

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
            "course": view.course, "who": Names.of(view.scenario)}


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: str, user: PageUser,
                 session: PageSession) -> HTMLResponse:
    return page(request, "patient.html", _patient(request, session, patient_id))


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
