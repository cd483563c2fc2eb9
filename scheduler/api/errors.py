"""The application's errors as HTTP answers: InvalidInput 422 (every problem, with its field
path), NotFound 404, Forbidden 403, Conflict 409, TooMany 429 with ``Retry-After``; FastAPI's own
request errors in the same 422 shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from scheduler.errors import Conflict, Forbidden, InvalidInput, NotFound, TooMany

from .schemas import Message, ValidationProblem

R400: dict[int | str, dict[str, Any]] = {400: {"model": Message, "description": "Bad request"}}
R401: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "Not signed in, or the token expired"}}
R403: dict[int | str, dict[str, Any]] = {
    403: {"model": Message, "description": "Signed in with a role that may not do this"}}
R404: dict[int | str, dict[str, Any]] = {404: {"model": Message, "description": "No such id"}}
R409: dict[int | str, dict[str, Any]] = {
    409: {"model": Message, "description": "Changed since you read it, or not editable"}}
R429: dict[int | str, dict[str, Any]] = {
    429: {"model": Message, "description": "Too many of your jobs are queued or running: ask "
                                           "again after Retry-After seconds",
          "headers": {"Retry-After": {"description": "Seconds to wait",
                                      "schema": {"type": "integer"}}}}}
R422: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationProblem, "description": "Invalid input: every problem, by field"}}
SIGNED_IN = R401 | R403


def _issues(items: list[tuple[str, str]]) -> JSONResponse:
    return JSONResponse({"detail": [{"path": p, "message": m} for p, m in items]},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


PageError = Callable[[Request, int, str], Response | None]
"""Answers an error on a page's path with a page (None: the path is the API's)."""


def _no_page(_request: Request, _code: int, _message: str) -> Response | None:
    return None


def install(app: FastAPI, page: PageError = _no_page) -> None:
    """The handlers; an error on a page's path is answered by ``page``."""
    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        items = [(i.path, i.message) for i in exc.issues]
        shown = page(request, 422, "; ".join(f"{p}: {m}" for p, m in items))
        return shown if shown is not None else _issues(items)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        items = [issues_from_error(e) for e in exc.errors()]
        shown = page(request, 422, "; ".join(f"{p}: {m}" for p, m in items))
        return shown if shown is not None else _issues(items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's answers, but a 405's ``Allow`` lists every method of the path (each
        method of a path is a route of its own, and Starlette names only the first)."""
        headers = dict(exc.headers or {})
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            headers["Allow"] = ", ".join(_allowed(request))
        shown = page(request, exc.status_code, str(exc.detail))
        if shown is not None:
            shown.headers.update(headers)
            return shown
        return await http_exception_handler(request, StarletteHTTPException(
            exc.status_code, exc.detail, headers))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        shown = page(request, 404, str(exc))
        return shown if shown is not None else JSONResponse(
            {"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        shown = page(request, 403, str(exc))
        return shown if shown is not None else JSONResponse(
            {"detail": str(exc)}, status_code=status.HTTP_403_FORBIDDEN)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        shown = page(request, 409, str(exc))
        return shown if shown is not None else JSONResponse(
            {"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(TooMany)
    async def too_many(request: Request, exc: TooMany) -> Response:
        headers = {"Retry-After": str(exc.retry_after)}
        shown = page(request, 429, str(exc))
        if shown is not None:
            shown.headers.update(headers)
            return shown
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers=headers)


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> list[str]:
    """The methods this path answers, as the OpenAPI document lists them (of the documented
    paths it matches, the most specific: ``…/patients/file`` before ``…/patients/{id}``);
    for an undocumented path (a page), each method tried against the router."""
    path = request.url.path
    documented = []
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            documented.append((template.count("{"), sorted(m.upper() for m in operations)))
    if documented:
        return min(documented)[1]
    return [m for m in METHODS
            if any(route.matches({**request.scope, "method": m})[0] == Match.FULL
                   for route in request.app.router.routes)]


def issues_from_error(error: Any) -> tuple[str, str]:
    """One FastAPI request error as (field path, message), in the scenario's wording:
    ``body.start``, ``query.version``."""
    loc = list(error.get("loc", ())) or ["request"]
    path = str(loc[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = "is required"
    if message[1:2].isupper():  # an acronym ("JSON decode error") keeps its capitals
        return path, message
    return path, message[0].lower() + message[1:] if message else message


__all__ = ["R400", "R401", "R403", "R404", "R409", "R422", "R429", "SIGNED_IN", "install"]
