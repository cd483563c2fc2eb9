"""The service's dependencies in one place: the database session, the signed-in user, roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from scheduler.security import ADMIN, DESK, MANAGER
from scheduler.service import accounts
from scheduler.settings import Settings
from scheduler.storage.tables import User

TOKEN_URL = "/api/v1/auth/token"
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


def current_user(session: SessionDep, token: Annotated[str | None, Depends(_bearer)]) -> User:
    """The signed-in staff member (401 without a valid, unexpired bearer token)."""
    user = accounts.user_for_token(session, token)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first (a bearer token from "
                            f"{TOKEN_URL}), or the token has expired",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


def require(*roles: str) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 for other signed-in staff)."""
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"a {user.role} may not do this (allowed: {', '.join(roles)})")
        return user
    return check


AnyStaff = Annotated[User, Depends(require(*DESK))]
Desk = Annotated[User, Depends(require(*DESK))]
Manager = Annotated[User, Depends(require(*MANAGER))]
Admin = Annotated[User, Depends(require(*ADMIN))]

RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="A row's id")]
"""An integer id in a path: positive and within the databases' INTEGER."""
