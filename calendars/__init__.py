"""Chairtime's calendar feeds: schedule documents in, RFC 5545 bytes out (no solver, no web)."""

from calendars.feeds import (
    KINDS,
    PRODID,
    Directory,
    EventState,
    FeedOptions,
    Kind,
    advance,
    feed_name,
    render,
    render_all,
)
from calendars.tz import vtimezone

__all__ = [
    "KINDS",
    "PRODID",
    "Directory",
    "EventState",
    "FeedOptions",
    "Kind",
    "advance",
    "feed_name",
    "render",
    "render_all",
    "vtimezone",
]
