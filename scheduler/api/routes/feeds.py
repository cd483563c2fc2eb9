"""Calendar feeds over HTTP: private links (capability URLs) and the feeds they open.

Links: the front desk issues, rotates and revokes a patient's; a staff member whose account an
admin linked to a staff id (``PUT /users/{id}/staff``) takes their own; managers take rooms' and
the clinic's. A link is shown once (only its SHA-256 is stored), in two forms: ``https://``
(or whatever CHAIRTIME_PUBLIC_URL says) and ``webcal://``.

``GET /feeds/{token}.ics`` serves the bytes the last publish rendered (stored, never rendered
here): ``ETag`` (the body's SHA-256) with ``If-None-Match`` -> 304 (which wins over
``If-Modified-Since``), a ``Last-Modified`` that never moves backwards, limits per token and per
client address (429 with ``Retry-After``), no referrer, no indexing, and for an unknown, revoked or
rotated-away token the 404 a path that never existed gets.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from scheduler.api.deps import RowId, SessionDep, SettingsDep, require
from scheduler.api.errors import R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import Message
from scheduler.errors import Conflict, NotFound
from scheduler.security import DESK, MANAGER
from scheduler.service import accounts, feeds
from scheduler.service.throttle import RateLimits
from scheduler.settings import Settings
from scheduler.storage.tables import FeedToken, User

__all__ = ["FEED_HEADERS", "BodyCache", "RateLimits", "install", "links", "public"]

links = APIRouter(tags=["feed links"], responses=R422)  # ids in the path
public = APIRouter(tags=["feeds"])

FeedKind = Literal["patient", "staff", "room", "clinic"]
SubjectId = Annotated[str, Path(min_length=1, max_length=64,
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                                description="The patient's or room's id in the scenario")]
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
FEED_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
"""On every answer under /feeds/: a link never leaks through a Referer, nor into an index."""
CACHE = "private, no-cache"
"""A calendar may keep the feed but asks again each time (a 304 is cheap); shared caches keep
nothing, so a revoked link stops at once."""


# ----------------------------------------------------------------------------- links
class FeedLink(BaseModel):
    """A new private feed link: shown this once (only its hash is kept)."""

    kind: FeedKind
    subject: str = Field(description="The patient's, staff member's or room's id; empty for "
                         "the clinic's feed")
    url: str = Field(description="The feed's address (https:// behind CHAIRTIME_PUBLIC_URL)",
                     examples=["https://calendar.example.org/feeds/3q2-…-Yx.ics"])
    webcal_url: str = Field(description="The same as webcal://, which opens a calendar app's "
                            "subscribe dialog", examples=["webcal://calendar.example.org/feeds/…"])
    created_at: datetime


class FeedLinkStatus(BaseModel):
    """A feed's link in force (the link itself is never shown again)."""

    kind: FeedKind
    subject: str
    created_at: datetime


def _link(request: Request, settings: Settings, token: str, row: FeedToken,
          response: Response) -> FeedLink:
    url, webcal = settings.feed_urls(str(request.base_url), token)
    response.headers["Cache-Control"] = "no-store"  # the answer holds a secret
    return FeedLink(kind=row.kind, subject=row.subject, url=url, webcal_url=webcal,
                    created_at=row.created_at)


Subject = Callable[..., str]


