"""Request bodies counted as they arrive: over its limit, a body is refused with 413 before it
is parsed, and before its sender is signed in (FastAPI reads a body before its dependencies).

A ``Content-Length`` over the limit is answered at once, the body unread; a body without one
(chunked) is counted as it streams and cut off as soon as it passes the limit, so no more than
the limit is ever held. The answer is the application's own: JSON ``{"detail": …}`` on the
API's paths, the error page on a page's. (Starlette's own limit answers a ``Content-Length``
over it in plain text whatever the path, hence this middleware.)

A JSON body nested deeper than ``scheduler.nesting.MAX_DEPTH`` is a 422 naming the body
(``shallow_json``, a dependency of every route), before the service walks it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import status
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.api.errors import PageError
from scheduler.errors import InvalidInput, Issue
from scheduler.nesting import MAX_DEPTH, too_deep

__all__ = ["BodyLimit", "TooLarge", "shallow_json", "too_large"]


def too_large(limit: int) -> str:
    """A 413's words.

    >>> too_large(5 * 1024 * 1024)
    'The request is larger than the 5 MiB this address accepts.'
    """
    size = (f"{limit / 1024 / 1024:g} MiB" if limit >= 1024 * 1024
            else f"{limit / 1024:g} KiB" if limit >= 1024 else f"{limit} bytes")
    return f"The request is larger than the {size} this address accepts."


class TooLarge(HTTPException):
    """Raised by the body's ``receive`` once the body passes its limit: the handler reading
    it stops there, and the app's handler of HTTP errors answers."""

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, too_large(limit))


def _no_page(_request: Request, _code: int, _message: str) -> Response | None:
    return None


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodyLimit:
    """ASGI middleware: a request body may have ``default`` bytes, or the limit of the first
    of ``larger`` (a regular expression of the path, a limit) whose pattern matches its path."""

    def __init__(self, app: ASGIApp, default: int, larger: Sequence[tuple[str, int]] = (),
                 page: PageError = _no_page) -> None:
        self.app = app
        self.default = default
        self.larger = [(re.compile(pattern), limit) for pattern, limit in larger]
        self.page = page

    def limit(self, path: str) -> int:
        """The limit of a body sent to ``path``."""
        return next((limit for pattern, limit in self.larger if pattern.fullmatch(path)),
                    self.default)

    def answer(self, scope: Scope, limit: int) -> Response:
        message = too_large(limit)
        shown = self.page(Request(scope), status.HTTP_413_CONTENT_TOO_LARGE, message)
        return shown if shown is not None else JSONResponse(
            {"detail": message}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit:
            await self.answer(scope, limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:  # read outside a handler (a middleware, a background read)
            if started:
                raise
            await self.answer(scope, limit)(scope, receive, send)


async def shallow_json(request: Request) -> None:
    """A dependency of every route: a JSON body nested deeper than MAX_DEPTH is a 422 naming
    the body. FastAPI has parsed the body before (and the request keeps it); one it could not
    parse, it answers itself."""
    if "json" not in request.headers.get("content-type", ""):
        return
    try:
        data = await request.json()
    except (ValueError, RecursionError):
        return
    big = len(await request.body()) > 64 * 1024  # walked in a thread (a whole scenario)
    if await run_in_threadpool(too_deep, data) if big else too_deep(data):
        raise InvalidInput([Issue("body", f"nests deeper than {MAX_DEPTH} levels")])
