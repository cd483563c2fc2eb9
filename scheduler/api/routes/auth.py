"""Sign in (the OAuth2 password flow gives a short-lived bearer token) and out: this token, every
token and page session of yours, or one of them by its id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from scheduler.api.deps import RowId, SessionDep, SignedIn
from scheduler.api.errors import R400, R404, R422, SIGNED_IN
from scheduler.api.schemas import Message, SignedOut, Token, TokenPublic
from scheduler.service import accounts
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


@router.post("/signout", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN,
             summary="Sign out: this token stops working at once (anyone signed in)")
def sign_out(user: SignedIn, session: SessionDep, request: Request) -> Response:
    accounts.sign_out(session, request.state.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/signout-everywhere", response_model=SignedOut, responses=SIGNED_IN,
             summary="Sign out everywhere: every token and page session of yours ends, this "
                     "one too (anyone signed in)")
def sign_out_everywhere(user: SignedIn, session: SessionDep) -> SignedOut:
    return SignedOut(ended=accounts.sign_out_everywhere(session, user))


@router.get("/tokens", response_model=list[TokenPublic], responses=SIGNED_IN,
            summary="Your tokens and page sessions that still work (anyone signed in)")
def list_tokens(user: SignedIn, session: SessionDep, request: Request) -> list[TokenPublic]:
    return [TokenPublic(id=t.id, created_at=t.created_at, expires_at=t.expires_at,
                        current=current)
            for t, current in accounts.tokens(session, user, request.state.token)]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=SIGNED_IN | R404 | R422,
               summary="Revoke one of your tokens or page sessions (anyone signed in)")
def end_token(token_id: RowId, user: SignedIn, session: SessionDep) -> Response:
    accounts.end_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