def _link_routes(kind: FeedKind, path: str, who: str, user_dep: Any, subject: Subject) -> None:
    """Issue, read, rotate and revoke the link of one kind of feed. ``subject`` is a dependency
    that names the feed's subject (a path parameter, the signed-in staff member, or none)."""
    name = f"{kind}_feed_link"
    what = {"patient": "a patient's", "staff": "your own staff", "room": "a room's",
            "clinic": "the clinic's"}[kind]
    subject_dep = Depends(subject)
    unlinked = R409 if kind == "staff" else {}  # an account not linked to a staff member

    @links.post(path, response_model=FeedLink, status_code=status.HTTP_201_CREATED,
                responses=SIGNED_IN | R404 | R409, name=f"issue_{name}",
                summary=f"A private link to {what} feed, shown once ({who})")
    def issue(clinic_id: RowId, session: SessionDep, settings: SettingsDep, request: Request,
              response: Response, key: str = subject_dep, user: User = user_dep) -> FeedLink:
        token, row = feeds.issue_link(session, clinic_id, kind, key, user)
        return _link(request, settings, token, row, response)

    @links.get(path, response_model=FeedLinkStatus, responses=SIGNED_IN | R404 | unlinked,
               name=f"get_{name}", summary=f"Whether {what} feed has a link, since when ({who})")
    def read(clinic_id: RowId, session: SessionDep, key: str = subject_dep,
             user: User = user_dep) -> FeedLinkStatus:
        row = feeds.live_link(session, clinic_id, kind, key)
        if row is None:
            raise NotFound(f"{kind} feed link", key or str(clinic_id))
        return FeedLinkStatus(kind=kind, subject=key, created_at=row.created_at)

    @links.post(f"{path}/rotate", response_model=FeedLink,
                status_code=status.HTTP_201_CREATED, responses=SIGNED_IN | R404 | R409,
                name=f"rotate_{name}",
                summary=f"Replace {what} feed link by a new one; the old one answers 404 "
                        f"({who})")
    def rotate(clinic_id: RowId, session: SessionDep, settings: SettingsDep, request: Request,
               response: Response, key: str = subject_dep, user: User = user_dep) -> FeedLink:
        token, row = feeds.rotate_link(session, clinic_id, kind, key, user)
        return _link(request, settings, token, row, response)

    @links.delete(path, status_code=status.HTTP_204_NO_CONTENT,
                  responses=SIGNED_IN | R404 | unlinked,
                  name=f"revoke_{name}",
                  summary=f"Revoke {what} feed link: it answers 404 from now on ({who})")
    def revoke(clinic_id: RowId, session: SessionDep, key: str = subject_dep,
               user: User = user_dep) -> Response:
        feeds.revoke_link(session, clinic_id, kind, key, user)
        return Response(status_code=status.HTTP_204_NO_CONTENT)


def _path_subject(subject_id: SubjectId) -> str:
    return subject_id


_MEMBER = require(*DESK)
"""Any role in the path's clinic (one callable, so FastAPI checks it once a request)."""


def _own_staff_id(clinic_id: RowId, user: Annotated[User, Depends(_MEMBER)]) -> str:
    staff_id = accounts.staff_id_in(user, clinic_id)
    if staff_id is None:
        raise Conflict("your account is not linked to a staff member of this clinic; an admin "
                       "links it (PUT /users/{id}/memberships/{clinic_id})")
    return staff_id


def _clinic_subject() -> str:
    return ""


_link_routes("patient", "/clinics/{clinic_id}/patients/{subject_id}/feed-link",
             "front desk and up", Depends(require(*DESK)), _path_subject)
_link_routes("staff", "/clinics/{clinic_id}/staff/me/feed-link",
             "a staff member linked to a staff id", Depends(_MEMBER), _own_staff_id)


@links.get("/clinics/{clinic_id}/feed-links", response_model=list[FeedLinkStatus],
           responses=SIGNED_IN | R404, summary="Every feed link in force in the clinic, by "
                                               "kind and subject (manager, admin)")
def list_links(clinic_id: RowId, session: SessionDep,
               user: Annotated[User, Depends(require(*MANAGER))]) -> list[FeedLinkStatus]:
    return [FeedLinkStatus(kind=row.kind, subject=row.subject, created_at=row.created_at)
            for row in feeds.live_links(session, clinic_id)]


@links.delete("/clinics/{clinic_id}/staff/{subject_id}/feed-link",
              status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN | R404,
              name="revoke_staff_member_feed_link",
              summary="Revoke a staff member's own feed link: it answers 404 from now on "
                      "(manager, admin)")
