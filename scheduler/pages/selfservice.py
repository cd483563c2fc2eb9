"""A patient's self-service page, opened by their private link (``/me/{token}``): their
upcoming sessions, each to confirm, cancel or move to a slot the slot finder offers; made for
a phone (360 px). The token is the only key: no sign-in, no cookie; a token that is unknown,
rotated away or malformed is the same 404 as a path that never existed; requests are limited
per link and per client address (429 with Retry-After)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response

from scheduler.errors import Conflict, Forbidden, NotFound
from scheduler.pages.web import PageSession, redirect, settings_of, templates
from scheduler.service import selfservice
from scheduler.service.throttle import RateLimits
from scheduler.settings import Settings

router = APIRouter(include_in_schema=False)

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}
Token = Annotated[str, Path(max_length=128)]


def _limits(request: Request, settings: Settings) -> RateLimits:
    found: RateLimits | None = getattr(request.app.state, "self_service_limits", None)
    if found is None:
        found = request.app.state.self_service_limits = RateLimits(settings.feed_limit_seconds)
    return found


def _link(request: Request, session: PageSession, token: Token) -> tuple[int, str]:
    """The clinic and patient of the link, after the rate limits; else the 404 of nothing."""
    settings = settings_of(request)
    limits = _limits(request, settings)
    address = request.client.host if request.client else "unknown"
    wait = limits.wait((f"self:{selfservice.token_hash(token)}", settings.self_service_limit),
                       (f"self-addr:{address}",
                        settings.self_service_limit * 10))
    if wait > 0:
        raise HTTPException(status_code=429, headers={"Retry-After": str(math.ceil(wait))})
    found = selfservice.open_link(session, token) if _TOKEN.fullmatch(token) else None
    if found is None:
        raise HTTPException(status_code=404)
    return found


Link = Annotated[tuple[int, str], Depends(_link)]


def _now(request: Request) -> datetime:
    return settings_of(request).now()


def _page(request: Request, template: str, context: dict[str, object],
          status_code: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {"request": request, **context},
                                          status_code=status_code)
    response.headers.update(HEADERS)
    return response


def _mine(request: Request, session: PageSession, token: str, link: tuple[int, str],
          status_code: int = 200, **extra: object) -> HTMLResponse:
    """The patient's page: their sessions and only the actions their clinic offers."""
    mine = selfservice.visits(session, *link, settings_of(request), _now(request))
    return _page(request, "selfservice.html", {
        "token": token, "clinic": mine.clinic, "visits": mine.visits,
        "allowed": mine.policy.allowed, **extra}, status_code)


@router.get("/me/{token}", response_class=HTMLResponse)
def mine(request: Request, token: Token, link: Link, session: PageSession,
         done: str | None = None) -> HTMLResponse:
    return _mine(request, session, token, link, done=done)


GONE = "that appointment is not on your list (any more)"


def _refuse(request: Request, token: str, link: tuple[int, str], session: PageSession,
            exc: Conflict | Forbidden | NotFound) -> HTMLResponse:
    """The page again with why it was not done: 409 (too late, taken), 403 (turned off),
    404 (a session not on the list: cancelled, moved, past, or never the patient's; the
    patient's own list rather than the staff's error page)."""
    session.rollback()
    if isinstance(exc, NotFound):
        return _mine(request, session, token, link, 404, problem=GONE)
    return _mine(request, session, token, link, 403 if isinstance(exc, Forbidden) else 409,
                 problem=str(exc))


@router.post("/me/{token}/confirm", response_model=None)
def confirm(request: Request, token: Token, link: Link, session: PageSession,
            ref: str = Form(max_length=64)) -> Response:
    try:
        selfservice.confirm(session, *link, ref, settings_of(request), _now(request))
    except (Forbidden, NotFound) as exc:
        return _refuse(request, token, link, session, exc)
    return redirect(f"/me/{token}?done=confirmed")


@router.get("/me/{token}/cancel/{ref}", response_model=None)
def ask_cancel(request: Request, token: Token, ref: Annotated[str, Path(max_length=64)],
               link: Link, session: PageSession) -> Response:
    """"Cancel this appointment?": the session named, and the one button that cancels it (a
    tap on the list only leads here). Refused as the cancellation itself would be."""
    try:
        clinic, visit = selfservice.cancellable(session, *link, ref, settings_of(request),
                                                _now(request))
    except (Conflict, Forbidden, NotFound) as exc:
        return _refuse(request, token, link, session, exc)
    return _page(request, "selfservice_cancel.html",
                 {"token": token, "clinic": clinic, "visit": visit})


@router.post("/me/{token}/cancel", response_model=None)
def cancel(request: Request, token: Token, link: Link, session: PageSession,
           ref: str = Form(max_length=64)) -> Response:
    try:
        selfservice.cancel(session, *link, ref, settings_of(request), _now(request))
    except (Conflict, Forbidden, NotFound) as exc:
        return _refuse(request, token, link, session, exc)
    return redirect(f"/me/{token}?done=cancelled")


@router.get("/me/{token}/move/{ref}", response_model=None)
def offer(request: Request, token: Token, ref: Annotated[str, Path(max_length=64)],
          link: Link, session: PageSession) -> Response:
    mine = selfservice.visits(session, *link, settings_of(request), _now(request))
    visit = next((v for v in mine.visits if v.ref == ref), None)
    try:
        _, slots = selfservice.slots_for(session, *link, ref, settings_of(request),
                                         when=_now(request))
    except (Conflict, Forbidden, NotFound) as exc:
        return _refuse(request, token, link, session, exc)
    tz = visit.start.tzinfo if visit is not None else None
    return _page(request, "selfservice_move.html", {
        "token": token, "clinic": mine.clinic, "visit": visit,
        "slots": [(s, s.start.astimezone(tz)) for s in slots]})


@router.post("/me/{token}/move/{ref}", response_model=None)
def move(request: Request, token: Token, ref: Annotated[str, Path(max_length=64)],
         link: Link, session: PageSession, start: str = Form(max_length=40),
         room: str = Form(default="", max_length=64)) -> Response:
    try:
        when = datetime.fromisoformat(start)
    except ValueError:
        raise HTTPException(status_code=422, detail="start: not a time") from None
    try:
        selfservice.reschedule(session, *link, ref, when, room or None, settings_of(request),
                               _now(request))
    except (Conflict, Forbidden, NotFound) as exc:
        return _refuse(request, token, link, session, exc)
    return redirect(f"/me/{token}?done=moved")
