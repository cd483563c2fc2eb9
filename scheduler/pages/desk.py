"""The front desk's pages: sign in, the week board, solve and re-plan as jobs with live
progress, cancel, move, "why not here?", publish, and a patient's page with the feed link.

Each handler reads the form, calls the same use cases and repositories as the API, and on
InvalidInput shows the page again with every message beside its field and every value kept.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

import segno
import yaml
from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from scheduler.documents import Change, Schedule
from scheduler.errors import Conflict, InvalidInput, Issue
from scheduler.jobs import ensure_feed_body, regenerate_feeds
from scheduler.model import Scenario
from scheduler.pages.board import day_panels, initials, week_dates
from scheduler.pages.web import (
    COOKIE,
    CSRF_COOKIE,
    Csrf,
    PageSession,
    PageUser,
    current_clinic,
    form_fields,
    page,
    redirect,
    settings_of,
    templates,
)
from scheduler.security import verify_password
from scheduler.storage import repo
from scheduler.storage.tables import Job, User, now
from scheduler.storage.tables import Schedule as ScheduleRow
from scheduler.usecases import (
    cancel_appointment,
    move_appointment,
    place_session,
    read_events,
    try_placement,
)
from scheduler.usecases.roll import course_status

router = APIRouter(include_in_schema=False)

EVENT_TYPES = {
    "cancel": ("A booked appointment is cancelled", ("appointment",)),
    "staff_absent": ("A staff member is absent", ("staff", "date", "from", "to")),
    "room_closed": ("A room is out of service", ("room", "date", "from", "to")),
    "patient_unavailable": ("A patient cannot come", ("patient", "date", "from", "to")),
}
"""The events the re-plan form offers field by field (any other kind: the YAML box)."""


# ----------------------------------------------------------------------------- helpers
def room_options(scenario: Scenario) -> list[tuple[str, str]]:
    return [(r.id, f"{r.id} · {r.name}" if r.name else r.id) for r in scenario.rooms]


def staff_options(scenario: Scenario, key: str, protocol: str) -> list[tuple[str, str]]:
    """Who may fill staff entry ``key`` of ``protocol`` (role and qualification)."""
    spec = next((p for p in scenario.protocols if p.id == protocol), None)
    need = next((n for n in spec.staff if (n.key or n.role) == key), None) if spec else None
    return [(s.id, f"{s.id} · {s.name}" if s.name else s.id) for s in scenario.staff
            if need is None or (s.role == need.role and (
                need.qualification is None or need.qualification in s.qualifications))]


def patient_options(scenario: Scenario, schedule: Schedule) -> list[tuple[str, str]]:
    """Patients with an unplaced session first, then everyone."""
    names = _patients(scenario)
    first = [u.patient for u in schedule.unplaced]
    rest = [p.id for p in scenario.patients if p.id not in first]
    return [("", "(pick a patient)")] + [(i, f"{names.get(i, i)} · {i}"
                                          + (" · unplaced" if i in first else ""))
                                         for i in first + rest]


def event_options() -> list[tuple[str, str]]:
    return [("", "(only the events below)")] + [(k, v[0]) for k, v in EVENT_TYPES.items()]


templates.env.globals.update(room_options=room_options, staff_options=staff_options,
                             patient_options=patient_options, event_options=event_options)


def _pick_schedule(session: Any, clinic_id: int, wanted: int | None) -> ScheduleRow | None:
    """The schedule asked for; else the newest draft not older than the last published
    version; else the last published; else none."""
    if wanted is not None:
        row = repo.schedule_row(session, wanted)
        if row.clinic_id != clinic_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No schedule {wanted} here.")
        return row
    rows = repo.schedules(session, clinic_id)
    if not rows:
        return None
    published = [r for r in rows if r.status == "published"]
    drafts = [r for r in rows if r.status == "draft"
              and (not published or r.id > published[-1].id)]
    return (drafts or published or rows)[-1]


def _local_start(scenario: Scenario, day: str, clock: str, field: str = "start"
                 ) -> tuple[datetime | None, list[Issue]]:
    """A date and a time from a form as an aware instant of the clinic, or the problems."""
    issues = []
    parsed_day = parsed_time = None
    try:
        parsed_day = date.fromisoformat(day)
    except ValueError:
        issues.append(Issue("date", f"{day!r} is not a date (YYYY-MM-DD)"))
    try:
        if not re.fullmatch(r"\d\d:\d\d", clock):
            raise ValueError(clock)
        parsed_time = time.fromisoformat(clock)
    except ValueError:
        issues.append(Issue("time", f"{clock!r} is not a time of day (HH:MM)"))
    if issues or parsed_day is None or parsed_time is None:
        return None, issues
    return datetime.combine(parsed_day, parsed_time, scenario.tz), []


def _slot(scenario: Scenario, form: dict[str, str]) -> tuple[datetime, dict[str, str]]:
    """A form's date, time and ``staff.<key>`` fields: the instant and the staff asked for
    (InvalidInput naming the fields otherwise)."""
    start, issues = _local_start(scenario, form.get("date", ""), form.get("time", ""))
    if issues or start is None:
        raise InvalidInput(issues)
    staff = {k.removeprefix("staff."): v for k, v in form.items()
             if k.startswith("staff.") and v}
    return start, staff


def _patients(scenario: Scenario) -> dict[str, str]:
    return {p.id: p.name or p.id for p in scenario.patients}


def _context(session: Any, request: Request, row: ScheduleRow) -> dict[str, Any]:
    scenario = repo.scenario_for(session, row)
    return {"row": row, "scenario": scenario, "schedule": repo.to_schedule(row),
            "names": _patients(scenario), "tz": scenario.tz}


# ----------------------------------------------------------------------------- sign in
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/board") -> HTMLResponse:
    return page(request, "login.html", {"next": _safe_next(next), "email": ""})


def _safe_next(target: str) -> str:
    """Only a path of this site (never ``//evil.example`` or ``https://…``)."""
    return target if target.startswith("/") and not target.startswith("//") else "/board"


@router.post("/login", response_class=HTMLResponse, dependencies=[Csrf])
def login(request: Request, session: PageSession, email: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/board",
          ) -> Response:
    issues = []
    if not email.strip():
        issues.append(Issue("email", "is required"))
    if not password:
        issues.append(Issue("password", "is required"))
    user = repo.user_by_email(session, email.strip()) if not issues else None
    if not issues and (user is None or not user.active
                       or not verify_password(user.password_hash, password)):
        issues.append(Issue("password", "wrong email or password"))
    if issues or user is None:
        return page(request, "login.html", {"next": _safe_next(next), "email": email},
                    status_code=422, errors=issues)
    settings = settings_of(request)
    token, _ = repo.issue_token(session, user, settings.token_minutes)
    session.commit()
    response = redirect(_safe_next(next))
    response.set_cookie(COOKIE, token, max_age=settings.token_minutes * 60, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, session: PageSession) -> RedirectResponse:
    token = request.cookies.get(COOKIE)
    if token:
        repo.revoke_token(session, token)
        session.commit()
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/board", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


# ----------------------------------------------------------------------------- the board
@router.get("/board", response_class=HTMLResponse)
def board(request: Request, user: PageUser, session: PageSession,
          schedule: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
          day: str | None = None, view: str = "rooms", zoom: str = "week") -> HTMLResponse:
    return page(request, "board.html", _board(request, session, schedule, day, view, zoom))


def _board(request: Request, session: Any, schedule: int | None = None, day: str | None = None,
           view: str = "rooms", zoom: str = "week") -> dict[str, Any]:
    """What the board shows: the schedule asked for (else the current one), its days."""
    clinic = current_clinic(request, session)
    row = _pick_schedule(session, clinic.id, schedule)
    version = repo.scenario_version(session, clinic.id)
    scenario = repo.scenario_of(version) if row is None else repo.scenario_for(session, row)
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
    doc = repo.to_schedule(row) if row is not None else None
    panels = day_panels(scenario, doc, shown, now()) if doc is not None else []
    jobs = [j for j in repo.jobs_of(session, clinic.id) if j.status in ("queued", "running")]
    return {
        "clinic": clinic, "row": row, "schedule": doc, "scenario": scenario, "panels": panels,
        "days": days, "day": chosen, "view": "nurses" if view == "nurses" else "rooms",
        "zoom": "day" if zoom == "day" else "week", "names": _patients(scenario),
        "tz": scenario.tz, "rows": repo.schedules(session, clinic.id), "running": jobs,
        "scale": 1.25 if zoom == "day" else 1.15, "initials": initials, "form": {}}


# ----------------------------------------------------------------------------- jobs
def _queue(session: Any, request: Request, user: User, clinic_id: int, kind: str,
           params: dict[str, Any]) -> Job:
    settings = settings_of(request)
    job = repo.add_job(session, uuid.uuid4().hex, clinic_id, kind,
                       {"workers": settings.workers, "time_limit": settings.time_limit,
                        "seed": settings.seed, **params}, user)
    session.commit()
    return job


@router.post("/solve", dependencies=[Csrf])
def solve(request: Request, user: PageUser, session: PageSession,
          time_limit: Annotated[str, Form()] = "") -> Response:
    clinic = current_clinic(request, session)
    params: dict[str, Any] = {
        "scenario_version": repo.scenario_version(session, clinic.id).number}
    if time_limit.strip():
        try:
            seconds = float(time_limit)
            if not 1 <= seconds <= 3600:
                raise ValueError
        except ValueError:
            return page(request, "board.html",
                        {**_board(request, session), "form": {"time_limit": time_limit}},
                        status_code=422, errors=[Issue(
                            "time_limit", f"{time_limit!r}: give seconds between 1 and 3600")])
        params["time_limit"] = seconds
    job = _queue(session, request, user, clinic.id, "solve", params)
    return redirect(f"/jobs/{job.id}")


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, user: PageUser, session: PageSession
             ) -> HTMLResponse:
    job = repo.job(session, job_id)
    return page(request, "job.html", {"job": job, "next": _job_next(job)})


