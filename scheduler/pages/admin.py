"""The organization's admin: its accounts (add with a one-time password, deactivate, reset,
the clinics each works in with which role and as which staff member) and its clinics (add,
export whole, delete whole)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, Issue
from scheduler.pages.web import (
    AdminUser,
    Csrf,
    FormFields,
    PageSession,
    PostedForm,
    page,
    redirect,
    settings_of,
)
from scheduler.service import accounts, clinics, roster
from scheduler.storage.tables import CLINIC_ROLES, User

router = APIRouter(include_in_schema=False)


def _users(request: Request, session: Session, user: User, **extra: Any) -> dict[str, Any]:
    every = clinics.clinics(session, user)
    return {"accounts": accounts.users(session, user), "clinics": every,
            "names": {c.id: c.name for c in every}, "clinic_roles": CLINIC_ROLES,
            "form": {}, "one_time": None, **extra}


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: AdminUser, session: PageSession) -> HTMLResponse:
    return page(request, "admin_users.html", _users(request, session, user))


@router.post("/admin/users", response_class=HTMLResponse, dependencies=[Csrf])
def add_user(request: Request, posted: PostedForm, user: AdminUser, session: PageSession
             ) -> Response:
    """A new account with a one-time password, shown this once."""
    form = {k: str(v) for k, v in posted.multi_items()}
    wanted = [str(v) for v in posted.getlist("clinic")]
    role = form.get("role", "")
    issues = [] if all(v.isdigit() and len(v) < 10 for v in wanted) else [
        Issue("clinic", "is not a clinic")]
    password = secrets.token_urlsafe(12)
    try:
        if issues:
            raise InvalidInput(issues)
        added = accounts.add_user(session, form.get("email", "").strip(), password, role,
                                  user, [int(v) for v in wanted] if role != "admin" else None,
                                  must_change=True)
    except InvalidInput as exc:
        return page(request, "admin_users.html", _users(
            request, session, user, form=form), status_code=422,
            errors=[Issue("clinic" if i.path.startswith("clinic_ids") else i.path, i.message)
                    for i in exc.issues])
    response = page(request, "admin_users.html", _users(
        request, session, user, one_time={"email": added.email, "password": password}),
        status_code=201)
    response.headers["Cache-Control"] = "no-store"
    return response


def _user_id(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput([Issue("user_id", "is not an account")])
    return int(value)


@router.post("/admin/users/{user_id}", response_class=HTMLResponse, dependencies=[Csrf])
def change_user(request: Request, user_id: str, form: FormFields, user: AdminUser,
                session: PageSession) -> Response:
    """``action``: deactivate, activate, reset (a new one-time password, shown once), or
    membership (``clinic``, ``role`` or none, ``staff_id``)."""
    target = _user_id(user_id)
    action = form.get("action", "")
    if action in ("deactivate", "activate"):
        accounts.set_active(session, target, action == "activate", user)
    elif action == "reset":
        changed, password = accounts.reset_password(session, target, user)
        response = page(request, "admin_users.html", _users(
            request, session, user, one_time={"email": changed.email, "password": password}))
        response.headers["Cache-Control"] = "no-store"
        return response
    elif action == "membership":
        clinic = form.get("clinic", "")
        if not clinic.isdigit() or len(clinic) > 9:
            raise InvalidInput([Issue("clinic", "is not a clinic")])
        role = form.get("role") or None
        staff = form.get("staff_id", "").strip() or None
        try:
            accounts.set_membership(session, target, int(clinic), role, staff, user)
        except InvalidInput as exc:
            return page(request, "admin_users.html", _users(request, session, user),
                        status_code=422, errors=exc.issues)
    else:
        raise InvalidInput([Issue("action", "is one of deactivate, activate, reset, "
                                            "membership")])
    return redirect("/admin/users")


def _clinics(session: Session, user: User, form: dict[str, Any]) -> dict[str, Any]:
    return {"clinics": clinics.clinics(session, user), "form": form,
            "library": [(p.id, p.name) for p in roster.library()]}


@router.get("/admin/clinics", response_class=HTMLResponse)
def clinics_page(request: Request, user: AdminUser, session: PageSession) -> HTMLResponse:
    return page(request, "admin_clinics.html", _clinics(session, user, {
        "start": "demo", "timezone": "America/New_York", "protocols": []}))


@router.post("/admin/clinics", response_class=HTMLResponse, dependencies=[Csrf])
def add_clinic(request: Request, posted: PostedForm, user: AdminUser, session: PageSession
               ) -> Response:
    """A new clinic: the demo clinic's rooms, staff and protocols (no patients), or an empty
    start (one room, the library's protocols ticked, hours to set) a manager fills in."""
    form: dict[str, Any] = {k: str(v) for k, v in posted.items()}
    form["protocols"] = [str(v) for v in posted.getlist("protocols")]
    name = form.get("name", "").strip() or None
    slug = form.get("slug", "").strip()
    try:
        if form.get("start") == "empty":
            roster.new_clinic(session, slug, name or "", form.get("timezone", "").strip(),
                              form["protocols"], settings_of(request).now().date(), user)
        else:
            clinics.create(session, slug, user, name=name)
    except InvalidInput as exc:
        session.rollback()
        return page(request, "admin_clinics.html", _clinics(session, user, form),
                    status_code=422, errors=exc.issues)
    return redirect("/admin/clinics?added=" + ("empty" if form.get("start") == "empty" else "1"))


@router.get("/admin/clinics/{clinic_id}/export.json")
def export_clinic(clinic_id: int, user: AdminUser, session: PageSession) -> Response:
    data = clinics.export(session, clinic_id, user)
    return Response(json.dumps(data, indent=1).encode(), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="clinic-'
                             f'{data["clinic"]["slug"]}.json"', "Cache-Control": "no-store"})


@router.post("/admin/clinics/{clinic_id}/delete", dependencies=[Csrf])
def delete_clinic(request: Request, form: FormFields, clinic_id: int, user: AdminUser,
                  session: PageSession) -> Response:
    try:
        clinics.delete(session, clinic_id, form.get("confirm", "").strip(), user)
    except InvalidInput as exc:
        return page(request, "admin_clinics.html", _clinics(session, user, {}),
                    status_code=422, errors=exc.issues)
    return redirect("/admin/clinics?deleted=1")
