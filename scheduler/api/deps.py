"""The service's dependencies in one place: the database session, the signed-in user, and the
user's role in the clinic a path names (``scheduler.service.access``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from scheduler.errors import Forbidden
from scheduler.security import ADMIN, DESK, MANAGER
from scheduler.service import access, accounts
from scheduler.settings import Settings
from scheduler.storage.tables import User

TOKEN_URL = "/api/v1/auth/token"
PASSWORD_URL = "/api/v1/users/me/password"
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request; writes commit explicitly, anything else rolls back."""
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def signed_in(request: Request, session: SessionDep,
              token: Annotated[str | None, Depends(_bearer)]) -> User:
    """The signed-in account, even one that must change its password first (401 without a
    valid, unexpired bearer token)."""
    user = accounts.user_for_token(session, token)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first (a bearer token from "
                            f"{TOKEN_URL}), or the token has expired",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.token = token
    return user


def current_user(user: Annotated[User, Depends(signed_in)]) -> User:
    """The signed-in account; one on a one-time password may only change it (403)."""
    if user.must_change_password:
        raise Forbidden(f"change your one-time password first (POST {PASSWORD_URL})")
    return user


def require(*roles: str) -> Callable[..., User]:
    """A dependency that lets through an account holding one of ``roles`` in the clinic the
    path names (``clinic_id``, or a schedule's or job's): another clinic's ids are the 404 of ids
    that do not exist, a lower role is a 403. A path naming no clinic needs an admin when
    ``roles`` is admins only, else any signed-in account."""
    def check(request: Request, session: SessionDep,
              user: Annotated[User, Depends(current_user)]) -> User:
        role = access.guard(session, user, request.path_params, roles)
        if role is None and roles == ADMIN and not user.admin:
            raise Forbidden("only an admin may do this")
        request.state.role = role
        return user
    return check


AnyStaff = Annotated[User, Depends(require(*DESK))]
Desk = Annotated[User, Depends(require(*DESK))]
Manager = Annotated[User, Depends(require(*MANAGER))]
Admin = Annotated[User, Depends(require(*ADMIN))]
SignedIn = Annotated[User, Depends(signed_in)]

RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="A row's id")]
"""An integer id in a path: positive and within the databases' INTEGER."""