def _job_next(job: Job) -> str | None:
    if job.status != "done":
        return None
    if job.kind == "whatif":
        return f"/whatif/{job.id}"
    if job.kind == "replan":
        return f"/schedules/{job.result_schedule_id}/changes"
    return f"/board?schedule={job.result_schedule_id}"


@router.get("/jobs/{job_id}/progress.json")
def job_progress(job_id: str, user: PageUser, session: PageSession) -> JSONResponse:
    job = repo.job(session, job_id)
    return JSONResponse({"status": job.status, "progress": job.progress, "error": job.error,
                         "next": _job_next(job)}, headers={"Cache-Control": "no-store"})


@router.post("/jobs/{job_id}/cancel", dependencies=[Csrf])
def cancel_job(job_id: str, user: PageUser, session: PageSession) -> Response:
    repo.cancel_job(session, repo.job(session, job_id), user)
    session.commit()
    return redirect(f"/jobs/{job_id}")


# ----------------------------------------------------------------------------- appointments
@router.get("/schedules/{schedule_id}/appointments/{ref}", response_class=HTMLResponse)
def appointment_page(request: Request, schedule_id: int, ref: str, user: PageUser,
                     session: PageSession) -> HTMLResponse:
    ctx = _context(session, request, repo.schedule_row(session, schedule_id))
    return _appointment(request, ctx, ref, {}, [])


