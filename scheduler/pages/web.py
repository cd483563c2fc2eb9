"""What every page shares: templates, the signed-in staff member (a session cookie), CSRF
tokens, the security headers, and errors shown as pages.

Staff sign in with the API's accounts; the cookie holds one of the API's access tokens
(``HttpOnly``, ``SameSite=Lax``), so signing out or an expired token ends both. Every form
carries a CSRF token: an HMAC of the session token (or, before sign-in, of a random cookie), so
another site can neither read nor forge it. Pages send a Content-Security-Policy without
``unsafe-inline``: the only scripts are files of ``static/``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, tzinfo
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from scheduler.errors import Forbidden, Issue, NotFound
from scheduler.service import access, accounts
from scheduler.settings import Settings
from scheduler.storage.tables import Clinic, User

__all__ = [
    "COOKIE",
    "CSP",
    "CSRF_COOKIE",
    "DESK",
    "MANAGER",
    "FormFields",
    "LoginRequired",
    "PageSession",
    "PageUser",
    "PasswordChangeRequired",
    "PostedForm",
    "check_csrf",
    "csrf_token",
    "form_fields",
    "page",
    "require_page",
    "security_headers",
    "settings_of",
    "templates",
]

COOKIE = "chairtime_session"
CSRF_COOKIE = "chairtime_csrf"
CLINIC_COOKIE = "chairtime_clinic"
"""The clinic the pages showed last (a choice, not a right: every page checks the role)."""
DESK = ("front_desk", "manager", "admin")
MANAGER = ("manager", "admin")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
"""No inline script or style anywhere: geometry is SVG attributes, behaviour ``static/*.js``."""

HERE = Path(str(files("scheduler.pages")))
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["role_names"] = {"front_desk": "front desk", "manager": "manager",
                                       "admin": "admin"}


def _local(value: datetime, fmt: str = "%a %d %b %H:%M", tz: tzinfo | str | None = None
           ) -> str:
    """``{{ t|local('%d %b %H:%M', tz) }}``: an instant on the clinic's wall clock (``tz``, its
    zone or the zone's name; the page's ``tz``); UTC without one. A stored time without an
    offset is UTC (the tables store UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = ZoneInfo(tz) if isinstance(tz, str) else (tz or UTC)
    return value.astimezone(zone).strftime(fmt)


templates.env.filters["local"] = _local
templates.env.filters["urlquote"] = lambda s: quote(str(s), safe="")


class LoginRequired(Exception):
    """Raised by a page dependency: the answer is a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def get_page_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


PageSession = Annotated[Session, Depends(get_page_session)]


class PasswordChangeRequired(Exception):
    """Raised by a page dependency: the account signed in with a one-time password; the answer
    is a redirect to the page that changes it."""


PASSWORD_PAGE = "/account/password"


def _signed_in(request: Request, session: PageSession) -> User:
    """The signed-in account (else to the sign-in page), even one on a one-time password."""
    token = request.cookies.get(COOKIE)
    user = accounts.user_for_token(session, token)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.user = user
    request.state.token = token
    return user


def _user(user: Annotated[User, Depends(_signed_in)]) -> User:
    """The signed-in account; one on a one-time password goes to change it first."""
    if user.must_change_password:
        raise PasswordChangeRequired()
    return user


def _clinic(request: Request, session: Session, user: User, roles: tuple[str, ...]) -> Clinic:
    """The clinic a page is about: the one its path names (a schedule's, a job's), else
    ``?clinic=``, else the one chosen last (a cookie), else the account's first. Another
    clinic's ids are a 404, as ids that do not exist; a role too low is a 403."""
    named = access.clinic_in_path(session, request.path_params)
    wanted = request.query_params.get("clinic", "")
    mine = access.clinics_of(session, user)
    request.state.clinics = mine
    if named is not None:
        clinic_id, missing = named
    elif wanted:
        clinic_id, missing = (int(wanted) if wanted.isdigit() and len(wanted) < 10 else 0,
                              NotFound("clinic", wanted[:20]))
    else:
        last = request.cookies.get(CLINIC_COOKIE, "")
        chosen = next((c for c in mine if str(c.id) == last), mine[0] if mine else None)
        if chosen is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "You hold no role in any clinic yet: "
                                "an admin adds you to one.")
        clinic_id, missing = chosen.id, NotFound("clinic", str(chosen.id))
    try:
        role = access.require(session, user, clinic_id, roles, missing)
    except Forbidden as exc:
        names = ", ".join(access.ROLE_NAMES[r] for r in roles)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"This page is for {names}; {exc}.") \
            from exc
    request.state.role = role
    request.state.clinic = next(c for c in mine if c.id == clinic_id)
    return request.state.clinic  # type: ignore[no-any-return]


def require_page(*roles: str) -> Callable[..., User]:
    """A page dependency: signed in (else to the sign-in page) with one of ``roles`` in the
    page's clinic (see :func:`_clinic`; else a 403 page naming who may)."""
    def check(request: Request, session: PageSession,
              user: Annotated[User, Depends(_user)]) -> User:
        _clinic(request, session, user, roles)
        return user
    return check


def require_admin_page(request: Request, session: PageSession,
                       user: Annotated[User, Depends(_user)]) -> User:
    """A page of the organization's admin (its accounts and clinics)."""
    request.state.clinics = access.clinics_of(session, user)
    if not user.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This page is for admins.")
    return user


PageUser = Annotated[User, Depends(require_page(*DESK))]
ManagerUser = Annotated[User, Depends(require_page(*MANAGER))]
AdminUser = Annotated[User, Depends(require_admin_page)]
SignedInUser = Annotated[User, Depends(_signed_in)]


def settings_of(request: Request) -> Settings:
    """The service's settings, read once at start-up."""
    settings: Settings = request.app.state.settings
    return settings


async def form_fields(request: Request) -> dict[str, str]:
    """A posted form's fields as text (the last value of a repeated name)."""
    return {k: str(v) for k, v in (await request.form()).items()}


async def posted_form(request: Request) -> FormData:
    """A posted form, read in the event loop (the CSRF check has read it already)."""
    return await request.form()


FormFields = Annotated[dict[str, str], Depends(form_fields)]
"""A form's fields for a plain ``def`` handler: FastAPI runs it in its thread pool, so its
parsing, validation and queries never hold up the event loop (and every other request)."""
PostedForm = Annotated[FormData, Depends(posted_form)]
"""The same for a form with repeated names (``getlist``)."""


def csrf_token(request: Request) -> str:
    """The token forms carry: bound to the session cookie (or the pre-sign-in cookie)."""
    key = request.cookies.get(COOKIE) or request.cookies.get(CSRF_COOKIE) or ""
    if not key:
        key = getattr(request.state, "csrf_seed", "") or secrets.token_urlsafe(24)
        request.state.csrf_seed = key
    return hmac.new(key.encode(), b"chairtime-form", hashlib.sha256).hexdigest()


async def check_csrf(request: Request) -> None:
    """A dependency of every form POST: its ``csrf`` field matches this browser's token."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    key = request.cookies.get(COOKIE) or request.cookies.get(CSRF_COOKIE) or ""
    want = hmac.new(key.encode(), b"chairtime-form", hashlib.sha256).hexdigest()
    if not key or not hmac.compare_digest(sent, want):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "This form has expired or did not come from Chairtime: reload the "
                            "page and send it again.")


Csrf = Depends(check_csrf)


def current_clinic(request: Request, session: Session) -> Clinic:
    """The clinic the page is about (set by the page's dependency, see ``require_page``)."""
    clinic = getattr(request.state, "clinic", None)
    if clinic is None:
        user = request.state.user
        clinic = _clinic(request, session, user, DESK)
    return clinic


def page(request: Request, template: str, context: dict[str, Any] | None = None,
         status_code: int = 200, errors: list[Issue] | None = None) -> HTMLResponse:
    """Render ``template`` with what every page needs (user, CSRF token, field errors)."""
    by_field: dict[str, list[str]] = {}
    for issue in errors or []:
        by_field.setdefault(issue.path, []).append(issue.message)
    clinic = getattr(request.state, "clinic", None)
    values = {"request": request, "user": getattr(request.state, "user", None),
              "role": getattr(request.state, "role", None), "clinic_now": clinic,
              "clinic_choices": getattr(request.state, "clinics", []),
              "csrf": csrf_token(request), "errors": errors or [], "field_errors": by_field,
              "nav": request.url.path, **(context or {})}
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    seed = getattr(request.state, "csrf_seed", None)
    if seed and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
    if clinic is not None and request.cookies.get(CLINIC_COOKIE) != str(clinic.id):
        response.set_cookie(CLINIC_COOKIE, str(clinic.id), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form POST: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def wants_page(request: Request) -> bool:
    """Whether an error on this path is answered with a page (not the API's JSON)."""
    path = request.url.path
    return not (path.startswith(("/api/", "/feeds/", "/docs", "/redoc", "/openapi"))
                or path.endswith((".json", ".png", ".svg", ".ics", ".txt", ".csv")))


def error_page(request: Request, code: int, message: str) -> HTMLResponse:
    titles = {403: "Not for you", 404: "Not found", 409: "Changed meanwhile", 405: "Not allowed",
              413: "Too large", 429: "Too many at once"}
    return page(request, "error.html", {"code": code, "title": titles.get(code, "Error"),
                                        "message": message}, status_code=code)


async def security_headers(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Pages and their files: the CSP, no framing, no sniffing, no caching of staff data."""
    response = await call_next(request)
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/html") and wants_page(request):
        # a route may send a stricter policy of its own (the what-if report: no script at all)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Referrer-Policy", "same-origin")  # or a stricter one
        response.headers.setdefault("Cache-Control", "no-store")
    if wants_page(request) or request.url.path.startswith("/static/"):
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response
