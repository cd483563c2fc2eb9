"""Feed tokens never reach logs.

A feed link is a capability: whoever reads a log line with its path can read the patient's
calendar. uvicorn's access log prints every request's full path, and an error log may quote it,
so while the service runs a filter rewrites ``/feeds/<anything>`` to ``/feeds/[token]`` in every
record that passes the loggers and handlers there are (uvicorn's, the application's, the root's):
in the message, in each argument (uvicorn's access formatter reads its arguments one by one) and
in a traceback's text. Unhandled errors are logged with their request line, redacted the same way
(uvicorn's own "Exception in ASGI application" names no request).

>>> redact("GET /feeds/Zq3x-ZC1PnR9v2hFcJb8tbd1qVXyJw7G.ics HTTP/1.1")
'GET /feeds/[token] HTTP/1.1'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LogErrors", "RedactFeedTokens", "install", "redact"]

log = logging.getLogger(__name__)

_FEED_PATH = re.compile(r"/feeds/[^\s\"'<>]+")
REDACTED = "/feeds/[token]"
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "fastapi", "starlette",
           "scheduler", "apscheduler", "sqlalchemy")


def redact(text: str) -> str:
    """``text`` with every feed path's token (and whatever follows it in the path) replaced."""
    return _FEED_PATH.sub(REDACTED, text) if "/feeds/" in text else text


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactFeedTokens(logging.Filter):
    """Rewrites feed tokens out of a record; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            if redact(text) != text:  # the traceback quotes a path: only the text is kept
                record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install() -> Callable[[], None]:
    """Put the filter on the service's loggers and on every handler they and the root logger
    have now (uvicorn configures its handlers before the app starts). Returns its undoing."""
    redactor = RedactFeedTokens()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in LOGGERS)]
    handlers = {id(h): h for lg in loggers for h in lg.handlers}.values()
    targets: list[logging.Filterer] = [*loggers, *handlers]
    for target in targets:
        target.addFilter(redactor)

    def uninstall() -> None:
        for target in targets:
            target.removeFilter(redactor)

    return uninstall


class LogErrors:
    """ASGI middleware: an unhandled error is logged with its request line (redacted), then
    passed on (Starlette answers 500, uvicorn logs the traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            log.error("internal error answering %s %s: %s", scope.get("method"),
                      redact(str(scope.get("path", ""))), redact(f"{type(exc).__name__}: {exc}"))
            raise