def _appointment(request: Request, ctx: dict[str, Any], ref: str, values: dict[str, str],
                 errors: list[Issue], status_code: int = 200) -> HTMLResponse:
    doc: Schedule = ctx["schedule"]
    found = next((a for a in doc.appointments if a.id == ref), None)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"No appointment {ref} in schedule {ctx['row'].id}.")
    local = found.start.astimezone(ctx["tz"])
    form = {"date": local.date().isoformat(), "time": f"{local:%H:%M}", "room": found.room,
            **{f"staff.{k}": v for k, v in found.staff.items()}, **values}
    return page(request, "appointment.html", {**ctx, "a": found, "form": form},
                status_code=status_code, errors=errors)


def _draft(row: ScheduleRow) -> None:
    if row.status != "draft":
        raise Conflict(f"schedule {row.id} is published: solve or re-plan for a draft to edit")


@router.post("/schedules/{schedule_id}/appointments/{ref}/cancel", dependencies=[Csrf])
async def cancel(request: Request, schedule_id: int, ref: str, user: PageUser,
                 session: PageSession) -> Response:
    form = await request.form()
    row = repo.schedule_row(session, schedule_id)
    _draft(row)
    scenario = repo.scenario_for(session, row)
    before = repo.to_schedule(row)
    reason = str(form.get("reason") or "").strip() or "cancelled by the front desk"
    edited = cancel_appointment(scenario, before, ref, reason)
    gone = next(a for a in before.appointments if a.id == ref)
    repo.replace_schedule(session, row, edited, _version(form, row), user,
                          "cancel appointment", gone.model_dump(mode="json"), None)
    session.commit()
    return redirect(f"/board?schedule={row.id}")


