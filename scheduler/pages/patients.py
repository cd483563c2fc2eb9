"""The desk's patients: the list with search, a patient's page (course, sessions, feed link),
issuing, rotating or revoking their feed link; the intake form of a new referral, editing,
discharge and re-admission; and importing patients from an EHR's CSV through a preview."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUpload

from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.pages.forms import Names
from scheduler.pages.patient_form import (
    DAY_NAMES,
    course_options,
    form_of,
    form_paths,
    item_of,
    next_id,
)
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
from scheduler.service import clinics, drafts, feeds, patients, selfservice, slots
from scheduler.storage.tables import User

router = APIRouter(include_in_schema=False)


@router.get("/patients", response_class=HTMLResponse)
def patients_page(request: Request, user: PageUser, session: PageSession,
                  q: str = "", discharged: str = "") -> HTMLResponse:
    scenario, everyone = patients.find(session, current_clinic(request, session).id, q,
                                       discharged=True)
    found = everyone if discharged else [p for p in everyone if p.discharged is None]
    return page(request, "patients.html", {"patients": found, "q": q, "scenario": scenario,
                                           "discharged": bool(discharged),
                                           "hidden": len(everyone) - len(found),
                                           "who": Names.of(scenario)})


# ----------------------------------------------------------------------------- intake, edit
def _form_page(request: Request, session: Session, form: dict[str, Any], version: int,
               patient_id: str | None, status_code: int = 200,
               errors: list[Issue] | None = None, conflict: str | None = None
               ) -> HTMLResponse:
    clinic = current_clinic(request, session)
    current, scenario = clinics.scenario(session, clinic.id)
    data = current.data
    return page(request, "patient_form.html", {
        "form": form, "version": version, "patient_id": patient_id, "scenario": scenario,
        "courses": course_options(data), "days": DAY_NAMES, "conflict": conflict,
        "latest": current.number,
        "protocols": [("", "(pick a protocol)")] + [(p.id, f"{p.name} · {p.id}")
                                                    for p in scenario.protocols],
        "staff": [(m.id, m.name or m.id, m.role) for m in scenario.staff],
    }, status_code=status_code, errors=errors)


@router.get("/patients/new", response_class=HTMLResponse)
def intake_page(request: Request, user: PageUser, session: PageSession) -> HTMLResponse:
    clinic_id = current_clinic(request, session).id
    current, listed = clinics.items(session, clinic_id, "patients")
    form = form_of({"id": next_id([str(p.get("id")) for p in listed])})
    form["sessions"] = ""
    return _form_page(request, session, form, current.number, None)


def _save(request: Request, session: Session, form: PostedForm, user: User,
          patient_id: str | None) -> Response:
    """Read the form, store the patient (a new scenario version) and go to their page; the
    form again with every problem beside its field (nothing stored), or a 409 when someone
    saved first."""
    clinic_id = current_clinic(request, session).id
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    staff = [str(v) for v in form.getlist("preferred_staff")]
    values = {**fields, "preferred_staff": staff}
    raw_version = fields.get("version", "")
    version = int(raw_version) if raw_version.isdigit() and len(raw_version) < 10 else 0
    current, listed = clinics.items(session, clinic_id, "patients")
    before = None
    if patient_id is not None:
        before = next((p for p in listed if p.get("id") == patient_id), None)
        if before is None:
            raise NotFound("patient", patient_id)
        fields["id"] = patient_id
    item, issues = item_of(fields, staff, before)
    if patient_id is None and any(p.get("id") == item.get("id") for p in listed):
        taken = next(p for p in listed if p.get("id") == item.get("id"))
        issues.append(Issue("id", f"is taken by {taken.get('name') or taken.get('id')}: "
                                  "pick another id"))
    if not issues and version != current.number:
        return _form_page(request, session, values, version, patient_id, 409,
                          conflict=_conflict(version, current.number))
    index = next((i for i, p in enumerate(listed) if p.get("id") == patient_id), len(listed))
    try:
        if issues:  # the form's own problems, and the scenario's about the rest at once
            raise InvalidInput(patients.problems(session, clinic_id, item, patient_id))
        patients.save(session, clinic_id, item, user, version, patient_id)
    except InvalidInput as exc:
        session.rollback()
        seen = {i.path for i in issues}
        errors = issues + [i for i in form_paths(exc.issues, index) if i.path not in seen]
        return _form_page(request, session, values, version, patient_id, 422, errors=errors)
    except Conflict:
        session.rollback()
        latest = clinics.version(session, clinic_id).number
        return _form_page(request, session, values, version, patient_id, 409,
                          conflict=_conflict(version, latest))
    return redirect(f"/patients/{quote(str(item['id']), safe='')}?saved=1")


def _conflict(read: int, latest: int) -> str:
    return (f"Someone saved a change to the clinic's data first (you read version {read}, it "
            f"is now version {latest}). Nothing of yours was stored: reload to see theirs, "
            "then make your change again.")


@router.post("/patients/new", response_class=HTMLResponse, dependencies=[Csrf])
def intake(request: Request, user: PageUser, session: PageSession,
           form: PostedForm) -> Response:
    return _save(request, session, form, user, None)


@router.get("/patients/import", response_class=HTMLResponse)
def import_page(request: Request, user: PageUser, session: PageSession) -> HTMLResponse:
    clinic_id = current_clinic(request, session).id
    current = clinics.version(session, clinic_id)
    fmt = (current.data.get("clinic") or {}).get("date_format") or ""
    return page(request, "patients_import.html", {"preview": None, "date_format": fmt,
                                                  "clinic_format": fmt, "version":
                                                  current.number, "payload": "",
                                                  "filename": "", "imported": None})


@router.post("/patients/import", response_class=HTMLResponse, dependencies=[Csrf])
def import_csv(request: Request, user: PageUser, session: PageSession,
               form: PostedForm) -> Response:
    """Preview a CSV (nothing stored), or import one previewed (``action=import``)."""
    clinic_id = current_clinic(request, session).id
    current = clinics.version(session, clinic_id)
    clinic_format = (current.data.get("clinic") or {}).get("date_format") or ""
    fmt = str(form.get("date_format") or "")
    fmt = fmt if fmt in ("iso", "us", "eu") else ""
    upload = form.get("file")
    errors: list[Issue] = []
    if isinstance(upload, StarletteUpload) and upload.filename:
        raw, filename = upload.file.read(), upload.filename
    else:
        try:
            raw = base64.b64decode(str(form.get("payload") or ""), validate=True)
        except ValueError:
            raw = b""
        filename = str(form.get("filename") or "patients.csv")[:200]
    ctx: dict[str, Any] = {"date_format": fmt, "clinic_format": clinic_format,
                           "filename": filename, "imported": None,
                           "payload": base64.b64encode(raw).decode()}
    if not raw:
        errors.append(Issue("file", "pick the CSV file to import"))
        return page(request, "patients_import.html", {**ctx, "preview": None,
                                                      "version": current.number},
                    status_code=422, errors=errors)
    read_version = str(form.get("version") or "")
    version = int(read_version) if read_version.isdigit() and len(read_version) < 10 else 0
    try:
        if form.get("action") == "import":
            number, preview = patients.confirm_import(
                session, clinic_id, raw, filename, fmt or None, user, version,
                remember=bool(form.get("remember")))
            if preview.data is not None:
                return redirect(f"/patients?imported={len(preview.added)}"
                                f"&updated={len(preview.updated)}")
        else:
            number, preview = patients.preview_import(session, clinic_id, raw, filename,
                                                      fmt or None)
    except InvalidInput as exc:
        return page(request, "patients_import.html", {**ctx, "preview": None,
                                                      "version": current.number},
                    status_code=422, errors=[Issue("file", i.message) for i in exc.issues])
    except Conflict:
        session.rollback()
        number, preview = patients.preview_import(session, clinic_id, raw, filename,
                                                  fmt or None)
        return page(request, "patients_import.html", {
            **ctx, "preview": preview, "version": number,
            "conflict": _conflict(version, number)}, status_code=409)
    return page(request, "patients_import.html", {**ctx, "preview": preview,
                                                  "version": number},
                status_code=200 if preview.count == 0 else 422)


def _patient(request: Request, session: Session, patient_id: str) -> dict[str, Any]:
    view = patients.view(session, current_clinic(request, session).id, patient_id)
    discharged = view.patient.discharged is not None
    return {"clinic": view.clinic, "p": view.patient, "protocol": view.protocol,
            "sessions": view.sessions, "link": view.link, "tz": view.tz, "fresh": None,
            "course": view.course, "who": Names.of(view.scenario),
            "slots": None if discharged else _slots(session, view.clinic.id, patient_id,
                                                     settings_of(request).now()),
            "broken": patients.broken(session, view.clinic.id, patient_id),
            "version": clinics.version(session, view.clinic.id).number,
            "today": settings_of(request).now().astimezone(view.tz).date(), "conflict": None,
            "saved": request.query_params.get("saved") == "1",
            "own": None, "self_since": selfservice.link_since(session, view.clinic.id, patient_id),
            "self_offered": selfservice.offered(session, view.clinic.id, settings_of(request))}


def _slots(session: Session, clinic_id: int, patient_id: str, at: datetime
           ) -> slots.Found | None:
    """The patient's next free slots on the live schedule (None: nothing is published)."""
    try:
        return slots.next_slots(session, clinic_id, patient_id, at=at)
    except NotFound:
        return None


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: str, user: PageUser,
                 session: PageSession, sent: str | None = None) -> HTMLResponse:
    return page(request, "patient.html", {**_patient(request, session, patient_id),
                                          "sent": sent})


