"""The clinic's rooms: chairs, features and their own hours, which a manager adds, edits and
removes; closures (a broken pump this afternoon), which the front desk enters too, then the
re-plan they offer."""

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
)
from scheduler.service import roster
from scheduler.storage.tables import User

router = APIRouter(include_in_schema=False)


def room_form(item: dict[str, Any]) -> dict[str, str]:
    """A stored room as the form's fields."""
    return {"id": str(item.get("id", "")), "name": str(item.get("name") or ""),
            "chairs": str(item.get("chairs", 1)),
            "features": ", ".join(map(str, item.get("features", []))),
            **{f"hours.{d}": t for d, t in week_text(item.get("hours")).items()}}


def _item(form: dict[str, str], new: bool) -> tuple[dict[str, Any], list[Issue]]:
    """The form as a room; no hours typed at all: the clinic's hours (``hours`` left out)."""
    hours, issues = parse_week(form, "hours")
    chairs = form.get("chairs", "").strip()
    item: dict[str, Any] = {"name": form.get("name", "").strip() or None,
                            "features": parse_list(form.get("features", "")),
                            "hours": hours or None}
    if chairs.isdigit():
        item["chairs"] = int(chairs)
    else:
        issues.append(Issue("chairs", f"'{chairs}' is not a whole number of chairs"))
    if new:
        item = {"id": form.get("id", "").strip(), **item}
    return item, issues


def _context(request: Request, session: Session, user: User, room_id: str | None = None,
             **extra: Any) -> dict[str, Any]:
    data = roster.read(session, current_clinic(request, session).id, user)
    ctx: dict[str, Any] = {"roster": data, "scenario": data.scenario, "version": data.version,
                           "who": Names.of(data.scenario), "tz": data.scenario.tz,
                           "features": sorted({f for p in data.scenario.protocols
                                               for f in p.room_features}),
                           "room": None, "raw": {}, "form": {"chairs": "1"}, "closure": {},
                           "offer": None, "conflict": None}
    if room_id is not None:
        raw = data.raw("rooms", room_id)
        ctx.update(room=next(r for r in data.scenario.rooms if r.id == room_id), raw=raw,
                   form=room_form(raw))
    ctx.update(extra)
    return ctx


def _index(request: Request, session: Session, user: User, room_id: str | None) -> str:
    listed = roster.read(session, current_clinic(request, session).id, user).data["rooms"]
    ids = [x.get("id") for x in listed]
    return f"rooms[{ids.index(room_id) if room_id in ids else len(ids)}]"


def _refused(request: Request, session: Session, user: User, room_id: str | None,
             exc: InvalidInput | Conflict, **extra: Any) -> Response:
    session.rollback()
    shown = refusal(exc, _index(request, session, user, room_id))
    return page(request, "room.html",
                _context(request, session, user, room_id, conflict=shown["conflict"], **extra),
                status_code=shown["status_code"], errors=shown["errors"])


@router.get("/clinic/rooms", response_class=HTMLResponse)
def rooms_page(request: Request, user: PageUser, session: PageSession) -> HTMLResponse:
    return page(request, "rooms.html", _context(request, session, user))


@router.get("/clinic/rooms/new", response_class=HTMLResponse)
def new_room_page(request: Request, user: ManagerUser, session: PageSession) -> HTMLResponse:
    return page(request, "room.html", _context(request, session, user))


@router.get("/clinic/rooms/{room_id}", response_class=HTMLResponse)
def room_page(request: Request, room_id: str, user: PageUser, session: PageSession,
              closed: str = "", start: str = "", end: str = "") -> HTMLResponse:
    """A room; after a closure (``closed``, ``start``-``end``), the re-plan it offers."""
    ctx = _context(request, session, user, room_id)
    if closed:
        event = {"type": "room_closed", "room": room_id, "date": closed,
                 **({"from": start} if start else {}), **({"to": end} if end else {})}
        try:
            ctx["offer"] = roster.replan_offer(session, current_clinic(request, session).id,
                                               event)
        except ValueError:  # a date or time typed into the address bar
            ctx["offer"] = None
    return page(request, "room.html", ctx)


def _save(request: Request, session: Session, user: User, room_id: str | None,
          form: dict[str, str]) -> Response:
    item, issues = _item(form, room_id is None)
    try:
        if issues:
            raise InvalidInput(issues)
        roster.save(session, current_clinic(request, session).id, "rooms", room_id, item, user,
                    version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, room_id, exc, form=form)
    return redirect(f"/clinic/rooms/{room_id or item['id']}?saved=1")


@router.post("/clinic/rooms", response_class=HTMLResponse, dependencies=[Csrf])
def add_room(request: Request, user: ManagerUser, session: PageSession,
             form: FormFields) -> Response:
    return _save(request, session, user, None, form)


@router.post("/clinic/rooms/{room_id}", response_class=HTMLResponse, dependencies=[Csrf])
def edit_room(request: Request, room_id: str, user: ManagerUser, session: PageSession,
              form: FormFields) -> Response:
    roster.read(session, current_clinic(request, session).id, user).raw("rooms", room_id)
    return _save(request, session, user, room_id, form)


@router.post("/clinic/rooms/{room_id}/remove", response_class=HTMLResponse, dependencies=[Csrf])
def remove_room(request: Request, room_id: str, user: ManagerUser, session: PageSession,
                form: FormFields) -> Response:
    try:
        roster.remove(session, current_clinic(request, session).id, "rooms", room_id, user,
                      version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, room_id, exc)
    return redirect("/clinic/rooms?removed=1")


@router.post("/clinic/rooms/{room_id}/closures", response_class=HTMLResponse,
             dependencies=[Csrf])
def add_closure(request: Request, room_id: str, user: PageUser, session: PageSession,
                form: FormFields) -> Response:
    """Out of service on a date or part of it (the front desk's too), then the re-plan."""
    fields = {k: form.get(k, "").strip() for k in ("date", "from", "to")}
    try:
        outage = roster.add_outage(session, current_clinic(request, session).id, "rooms",
                                   room_id, fields, user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, room_id, exc, closure=fields)
    part = (f"&start={outage.from_ or '00:00'}&end={outage.to or '24:00'}"
            if outage.from_ or outage.to else "")
    return redirect(f"/clinic/rooms/{room_id}?closed={outage.date}{part}")


@router.post("/clinic/rooms/{room_id}/closures/remove", response_class=HTMLResponse,
             dependencies=[Csrf])
def remove_closure(request: Request, room_id: str, user: PageUser, session: PageSession,
                   form: FormFields) -> Response:
    try:
        roster.remove_outage(session, current_clinic(request, session).id, "rooms", room_id,
                             form.get("which", ""), user, version_of(form))
    except (InvalidInput, Conflict) as exc:
        return _refused(request, session, user, room_id, exc)
    return redirect(f"/clinic/rooms/{room_id}")