def _version(form: Any, row: ScheduleRow) -> int:
    raw = str(form.get("version", ""))
    if not raw.isdigit():
        raise InvalidInput([Issue("version", "is required (reload the page)")])
    return int(raw)


@router.post("/schedules/{schedule_id}/appointments/{ref}/move", response_class=HTMLResponse,
             dependencies=[Csrf])
async def move(request: Request, schedule_id: int, ref: str, user: PageUser,
               session: PageSession) -> Response:
    form = await form_fields(request)
    row = repo.schedule_row(session, schedule_id)
    ctx = _context(session, request, row)
    try:
        _draft(row)
        start, staff = _slot(ctx["scenario"], form)
        before = ctx["schedule"]
        edited = move_appointment(ctx["scenario"], before, ref, start, form.get("room") or None,
                                  staff or None)
        old = next(a for a in before.appointments if a.id == ref)
        new = next(a for a in edited.appointments if a.id == ref)
        repo.replace_schedule(session, row, edited, _version(form, row), user,
                              "move appointment", old.model_dump(mode="json"),
                              new.model_dump(mode="json"))
        session.commit()
    except InvalidInput as exc:
        return _appointment(request, ctx, ref, form, _form_paths(exc.issues, ref), 422)
    return redirect(f"/board?schedule={row.id}&zoom=day&day={form['date']}")


def _form_paths(issues: list[Issue], ref: str) -> list[Issue]:
    """The use case's paths as the form's fields: a broken rule belongs beside the time."""
    out = []
    for i in issues:
        path = i.path
        if path in (f"appointments.{ref}", "start"):
            path = "time"
        out.append(Issue(path, i.message))
    return out


# ----------------------------------------------------------------------------- unplaced
@router.get("/schedules/{schedule_id}/unplaced", response_class=HTMLResponse)
def unplaced_page(request: Request, schedule_id: int, user: PageUser, session: PageSession,
                  patient: str = "", day: Annotated[str, Query(alias="date")] = "",
                  clock: Annotated[str, Query(alias="time")] = "", room: str = ""
                  ) -> HTMLResponse:
    """The unplaced sessions and the "why not here?" form, filled from the query (a click on
    an empty stretch of the board sends its day, time and room)."""
    ctx = _context(session, request, repo.schedule_row(session, schedule_id))
    first = week_dates(ctx["scenario"])
    form = {"patient": patient, "date": day or (first[0].isoformat() if first else ""),
            "time": clock or "09:00", "room": room or ctx["scenario"].rooms[0].id}
    return page(request, "unplaced.html", {**ctx, "form": form, "verdict": None})


@router.post("/schedules/{schedule_id}/whynot", response_class=HTMLResponse,
             dependencies=[Csrf])
async def why_not(request: Request, schedule_id: int, user: PageUser,
                  session: PageSession) -> HTMLResponse:
    form = await form_fields(request)
    row = repo.schedule_row(session, schedule_id)
    ctx = _context(session, request, row)
    verdict: dict[str, Any] | None = None
    try:
        start, issues = _local_start(ctx["scenario"], form.get("date", ""), form.get("time", ""))
        if not form.get("patient"):
            issues.append(Issue("patient", "pick a patient"))
        if issues or start is None:
            raise InvalidInput(issues)
        candidate, problems = try_placement(ctx["scenario"], ctx["schedule"], form["patient"],
                                            start, form.get("room", ""))
        added = next(a for a in candidate.appointments
                     if a.id not in {b.id for b in ctx["schedule"].appointments})
        verdict = {"fits": not problems, "problems": problems, "appointment": added}
    except InvalidInput as exc:
        return page(request, "unplaced.html", {**ctx, "form": form, "verdict": None},
                    status_code=422, errors=exc.issues)
    return page(request, "unplaced.html", {**ctx, "form": form, "verdict": verdict})


