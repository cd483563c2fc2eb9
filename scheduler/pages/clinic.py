"""The clinic itself: its hours by weekday, closed dates (holidays, then the re-plan they
offer), time zone, address and arrival instructions; and its protocols, which everyone reads
and managers edit or take from the library, the REMS rule's words beside its fields."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import Conflict, InvalidInput, Issue
from scheduler.model import SELF_SERVICE_ACTIONS
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

REMS_RULE = roster.REMS_RULE
SELF_SERVICE_LABELS = (("confirm", "Confirm a session"),
                       ("cancel", "Cancel a session"),
                       ("reschedule", "Move a session to another free time"))
"""The switches of what patients may do through their own link, as the clinic page names
them (``SELF_SERVICE_ACTIONS``, in order)."""


# ----------------------------------------------------------------------------- the clinic
def clinic_form(clinic: dict[str, Any]) -> dict[str, str]:
    own = clinic.get("self_service") or {}
    hours = own.get("late_cancel_hours")
    return {"name": str(clinic.get("name", "")), "timezone": str(clinic.get("timezone", "")),
            "address": str(clinic.get("address") or ""),
            "arrival_instructions": str(clinic.get("arrival_instructions") or ""),
            **{f"hours.{d}": t for d, t in week_text(clinic.get("hours")).items()},
            **{f"self_service.{a}": "on" if own.get(a, True) else ""
               for a in SELF_SERVICE_ACTIONS},
            "self_service.late_cancel_hours": "" if hours is None else f"{float(hours):g}"}


def self_service_fields(form: dict[str, str]) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The clinic's self-service switches from the form (None: every default, the block
    left out of the clinic's data), and what is wrong with them."""
    text = form.get("self_service.late_cancel_hours", "").strip()
    hours: float | None = None
    issues: list[Issue] = []
    if text:
        try:
            hours = float(text)
        except ValueError:
            issues.append(Issue("self_service.late_cancel_hours",
                                f"'{text}' is not a number of hours (empty: the service's)"))
        else:
            if not math.isfinite(hours):
                issues.append(Issue("self_service.late_cancel_hours",
                                    f"'{text}' is not a number of hours (empty: the service's)"))
                hours = None
    block: dict[str, Any] = {a: False for a in SELF_SERVICE_ACTIONS
                             if form.get(f"self_service.{a}") != "on"}
    if hours is not None:
        block["late_cancel_hours"] = hours
    return block or None, issues


def _clinic(request: Request, session: Session, user: User, **extra: Any) -> dict[str, Any]:
    data = roster.read(session, current_clinic(request, session).id, user)
    settings = settings_of(request)
    return {"roster": data, "scenario": data.scenario, "version": data.version,
            "who": Names.of(data.scenario), "tz": data.scenario.tz,
            "form": clinic_form(data.data["clinic"]), "holiday": {}, "offer": None,
            "conflict": None, "ceiling": set(filter(None, settings.self_service.split(","))),
            "service_late_hours": f"{settings.late_cancel_hours:g}",
            "self_service_actions": SELF_SERVICE_LABELS, **extra}


def _refused(request: Request, session: Session, user: User, exc: InvalidInput | Conflict,
             **extra: Any) -> Response:
    session.rollback()
    shown = refusal(exc, "clinic")
    return page(request, "clinic.html",
                _clinic(request, session, user, conflict=shown["conflict"], **extra),
                status_code=shown["status_code"], errors=shown["errors"])


@router.get("/clinic", response_class=HTMLResponse)
def clinic_page(request: Request, user: PageUser, session: PageSession,
                closed: str = "") -> HTMLResponse:
    """The clinic's details; after a holiday is added (``closed``), the re-plan it offers."""
    ctx = _clinic(request, session, user)
    if closed:
        try:
            ctx["offer"] = roster.replan_offer(session, current_clinic(request, session).id,
                                               {"type": "clinic_closed", "date": closed})
        except ValueError:
            ctx["offer"] = None
    return page(request, "clinic.html", ctx)


