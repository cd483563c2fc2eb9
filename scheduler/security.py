"""Passwords (argon2id): hashing, checking, what a new one must be; and who may do what."""

from __future__ import annotations

import functools
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

__all__ = ["ADMIN", "ANY_STAFF", "DESK", "MANAGER", "MAX_PASSWORD", "MIN_PASSWORD",
           "dummy_hash", "hash_password", "password_problems", "verify_password"]

_HASHER = PasswordHasher()

MIN_PASSWORD = 12
"""Characters a new password has at least (NIST SP 800-63B asks 8; we ask a passphrase)."""
MAX_PASSWORD = 1024
"""Characters a new password has at most."""
_GUESSABLE = 72
"""zxcvbn judges this many characters at most (its own limit: its matching is quadratic)."""
_STRONG = 3
"""The zxcvbn score a new password needs: 3 is "safely unguessable" (about 10^8 guesses and
more), which a common password, a keyboard walk, a repeat or the e-mail itself never reaches."""
_ZXCVBN = threading.Lock()
"""zxcvbn keeps the user inputs of a call in a module dictionary: one call at a time."""

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


@functools.cache
def dummy_hash() -> str:
    """The hash of a random password nobody knows, made once per process with the same
    parameters as every other: what an unknown e-mail's password is checked against, so that
    signing in costs (and takes) the same whether the e-mail exists or not."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def password_problems(password: str, email: str = "") -> list[str]:
    """What is wrong with ``password`` as a new password of the account ``email`` (empty when
    nothing): at least 12 characters, and not guessable (zxcvbn: not among its 30,000 most
    common passwords nor a variant of one, no keyboard walk, repeat or sequence, not the
    e-mail or its parts with little else).

    >>> password_problems("tr0ub4dor&3", "nurse@example.org")
    ['must be at least 12 characters']
    >>> password_problems("password1234")
    ['is too easy to guess: this is a very common password']
    >>> password_problems("violet kettle 42 harbour")
    []
    """
    if len(password) < MIN_PASSWORD:
        return [f"must be at least {MIN_PASSWORD} characters"]
    if len(password) > MAX_PASSWORD:
        return [f"must be at most {MAX_PASSWORD} characters"]
    local, _, domain = email.lower().partition("@")
    inputs = [email.lower(), local, *local.replace("_", ".").replace("-", ".").split("."),
              *domain.split("."), "chairtime"]
    with _ZXCVBN:
        judged = zxcvbn(password[:_GUESSABLE], user_inputs=[w for w in inputs if w])
    if judged["score"] >= _STRONG:
        return []
    feedback = judged["feedback"]
    why = feedback["warning"] or next(iter(feedback["suggestions"]), "")
    why = why.split(". ")[0].rstrip(".")
    return ["is too easy to guess" + (f": {why[:1].lower()}{why[1:]}" if why else "")]