@router.post("/schedules/{schedule_id}/place", response_class=HTMLResponse, dependencies=[Csrf])
async def place(request: Request, schedule_id: int, user: PageUser,
                session: PageSession) -> Response:
    form = await form_fields(request)
    row = repo.schedule_row(session, schedule_id)
    ctx = _context(session, request, row)
    try:
        _draft(row)
        start, staff = _slot(ctx["scenario"], form)
        edited = place_session(ctx["scenario"], ctx["schedule"], form.get("patient", ""),
                               start, form.get("room", ""), staff or None)
        added = next(a for a in edited.appointments
                     if a.id not in {b.id for b in ctx["schedule"].appointments})
        repo.replace_schedule(session, row, edited, _version(form, row), user,
                              "place session", None, added.model_dump(mode="json"))
        session.commit()
    except InvalidInput as exc:
        return page(request, "unplaced.html", {**ctx, "form": form, "verdict": None},
                    status_code=422, errors=_form_paths(exc.issues, ""))
    return redirect(f"/board?schedule={row.id}&zoom=day&day={form['date']}")


# ----------------------------------------------------------------------------- re-plan
@router.get("/schedules/{schedule_id}/replan", response_class=HTMLResponse)
def replan_page(request: Request, schedule_id: int, user: PageUser,
                session: PageSession) -> HTMLResponse:
    ctx = _context(session, request, repo.schedule_row(session, schedule_id))
    return page(request, "replan.html", {**ctx, "form": {"type": "staff_absent"},
                                         "types": EVENT_TYPES})


def _event_from_form(form: dict[str, str]) -> list[Any]:
    """The form's one event and the YAML box's events, as the events file would say them."""
    events: list[Any] = []
    kind = form.get("type", "")
    if kind in EVENT_TYPES:
        event: dict[str, Any] = {"type": kind}
        for name in EVENT_TYPES[kind][1]:
            if form.get(name, "").strip():
                event[name] = form[name].strip()
        events.append(event)
    text = form.get("yaml", "").strip()
    if text:
        try:
            more = yaml.load(text, Loader=yaml.BaseLoader)  # strings: validation reads them
        except yaml.YAMLError as exc:
            raise InvalidInput([Issue("yaml", f"is not YAML: {exc}".splitlines()[0])]) from exc
        if isinstance(more, dict) and "events" in more:
            more = more["events"]
        if not isinstance(more, list):
            raise InvalidInput([Issue("yaml", "give a list of events (- {type: …, …})")])
        events += more
    if not events:
        raise InvalidInput([Issue("type", "pick what happened, or write events below")])
    return events


def _event_paths(issues: list[Issue], form: dict[str, str]) -> list[Issue]:
    """``events[0].date`` is the form's ``date``; the YAML box's events keep their numbers."""
    has_form = form.get("type", "") in EVENT_TYPES
    out = []
    for i in issues:
        path = i.path
        if has_form and (path == "events[0]" or path.startswith("events[0].")):
            path = path.removeprefix("events[0]").lstrip(".") or "type"
        elif path.startswith("events["):
            path = "yaml"
            message = f"{i.path}: {i.message}"
            out.append(Issue(path, message))
            continue
        out.append(Issue(path, i.message))
    return out


@router.post("/schedules/{schedule_id}/replan", response_class=HTMLResponse,
             dependencies=[Csrf])
async def replan(request: Request, schedule_id: int, user: PageUser,
                 session: PageSession) -> Response:
    form = await form_fields(request)
    row = repo.schedule_row(session, schedule_id)
    ctx = _context(session, request, row)
    when = now()
    try:
        events = _event_from_form(form)
        read_events({"events": events}, ctx["scenario"], ctx["schedule"], when)
    except InvalidInput as exc:
        return page(request, "replan.html", {**ctx, "form": form, "types": EVENT_TYPES},
                    status_code=422, errors=_event_paths(exc.issues, form))
    version = repo.scenario_version(session, row.clinic_id)
    job = _queue(session, request, user, row.clinic_id, "replan", {
        "scenario_version": version.number, "schedule_id": row.id, "events": events,
        "now": when.isoformat()})
    return redirect(f"/jobs/{job.id}")


