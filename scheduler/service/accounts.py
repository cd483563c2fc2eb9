"""Staff accounts: sign in and out, users, and what the first start creates."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from scheduler.security import dummy_hash, hash_password, verify_password
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import User
from scheduler.usecases.roll import raw_scenario

__all__ = ["FIRST_ADMIN", "add_user", "bootstrap", "link_staff", "sign_in", "sign_out",
           "user_for_token"]

log = logging.getLogger(__name__)

FIRST_ADMIN = "admin@chairtime.local"


def bootstrap(factory: sessionmaker[Session]) -> str | None:
    """The demo clinic in an empty database, and a first admin when there is no user.
    Returns that admin's one-time password (None when users exist)."""
    with session_scope(factory) as session:
        if not repo.clinics(session):
            repo.add_clinic(session, "demo", raw_scenario(None))  # courses kept
            log.info("loaded the embedded demo clinic")
        if repo.count_users(session):
            return None
        password = secrets.token_urlsafe(12)
        repo.add_user(session, FIRST_ADMIN, hash_password(password), "admin")
        return password


def sign_in(session: Session, email: str, password: str, minutes: int,
            verify: Callable[[str, str], bool] = verify_password
            ) -> tuple[User, str, datetime] | None:
    """An active user's new access token for ``minutes``, or None for a wrong email or
    password (the same answer for both, after the same work: an unknown or inactive account's
    password is checked too, an unknown one's against a stand-in hash). ``verify`` checks a
    password against a stored hash (service.throttle passes its capped, counted one)."""
    user = repo.user_by_email(session, email)
    matches = verify(user.password_hash if user is not None else dummy_hash(), password)
    if user is None or not user.active or not matches:
        return None
    token, expires = repo.issue_token(session, user, minutes)
    session.commit()
    return user, token, expires


def sign_out(session: Session, token: str) -> None:
    repo.revoke_token(session, token)
    session.commit()


def user_for_token(session: Session, token: str | None) -> User | None:
    """The active user an unexpired token belongs to."""
    return repo.user_for_token(session, token) if token else None


def add_user(session: Session, email: str, password: str, role: str, by: User | None) -> User:
    created = repo.add_user(session, email, hash_password(password), role, by)
    session.commit()
    return created


def link_staff(session: Session, user_id: int, staff_id: str | None, by: User | None) -> User:
    linked = repo.link_staff(session, repo.user(session, user_id), staff_id, by)
    session.commit()
    return linked
