"""The desk's messages page: what the outbox holds, sent and gave up on (with the mail
server's words), a failed message tried again, and the patients who asked for no more
reminders (the desk can opt them out or back in at their word)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from scheduler.pages.web import (
    Csrf,
    PageSession,
    PageUser,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import clinics, outbox

router = APIRouter(include_in_schema=False)


@router.get("/messages", response_class=HTMLResponse)
def messages(request: Request, user: PageUser, session: PageSession) -> HTMLResponse:
    clinic = current_clinic(request, session)
    _, scenario = clinics.scenario(session, clinic.id)
    view = outbox.overview(session, clinic.id, settings_of(request).smtp_host is not None)
    names = {p.id: p.name or p.id for p in scenario.patients}
    names.update({s.id: s.name or s.id for s in scenario.staff})
    return page(request, "messages.html", {
        "clinic": clinic, "view": view, "names": names, "tz": scenario.clinic.timezone,
        "patients": sorted(scenario.patients, key=lambda p: (p.name or p.id).lower())})


@router.post("/messages/{message_id}/retry", dependencies=[Csrf])
def retry(request: Request, message_id: int, user: PageUser, session: PageSession) -> Response:
    outbox.retry(session, current_clinic(request, session).id, message_id)
    return redirect("/messages")


@router.post("/messages/opt-out", dependencies=[Csrf])
def opt_out(request: Request, user: PageUser, session: PageSession,
            patient: str = Form(max_length=64), action: str = Form(pattern="^(out|in)$")
            ) -> Response:
    clinic = current_clinic(request, session)
    _, scenario = clinics.scenario(session, clinic.id)
    if any(p.id == patient for p in scenario.patients):
        if action == "out":
            outbox.opt_out(session, clinic.id, patient)
        else:
            outbox.opt_in(session, clinic.id, patient)
    return redirect("/messages")