@router.post("/clinic", response_class=HTMLResponse, dependencies=[Csrf])
def save_clinic(request: Request, user: ManagerUser, session: PageSession,
                form: FormFields) -> Response:
    hours, issues = parse_week(form, "hours")
    self_service, more = self_service_fields(form)
    issues += more
    fields: dict[str, Any] = {
        "name": form.get("name", "").strip(), "timezone": form.get("timezone", "").strip(),
        "hours": hours, "address": form.get("address", "").strip() or None,
        "arrival_instructions": form.get("arrival_instructions", "").strip() or None,
        "self_service": self_service}
    try:
        if issues:
            raise InvalidInput(issues)
        roster.set_clinic(session, current_clinic(request, session).id, fields, user,
                          version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, exc, form=form)
    return redirect("/clinic?saved=1")


@router.post("/clinic/closed", response_class=HTMLResponse, dependencies=[Csrf])
def add_closed_date(request: Request, user: ManagerUser, session: PageSession,
                    form: FormFields) -> Response:
    """A holiday: the whole clinic closed on a date, then the re-plan it offers."""
    day = form.get("date", "").strip()
    try:
        added = roster.closed_date(session, current_clinic(request, session).id, day, True,
                                   user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, exc, holiday={"date": day})
    return redirect(f"/clinic?closed={added}")


@router.post("/clinic/closed/remove", response_class=HTMLResponse, dependencies=[Csrf])
def remove_closed_date(request: Request, user: ManagerUser, session: PageSession,
                       form: FormFields) -> Response:
    try:
        roster.closed_date(session, current_clinic(request, session).id,
                           form.get("date", "").strip(), False, user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, exc)
    return redirect("/clinic")


# ----------------------------------------------------------------------------- protocols
def protocol_form(item: dict[str, Any]) -> dict[str, str]:
    out = {"name": str(item.get("name", "")),
           "turnover_minutes": str(item.get("turnover_minutes", 0)),
           "room_features": ", ".join(map(str, item.get("room_features", []))),
           "requires_rems": "on" if item.get("requires_rems") else ""}
    for i, phase in enumerate(item.get("phases", [])):
        out[f"phases.{i}.minutes"] = str(phase.get("minutes", ""))
    for i, need in enumerate(item.get("staff", [])):
        out[f"staff.{i}.qualification"] = str(need.get("qualification") or "")
    return out


def _whole(text: str, path: str, what: str, issues: list[Issue]) -> int | None:
    if text.strip().isdigit():
        return int(text)
    issues.append(Issue(path, f"'{text.strip()}' is not a whole number of {what}"))
    return None


def _protocol_item(form: dict[str, str], raw: dict[str, Any]
                   ) -> tuple[dict[str, Any], list[Issue]]:
    """The form over the stored protocol: its phases' minutes, turnover, room features, REMS
    and each staff entry's qualification (its phases' names and order, its staff entries and
    on-site rules stay as stored)."""
    issues: list[Issue] = []
    phases = []
    for i, phase in enumerate(raw.get("phases", [])):
        minutes = _whole(form.get(f"phases.{i}.minutes", ""), f"phases.{i}.minutes",
                         "minutes", issues)
        phases.append({**phase, "minutes": minutes if minutes is not None else 0})
    staff = [{**need, "qualification": form.get(f"staff.{i}.qualification", "").strip() or None}
             for i, need in enumerate(raw.get("staff", []))]
    turnover = _whole(form.get("turnover_minutes", ""), "turnover_minutes", "minutes", issues)
    item = {"name": form.get("name", "").strip(), "phases": phases,
            "turnover_minutes": turnover if turnover is not None else 0,
            "room_features": parse_list(form.get("room_features", "")),
            "requires_rems": form.get("requires_rems") == "on",
            "staff": [{k: v for k, v in need.items() if v is not None} for need in staff]}
    return item, issues


