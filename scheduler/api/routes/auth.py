"""Sign in (the OAuth2 password flow gives a short-lived bearer token) and out: this token, every
token and page session of yours, or one of them by its id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from scheduler.api.deps import RowId, SessionDep, SettingsDep, SignedIn
from scheduler.api.errors import R400, R404, R422, SIGNED_IN
from scheduler.api.schemas import SignedOut, Token, TokenPublic
from scheduler.service import accounts

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=R400 | R422,
             summary="Sign in (anyone): email as username, password")
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
            settings: SettingsDep) -> Token:
    signed_in = accounts.sign_in(session, form.username, form.password, settings.token_minutes)
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
