"""The staff roster: everyone with role, qualifications, ``max_patients``, shifts and the
accounts linked to them; a manager adds, edits and removes; the front desk enters absences
(a sick call for today in one click, then the re-plan it offers in a second)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import Conflict, InvalidInput, Issue
from scheduler.pages.forms import Names, parse_list, parse_week, refusal, version_of, week_text
from scheduler.pages.web import (
    Csrf,
    FormFields,
    ManagerUser,
    PageSession,
    PageUser,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import roster
from scheduler.storage.tables import User

router = APIRouter(include_in_schema=False)

FIELDS = ("id", "name", "role", "qualifications", "max_patients")


def staff_form(item: dict[str, Any]) -> dict[str, str]:
    """A stored staff member as the form's fields."""
    return {"id": str(item.get("id", "")), "name": str(item.get("name") or ""),
            "role": str(item.get("role", "")),
            "qualifications": ", ".join(map(str, item.get("qualifications", []))),
            "max_patients": str(item.get("max_patients", 1)),
            **{f"shifts.{d}": t for d, t in week_text(item.get("shifts")).items()}}


def _item(form: dict[str, str], new: bool) -> tuple[dict[str, Any], list[Issue]]:
    """The form as a staff member (as the scenario file says it), with the form's own problems
    (the scenario's validation names the rest)."""
    shifts, issues = parse_week(form, "shifts")
    raw_max = form.get("max_patients", "").strip()
    item: dict[str, Any] = {"name": form.get("name", "").strip() or None,
                            "role": form.get("role", "").strip(),
                            "qualifications": parse_list(form.get("qualifications", "")),
                            "shifts": shifts}
    if raw_max.isdigit():
        item["max_patients"] = int(raw_max)
    else:
        issues.append(Issue("max_patients", f"'{raw_max}' is not a whole number of patients "
                                            "(0 for someone who attends nobody, e.g. a "
                                            "prescriber on site)"))
    if new:
        item = {"id": form.get("id", "").strip(), **item}
    return item, issues


def _list(request: Request, session: Session, user: User, **extra: Any) -> dict[str, Any]:
    clinic = current_clinic(request, session)
    data = roster.read(session, clinic.id, user)
    protocols = data.scenario.protocols
    return {"roster": data, "scenario": data.scenario, "version": data.version,
            "who": Names.of(data.scenario), "tz": data.scenario.tz,
            "roles": sorted({n.role for p in protocols for n in p.staff}
                            | {o.role for p in protocols for o in p.on_site}),
            "qualifications": sorted({n.qualification for p in protocols for n in p.staff
                                      if n.qualification}), **extra}


@router.get("/clinic/staff", response_class=HTMLResponse)
def staff_page(request: Request, user: PageUser, session: PageSession) -> HTMLResponse:
    return page(request, "staff.html", _list(request, session, user))


def _member(request: Request, session: Session, user: User, staff_id: str | None,
            **extra: Any) -> dict[str, Any]:
    ctx = _list(request, session, user)
    if staff_id is not None:
        raw = ctx["roster"].raw("staff", staff_id)
        ctx.update(member=next(s for s in ctx["scenario"].staff if s.id == staff_id), raw=raw,
                   form=staff_form(raw))
    else:
        ctx.update(member=None, raw={}, form={"max_patients": "1"})
    ctx.update(absence={}, offer=None, conflict=None)
    ctx.update(extra)
    return ctx


@router.get("/clinic/staff/new", response_class=HTMLResponse)
def new_member_page(request: Request, user: ManagerUser, session: PageSession) -> HTMLResponse:
    return page(request, "staff_member.html", _member(request, session, user, None))


@router.get("/clinic/staff/{staff_id}", response_class=HTMLResponse)
def member_page(request: Request, staff_id: str, user: PageUser, session: PageSession,
                absent: str = "", start: str = "", end: str = "") -> HTMLResponse:
    """A staff member; after an absence (``absent``, ``start``-``end``), the re-plan it
    offers."""
    ctx = _member(request, session, user, staff_id)
    if absent:
        event = {"type": "staff_absent", "staff": staff_id, "date": absent,
                 **({"from": start} if start else {}), **({"to": end} if end else {})}
        ctx["offer"] = _offer(session, current_clinic(request, session).id, event)
    return page(request, "staff_member.html", ctx)


def _offer(session: Session, clinic_id: int, event: dict[str, str]) -> roster.Offer | None:
    try:
        return roster.replan_offer(session, clinic_id, event)
    except ValueError:  # a date or time typed into the address bar
        return None


