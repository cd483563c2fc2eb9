"""The pages for the front desk and the manager: server-rendered (Jinja2), plain forms with a
little script of our own (no build step, no inline script), behind the API's accounts; one
module per resource, each thin over ``scheduler.service``.

``install(app)`` adds them to the service; ``error_page`` answers an error on a page's path
with a page instead of the API's JSON.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from scheduler.pages import (
    account,
    admin,
    appointments,
    clinic,
    jobs,
    messages,
    patients,
    replan,
    rooms,
    selfservice,
    signin,
    staff,
    utilization,
    versions,
    week,
    whatif,
)
from scheduler.pages.web import (
    HERE,
    PASSWORD_PAGE,
    LoginRequired,
    PasswordChangeRequired,
    error_page,
    security_headers,
    wants_page,
)

__all__ = ["install", "page_error"]

ROUTERS = (signin, account, admin, week, jobs, appointments, replan, patients, whatif,
           utilization, versions, clinic, staff, rooms, messages, selfservice)


def page_error(request: Request, code: int, message: str) -> Response | None:
    """An error as a page when the path is a page's; None for the API's paths."""
    return error_page(request, code, message) if wants_page(request) else None


def install(app: FastAPI) -> None:
    for module in ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """The icon browsers ask for on every page (a 404 in every log before)."""
        return FileResponse(HERE / "static" / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})
    app.middleware("http")(security_headers)

    @app.exception_handler(PasswordChangeRequired)
    async def password_change(_request: Request, _exc: PasswordChangeRequired
                              ) -> RedirectResponse:
        return RedirectResponse(PASSWORD_PAGE, status_code=303)

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)