@router.get("/patients/{patient_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, patient_id: str, user: PageUser,
              session: PageSession) -> HTMLResponse:
    number, item = patients.raw(session, current_clinic(request, session).id, patient_id)
    return _form_page(request, session, form_of(item), number, patient_id)


@router.post("/patients/{patient_id}/edit", response_class=HTMLResponse, dependencies=[Csrf])
def edit(request: Request, patient_id: str, user: PageUser, session: PageSession,
         form: PostedForm) -> Response:
    return _save(request, session, form, user, patient_id)


@router.post("/patients/{patient_id}/discharge", response_class=HTMLResponse,
             dependencies=[Csrf])
def discharge(request: Request, patient_id: str, user: PageUser, session: PageSession,
              form: FormFields) -> Response:
    """Discharge (``action=discharge``, on ``date``) or re-admit (``action=readmit``)."""
    clinic_id = current_clinic(request, session).id
    raw_version = form.get("version", "")
    version = int(raw_version) if raw_version.isdigit() and len(raw_version) < 10 else 0
    try:
        if form.get("action") == "readmit":
            patients.readmit(session, clinic_id, patient_id, user, version)
        else:
            try:
                on = date.fromisoformat(form.get("date", ""))
            except ValueError:
                raise InvalidInput([Issue("discharge_date", f"'{form.get('date', '')}' is "
                                                            "not a date (YYYY-MM-DD)")]) from None
            patients.discharge(session, clinic_id, patient_id, on, user, version)
    except InvalidInput as exc:
        session.rollback()
        errors = [Issue("discharge_date", i.message) for i in form_paths(exc.issues)]
        return page(request, "patient.html", _patient(request, session, patient_id),
                    status_code=422, errors=errors)
    except Conflict:
        session.rollback()
        ctx = _patient(request, session, patient_id)
        return page(request, "patient.html", {**ctx, "conflict": _conflict(
            version, ctx["version"])}, status_code=409)
    return redirect(f"/patients/{quote(patient_id, safe='')}?saved=1")


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
                         staff or None, int(number), user, settings_of(request).now())
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


@router.post("/patients/{patient_id}/self-link", response_class=HTMLResponse,
             dependencies=[Csrf])
def self_link(request: Request, patient_id: str, user: PageUser, session: PageSession
              ) -> Response:
    """A new self-service link for the patient, shown this once to give by hand (the old one
    stops)."""
    ctx = _patient(request, session, patient_id)
    own = selfservice.new_link(session, ctx["clinic"].id, patient_id, user,
                               settings_of(request), str(request.base_url))
    ctx.update(own=own, self_since=selfservice.link_since(session, ctx["clinic"].id,
                                                          patient_id))
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
