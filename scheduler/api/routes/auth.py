"""Sign in: the OAuth2 password flow gives a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from scheduler.api.deps import SessionDep, SettingsDep
from scheduler.api.errors import R400, R422
from scheduler.api.schemas import Token
from scheduler.security import verify_password
from scheduler.storage import repo

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=R400 | R422,
             summary="Sign in (anyone): email as username, password")
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
            settings: SettingsDep) -> Token:
    user = repo.user_by_email(session, form.username)
    if user is None or not user.active or not verify_password(user.password_hash,
                                                               form.password):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "wrong email or password")
    token, expires = repo.issue_token(session, user, settings.token_minutes)
    session.commit()
    return Token(access_token=token, expires_at=expires)
