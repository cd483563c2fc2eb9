"""Passwords (argon2id) and who may do what."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["ADMIN", "ANY_STAFF", "DESK", "MANAGER", "hash_password", "password_problems",
           "verify_password"]

_HASHER = PasswordHasher()

DESK = ("front_desk", "manager", "admin")
"""Run the week: solve, re-plan, move, cancel, publish, manage patients."""
MANAGER = ("manager", "admin")
"""Change the clinic: rooms, staff, protocols, whole scenarios."""
ADMIN = ("admin",)
"""Manage users."""
ANY_STAFF = DESK
"""Read anything of the clinic."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


MIN_PASSWORD = 12
MAX_PASSWORD = 1024


def password_problems(password: str, email: str = "") -> list[str]:
    """What is wrong with ``password`` as a new password (empty: nothing)."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        problems.append(f"must be at most {MAX_PASSWORD} characters")
    if email and password.lower() == email.lower():
        problems.append("must not be the account's email")
    return problems
