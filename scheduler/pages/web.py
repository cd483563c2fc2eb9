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
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from scheduler.errors import Issue
from scheduler.service import accounts, clinics
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
DESK = ("front_desk", "manager", "admin")
MANAGER = ("manager", "admin")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
"""No inline script or style anywhere: geometry is SVG attributes, behaviour ``static/*.js``."""

HERE = Path(str(files("scheduler.pages")))
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["role_names"] = {"front_desk": "front desk", "manager": "manager",
                                       "admin": "admin"}


def _local(value: datetime, fmt: str = "%a %d %b %H:%M") -> str:
    return value.strftime(fmt)


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


def _user(request: Request, session: PageSession) -> User:
    token = request.cookies.get(COOKIE)
    user = accounts.user_for_token(session, token)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.user = user
    return user


def require_page(*roles: str) -> Callable[..., User]:
    """A page dependency: signed in (else to the sign-in page) with one of ``roles`` (else a
    403 page naming who may)."""
    def check(user: Annotated[User, Depends(_user)]) -> User:
        if user.role not in roles:
            names = ", ".join(r.replace("_", " ") for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"This page is for {names}; you are signed in as "
                                f"{user.role.replace('_', ' ')}.")
        return user
    return check


PageUser = Annotated[User, Depends(require_page(*DESK))]
ManagerUser = Annotated[User, Depends(require_page(*MANAGER))]


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
    """The clinic the pages show: ``?clinic=`` when given, else the first."""
    wanted = request.query_params.get("clinic")
    if wanted and wanted.isdigit():
        return clinics.clinic(session, int(wanted))
    every = clinics.clinics(session)
    if not every:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No clinic yet.")
    return every[0]


def page(request: Request, template: str, context: dict[str, Any] | None = None,
         status_code: int = 200, errors: list[Issue] | None = None) -> HTMLResponse:
    """Render ``template`` with what every page needs (user, CSRF token, field errors)."""
    by_field: dict[str, list[str]] = {}
    for issue in errors or []:
        by_field.setdefault(issue.path, []).append(issue.message)
    values = {"request": request, "user": getattr(request.state, "user", None),
              "csrf": csrf_token(request), "errors": errors or [], "field_errors": by_field,
              "nav": request.url.path, **(context or {})}
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    seed = getattr(request.state, "csrf_seed", None)
    if seed and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax",
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
              413: "Too large"}
    return page(request, "error.html", {"code": code, "title": titles.get(code, "Error"),
                                        "message": message}, status_code=code)


async def security_headers(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Pages and their files: the CSP, no framing, no sniffing, no caching of staff data."""
    response = await call_next(request)
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/html") and wants_page(request):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
    if wants_page(request) or request.url.path.startswith("/static/"):
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response
