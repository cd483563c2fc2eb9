"""Signing in and out of the pages (the cookie holds one of the API's access tokens)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from scheduler.errors import Issue
from scheduler.pages.web import (
    COOKIE,
    CSRF_COOKIE,
    Csrf,
    PageSession,
    page,
    redirect,
    settings_of,
)
from scheduler.service import accounts
from scheduler.service.throttle import SignInGuard, TooManyAttempts, TryLater

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only a path of this site (never ``//evil.example`` or ``https://…``)."""
    return target if target.startswith("/") and not target.startswith("//") else "/board"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/board") -> HTMLResponse:
    return page(request, "login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login", response_class=HTMLResponse, dependencies=[Csrf])
async def login(request: Request, email: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/board",
                ) -> Response:
    """``async``: a sign-in waiting for a password check holds no thread (service.throttle);
    too many failures answer 429, too many sign-ins at once 503, each with ``Retry-After`` and
    the form again saying when to try."""
    issues: list[Issue] = []
    if not email.strip():
        issues.append(Issue("email", "is required"))
    if not password:
        issues.append(Issue("password", "is required"))
    settings = settings_of(request)
    signed_in = None
    context = {"next": _safe_next(next), "email": email}
    if not issues:
        guard: SignInGuard = request.app.state.sign_in_guard
        address = request.client.host if request.client else "unknown"
        try:
            signed_in = await guard.sign_in(request.app.state.sessions, email.strip(),
                                            password, address, settings.token_minutes)
        except TryLater as exc:
            code = (status.HTTP_429_TOO_MANY_REQUESTS if isinstance(exc, TooManyAttempts)
                    else status.HTTP_503_SERVICE_UNAVAILABLE)
            what = ("Too many failed sign-ins" if code == status.HTTP_429_TOO_MANY_REQUESTS
                    else "Too many people are signing in right now")
            wait = (f"{exc.retry_after} seconds" if exc.retry_after != 1 else "a second")
            shown = page(request, "login.html", context, status_code=code, errors=[
                Issue("password", f"{what}: try again in {wait}.")])
            shown.headers["Retry-After"] = str(exc.retry_after)
            return shown
        if signed_in is None:
            issues.append(Issue("password", "wrong email or password"))
    if issues or signed_in is None:
        return page(request, "login.html", context, status_code=422, errors=issues)
    _, token, _ = signed_in
    response = redirect(_safe_next(next))
    response.set_cookie(COOKIE, token, max_age=settings.token_minutes * 60, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, session: PageSession) -> RedirectResponse:
    token = request.cookies.get(COOKIE)
    if token:
        accounts.sign_out(session, token)
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/board", status_code=status.HTTP_307_TEMPORARY_REDIRECT)