def revoke_staff_link(clinic_id: RowId, subject_id: SubjectId, session: SessionDep,
                      user: Annotated[User, Depends(require(*MANAGER))]) -> Response:
    feeds.revoke_link(session, clinic_id, "staff", subject_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
_link_routes("room", "/clinics/{clinic_id}/rooms/{subject_id}/feed-link", "manager, admin",
             Depends(require(*MANAGER)), _path_subject)
_link_routes("clinic", "/clinics/{clinic_id}/feed-link", "manager, admin",
             Depends(require(*MANAGER)), _clinic_subject)


# ----------------------------------------------------------------------------- serving
class BodyCache:
    """Feed bodies by ETag (their SHA-256), so a cached body can never be a stale one; least
    recently used go first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get(etag)
            if body is not None:
                self._bodies.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        with self._lock:
            if etag in self._bodies or len(body) > self.max_bytes:
                return
            self._bodies[etag] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= len(dropped)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison against a list of entity tags, or ``*``."""
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or f'"{etag}"' in (t.removeprefix("W/") for t in tags)


def _not_modified_since(if_modified_since: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # not a date: ignored, as RFC 9110 §13.1.3 says
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def _not_found() -> HTTPException:
    """Exactly the answer a path that never existed gets, with the feed paths' headers."""
    return HTTPException(status.HTTP_404_NOT_FOUND, "Not Found", headers=FEED_HEADERS)


TEXT = {"schema": {"type": "string"}}
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The feed (RFC 5545), as the last publish rendered it",
          "content": {"text/calendar": TEXT},
          "headers": {"ETag": {"description": "The body's SHA-256", "schema": {"type": "string"}},
                      "Last-Modified": {"description": "When the body last changed (never "
                                        "earlier than before)", "schema": {"type": "string"}}}},
    304: {"description": "Not modified: the ETag in If-None-Match (or, without one, the date "
                         "in If-Modified-Since) is current"},
    404: {"model": Message, "description": "No such feed: an unknown, revoked or rotated-away "
                                           "link (the same answer for each)"},
    429: {"model": Message, "description": "Too many requests for this link or from this "
                                           "address: ask again after Retry-After seconds",
          "headers": {"Retry-After": {"description": "Seconds to wait",
                                      "schema": {"type": "integer"}}}},
}


@public.get("/feeds/{token}.ics", response_class=Response, responses=FEED_RESPONSES,
            summary="A calendar feed (anyone holding its link)")
async def get_feed(token: str, request: Request,
                   if_none_match: Annotated[str | None, Header()] = None,
                   if_modified_since: Annotated[str | None, Header()] = None) -> Response:
    """In the event loop but for the database: one query, in one trip to the thread pool (no
    sync dependencies, each of which would be a trip of its own); a body from the cache by its
    ETag, else one more query (bench/README.md, 'Calendar feeds')."""
    state = request.app.state
    settings: Settings = state.settings
    key = feeds.token_hash(token)
    address = request.client.host if request.client else "unknown"
    wait = state.feed_limits.wait((f"t:{key}", settings.feed_token_limit),
                                  (f"a:{address}", settings.feed_address_limit))
    if wait > 0:
        return JSONResponse({"detail": "too many requests: ask again later"},
                            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={**FEED_HEADERS, "Retry-After": str(math.ceil(wait))})
    if not _TOKEN.match(token):
        raise _not_found()
    head = await run_in_threadpool(feeds.head, state.feed_engine, token)
    if head is None:
        raise _not_found()
    headers = _headers(head)
    if (_matches(if_none_match, head.etag) if if_none_match is not None
            else if_modified_since is not None
            and _not_modified_since(if_modified_since, head.last_modified)):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    cache: BodyCache = state.feed_bodies
    body = cache.get(head.etag)
    if body is None:
        fresh, own = await run_in_threadpool(feeds.body, state.feed_engine, head.body_id)
        cache.put(own.etag, fresh)
        body, headers = fresh, _headers(own)  # its own, should a publish have come between
    return Response(body, media_type="text/calendar", headers=headers)


def _headers(head: feeds.FeedHead) -> dict[str, str]:
    return {**FEED_HEADERS, "ETag": f'"{head.etag}"', "Cache-Control": CACHE,
            "Last-Modified": format_datetime(head.last_modified, usegmt=True)}


@public.get("/robots.txt", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": TEXT}, "description": "robots.txt"}},
            summary="Crawlers keep out of feed links and the API (anyone)")
def robots() -> PlainTextResponse:
    return PlainTextResponse("User-agent: *\nDisallow: /feeds/\nDisallow: /api/\n")


def install(app: Any, settings: Settings) -> None:
    """The serving side's per-process state: rate limits, the body cache, the engine."""
    app.state.feed_engine = app.state.sessions.kw["bind"]
    app.state.feed_limits = RateLimits(settings.feed_limit_seconds)
    app.state.feed_bodies = BodyCache()

