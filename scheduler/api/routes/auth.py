"""Sign in: the OAuth2 password flow gives a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from scheduler.api.deps import SessionDep, SettingsDep
from scheduler.api.errors import R400, R422
from scheduler.api.schemas import Token
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