@router.get("/schedules/{schedule_id}/changes", response_class=HTMLResponse)
def changes_page(request: Request, schedule_id: int, user: PageUser,
                 session: PageSession) -> HTMLResponse:
    row = repo.schedule_row(session, schedule_id)
    ctx = _context(session, request, row)
    changes = [Change.model_validate(c) for c in row.changes or []]
    return page(request, "changes.html", {**ctx, "changes": changes})


@router.post("/schedules/{schedule_id}/publish", dependencies=[Csrf])
async def publish(request: Request, schedule_id: int, user: PageUser,
                  session: PageSession) -> Response:
    form = await request.form()
    row = repo.schedule_row(session, schedule_id)
    repo.publish(session, row, _version(form, row), user)
    regenerate_feeds(session, row.clinic_id, now())
    session.commit()
    return redirect(f"/board?schedule={row.id}&published=1")


# ----------------------------------------------------------------------------- patients
@router.get("/patients", response_class=HTMLResponse)
def patients_page(request: Request, user: PageUser, session: PageSession,
                  q: str = "") -> HTMLResponse:
    clinic = current_clinic(request, session)
    scenario = repo.scenario_of(repo.scenario_version(session, clinic.id))
    needle = q.strip().lower()
    found = [p for p in scenario.patients
             if not needle or needle in p.id.lower() or needle in (p.name or "").lower()]
    return page(request, "patients.html", {"patients": found, "q": q, "scenario": scenario})


def _patient_context(request: Request, session: Any, patient_id: str) -> dict[str, Any]:
    clinic = current_clinic(request, session)
    version = repo.scenario_version(session, clinic.id)
    scenario = repo.scenario_of(version)
    spec = next((p for p in scenario.patients if p.id == patient_id), None)
    if spec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No patient {patient_id} here.")
    course = course_status(version.data, patient_id, scenario.horizon.start,
                           scenario.horizon.days)
    rows = repo.schedules(session, clinic.id)
    published = next((r for r in reversed(rows) if r.status == "published"), None)
    draft = _pick_schedule(session, clinic.id, None)
    sessions = []
    for label, row in (("published", published), ("draft", draft)):
        if row is None or (label == "draft" and row.status != "draft"):
            continue
        for a in repo.to_schedule(row).appointments:
            if a.patient == patient_id:
                sessions.append((label, row, a))
    protocol = next((p for p in scenario.protocols if p.id == spec.protocol), None)
    link = repo.live_feed_token(session, clinic.id, "patient", patient_id)
    return {"clinic": clinic, "p": spec, "protocol": protocol, "sessions": sessions,
            "link": link, "tz": scenario.tz, "fresh": None, "course": course}


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: str, user: PageUser,
                 session: PageSession) -> HTMLResponse:
    return page(request, "patient.html", _patient_context(request, session, patient_id))


@router.post("/patients/{patient_id}/feed", response_class=HTMLResponse, dependencies=[Csrf])
async def patient_feed(request: Request, patient_id: str, user: PageUser,
                       session: PageSession) -> Response:
    """Issue, rotate or revoke the patient's feed link; a new link is shown this once."""
    action = str((await request.form()).get("action", ""))
    ctx = _patient_context(request, session, patient_id)
    clinic_id = ctx["clinic"].id
    if action == "revoke":
        repo.revoke_feed_token(session, clinic_id, "patient", patient_id, user)
        session.commit()
        return redirect(f"/patients/{patient_id}")
    if action not in ("issue", "rotate"):
        raise InvalidInput([Issue("action", "is one of issue, rotate, revoke")])
    if action == "rotate" and ctx["link"] is not None:
        token, row = repo.rotate_feed_token(session, clinic_id, "patient", patient_id, user)
    else:
        token, row = repo.issue_feed_token(session, clinic_id, "patient", patient_id, user)
    ensure_feed_body(session, clinic_id, "patient", patient_id)
    session.commit()
    url, webcal = settings_of(request).feed_urls(str(request.base_url), token)
    qr = segno.make(webcal, error="m").svg_data_uri(scale=5, border=2)
    ctx.update(link=row, fresh={"url": url, "webcal": webcal, "qr": qr})
    response = page(request, "patient.html", ctx, status_code=201)
    response.headers["Cache-Control"] = "no-store"
    return response


def day_range(days: list[date]) -> tuple[date, date]:
    return days[0], days[-1] + timedelta(days=1)
