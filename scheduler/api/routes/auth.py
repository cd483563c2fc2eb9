"""Sign in: the OAuth2 password flow gives a short-lived bearer token.

The route is ``async``: a sign-in waiting for a password check waits in the event loop, not in
the thread pool every synchronous route shares (service.throttle)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from scheduler.api.errors import R400, R422
from scheduler.api.schemas import Message, Token
from scheduler.service.throttle import Busy, SignInGuard, TooManyAttempts
from scheduler.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])

_RETRY = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
R429_503: dict[int | str, dict[str, Any]] = {
    429: {"model": Message, "headers": _RETRY,
          "description": "Too many failed sign-ins for this e-mail or from this address: ask "
                         "again after Retry-After seconds (no password is checked until then)"},
    503: {"model": Message, "headers": _RETRY,
          "description": "Too many sign-ins at once: ask again after Retry-After seconds"},
}


@router.post("/token", response_model=Token, responses=R400 | R422 | R429_503,
             summary="Sign in (anyone): email as username, password")
async def sign_in(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
                  ) -> Token:
    settings: Settings = request.app.state.settings  # read here: no trip to the thread pool
    guard: SignInGuard = request.app.state.sign_in_guard
    address = request.client.host if request.client else "unknown"
    try:
        signed_in = await guard.sign_in(request.app.state.sessions, form.username,
                                        form.password, address, settings.token_minutes)
    except TooManyAttempts as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                            headers={"Retry-After": str(exc.retry_after)}) from exc
    except Busy as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            headers={"Retry-After": str(exc.retry_after)}) from exc
    if signed_in is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "wrong email or password")
    _, token, expires = signed_in
    return Token(access_token=token, expires_at=expires)