def _index(request: Request, session: Session, user: User, staff_id: str | None) -> str:
    """The item's place in the scenario (``staff[3]``), where its problems are named."""
    listed = roster.read(session, current_clinic(request, session).id, user).data["staff"]
    ids = [x.get("id") for x in listed]
    return f"staff[{ids.index(staff_id) if staff_id in ids else len(ids)}]"


def _refused(request: Request, session: Session, user: User, staff_id: str | None,
             exc: InvalidInput | Conflict, **extra: Any) -> Response:
    """The page again with what was typed, nothing stored: every problem beside its field,
    or that someone saved first."""
    session.rollback()
    shown = refusal(exc, _index(request, session, user, staff_id))
    return page(request, "staff_member.html",
                _member(request, session, user, staff_id, conflict=shown["conflict"], **extra),
                status_code=shown["status_code"], errors=shown["errors"])


def _save(request: Request, session: Session, user: User, staff_id: str | None,
          form: dict[str, str]) -> Response:
    clinic = current_clinic(request, session)
    item, issues = _item(form, staff_id is None)
    try:
        if issues:
            raise InvalidInput(issues)
        roster.save(session, clinic.id, "staff", staff_id, item, user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, staff_id, exc, form=form)
    return redirect(f"/clinic/staff/{staff_id or item['id']}?saved=1")


@router.post("/clinic/staff", response_class=HTMLResponse, dependencies=[Csrf])
def add_member(request: Request, user: ManagerUser, session: PageSession,
               form: FormFields) -> Response:
    return _save(request, session, user, None, form)


@router.post("/clinic/staff/{staff_id}", response_class=HTMLResponse, dependencies=[Csrf])
def edit_member(request: Request, staff_id: str, user: ManagerUser, session: PageSession,
                form: FormFields) -> Response:
    roster.read(session, current_clinic(request, session).id, user).raw("staff", staff_id)
    return _save(request, session, user, staff_id, form)


@router.post("/clinic/staff/{staff_id}/remove", response_class=HTMLResponse,
             dependencies=[Csrf])
def remove_member(request: Request, staff_id: str, user: ManagerUser, session: PageSession,
                  form: FormFields) -> Response:
    clinic = current_clinic(request, session)
    try:
        roster.remove(session, clinic.id, "staff", staff_id, user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, staff_id, exc)
    return redirect("/clinic/staff?removed=1")


def _absence(request: Request, session: Session, user: User, staff_id: str,
             fields: dict[str, str], form: dict[str, str]) -> Response:
    clinic = current_clinic(request, session)
    try:
        outage = roster.add_outage(session, clinic.id, "staff", staff_id, fields, user,
                                   version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, staff_id, exc, absence=fields)
    part = (f"&start={outage.from_ or '00:00'}&end={outage.to or '24:00'}"
            if outage.from_ or outage.to else "")
    return redirect(f"/clinic/staff/{staff_id}?absent={outage.date}{part}")


@router.post("/clinic/staff/{staff_id}/absences", response_class=HTMLResponse,
             dependencies=[Csrf])
def add_absence(request: Request, staff_id: str, user: PageUser, session: PageSession,
                form: FormFields) -> Response:
    """An absence on a date, or part of it (the front desk's too)."""
    fields = {k: form.get(k, "").strip() for k in ("date", "from", "to")}
    return _absence(request, session, user, staff_id, fields, form)


@router.post("/clinic/staff/{staff_id}/sick", response_class=HTMLResponse, dependencies=[Csrf])
def sick_today(request: Request, staff_id: str, user: PageUser, session: PageSession,
               form: FormFields) -> Response:
    """A sick call: absent all of today (the clinic's today), then the re-plan it offers."""
    scenario = roster.read(session, current_clinic(request, session).id, user).scenario
    today = settings_of(request).now().astimezone(scenario.tz).date()
    return _absence(request, session, user, staff_id, {"date": today.isoformat()}, form)


@router.post("/clinic/staff/{staff_id}/absences/remove", response_class=HTMLResponse,
             dependencies=[Csrf])
def remove_absence(request: Request, staff_id: str, user: PageUser, session: PageSession,
                   form: FormFields) -> Response:
    clinic = current_clinic(request, session)
    try:
        roster.remove_outage(session, clinic.id, "staff", staff_id, form.get("which", ""),
                             user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, staff_id, exc)
    return redirect(f"/clinic/staff/{staff_id}")