def _protocols(request: Request, session: Session, user: User, protocol_id: str | None = None,
               **extra: Any) -> dict[str, Any]:
    data = roster.read(session, current_clinic(request, session).id, user)
    have = {p.id for p in data.scenario.protocols}
    ctx: dict[str, Any] = {
        "roster": data, "scenario": data.scenario, "version": data.version,
        "library_all": [(p.id, p.name + (" · in the clinic: add a copy" if p.id in have else ""))
                        for p in roster.library()],
        "rems_rule": REMS_RULE,
        "protocol": None, "raw": {}, "form": {}, "picked": "", "conflict": None, "copy": {}}
    if protocol_id is not None:
        raw = data.raw("protocols", protocol_id)
        ctx.update(protocol=next(p for p in data.scenario.protocols if p.id == protocol_id),
                   raw=raw, form=protocol_form(raw))
    ctx.update(extra)
    return ctx


def _index(request: Request, session: Session, user: User, protocol_id: str) -> str:
    listed = roster.read(session, current_clinic(request, session).id, user).data["protocols"]
    return f"protocols[{[x.get('id') for x in listed].index(protocol_id)}]"


@router.get("/clinic/protocols", response_class=HTMLResponse)
def protocols_page(request: Request, user: PageUser, session: PageSession) -> HTMLResponse:
    return page(request, "protocols.html", _protocols(request, session, user))


@router.post("/clinic/protocols", response_class=HTMLResponse, dependencies=[Csrf])
def add_from_library(request: Request, user: ManagerUser, session: PageSession,
                     form: FormFields) -> Response:
    """A protocol of the library, as it is or as a copy of the clinic's own (id and name)."""
    picked = form.get("protocol", "")
    as_id, as_name = form.get("as_id", "").strip(), form.get("as_name", "").strip()
    try:
        added = roster.add_from_library(session, current_clinic(request, session).id, picked,
                                        user, version_of(form), as_id, as_name)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        shown = refusal(exc)
        fields = {"id": "as_id", "name": "as_name"}
        return page(request, "protocols.html", _protocols(
            request, session, user, picked=picked, conflict=shown["conflict"],
            copy={"as_id": as_id, "as_name": as_name}),
            status_code=shown["status_code"], errors=[
                Issue(fields.get(i.path.rsplit(".", 1)[-1], "protocol"), i.message)
                if i.path.startswith("protocols[") else i for i in shown["errors"]])
    return redirect(f"/clinic/protocols/{added['id']}?saved=1")


@router.get("/clinic/protocols/{protocol_id}", response_class=HTMLResponse)
def protocol_page(request: Request, protocol_id: str, user: PageUser,
                  session: PageSession) -> HTMLResponse:
    return page(request, "protocol.html", _protocols(request, session, user, protocol_id))


@router.post("/clinic/protocols/{protocol_id}", response_class=HTMLResponse,
             dependencies=[Csrf])
def edit_protocol(request: Request, protocol_id: str, user: ManagerUser, session: PageSession,
                  form: FormFields) -> Response:
    raw = roster.read(session, current_clinic(request, session).id, user).raw("protocols",
                                                                              protocol_id)
    item, issues = _protocol_item(form, raw)
    try:
        if issues:
            raise InvalidInput(issues)
        roster.save(session, current_clinic(request, session).id, "protocols", protocol_id,
                    item, user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        shown = refusal(exc, _index(request, session, user, protocol_id))
        return page(request, "protocol.html", _protocols(
            request, session, user, protocol_id, form=form, conflict=shown["conflict"]),
            status_code=shown["status_code"], errors=shown["errors"])
    return redirect(f"/clinic/protocols/{protocol_id}?saved=1")


@router.post("/clinic/protocols/{protocol_id}/remove", response_class=HTMLResponse,
             dependencies=[Csrf])
def remove_protocol(request: Request, protocol_id: str, user: ManagerUser,
                    session: PageSession, form: FormFields) -> Response:
    try:
        roster.remove(session, current_clinic(request, session).id, "protocols", protocol_id,
                      user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        shown = refusal(exc, _index(request, session, user, protocol_id))
        return page(request, "protocol.html", _protocols(
            request, session, user, protocol_id, conflict=shown["conflict"]),
            status_code=shown["status_code"], errors=shown["errors"])
    return redirect("/clinic/protocols?removed=1")
