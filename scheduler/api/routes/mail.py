"""One-click unsubscribe (RFC 8058) from reminders: ``POST /mail/unsubscribe/{token}`` (what a
mail program sends for ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``) stops the
patient's reminders; a GET (a person following the link) shows a page with a button and
changes nothing. A token no message carries is the 404 of a path that never existed.
"""

from __future__ import annotations

import re
from html import escape
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import HTMLResponse

from scheduler.api.deps import SessionDep
from scheduler.service import outbox

__all__ = ["public"]

public = APIRouter(tags=["mail"], include_in_schema=False)

Token = Annotated[str, Path(max_length=128)]
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow",
           "Cache-Control": "no-store"}


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head><body><main><h1>{escape(title)}</h1>{body}"
        "</main></body></html>", headers=HEADERS)


@public.get("/mail/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: Token) -> HTMLResponse:
    """A person who opened the link: a button (a GET never unsubscribes: link checkers and
    previews follow links)."""
    if not _TOKEN.fullmatch(token):
        raise HTTPException(status_code=404)
    return _page("Stop reminders", '<p>Stop e-mail reminders of your appointments? Notices of '
                 'changes still come.</p><form method="post"><button type="submit">Stop '
                 "reminders</button></form>")


@public.post("/mail/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(token: Token, session: SessionDep) -> HTMLResponse:
    """One click: no more reminders for the patient the message was to."""
    if not _TOKEN.fullmatch(token) or not outbox.unsubscribe(session, token):
        raise HTTPException(status_code=404)
    return _page("Reminders stopped", "<p>You will get no more e-mail reminders. To have them "
                 "again, please tell the clinic.</p>")
