"""Staff accounts: sign in and out, the account's lifecycle (one-time passwords that must be
changed, changing one's own, an admin's reset and deactivation, signing out everywhere, ending
one token), memberships of clinics, and what the first start creates.

Everything an admin does is within the admin's own organization: another organization's account
or clinic is NotFound. Every change that takes an account's access away (deactivation, a reset,
a new password, a membership ended or its staff link changed) takes it away at once: the tokens
and page sessions it ends stop working on their next request, and a staff feed link that no
longer belongs to the account is revoked.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from scheduler.errors import Forbidden, InvalidInput, Issue, NotFound
from scheduler.security import dummy_hash, hash_password, password_problems, verify_password
from scheduler.service import access
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import CLINIC_ROLES, ROLES, AccessToken, Membership, User, now
from scheduler.usecases.roll import raw_scenario

__all__ = [
    "FIRST_ADMIN",
    "add_user",
    "bootstrap",
    "change_password",
    "end_token",
    "first_clinic",
    "link_staff",
    "reset_password",
    "role_label",
    "set_active",
    "set_membership",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
    "staff_id_in",
    "tokens",
    "user_for_token",
    "users",
]

log = logging.getLogger(__name__)

FIRST_ADMIN = "admin@chairtime.local"


def bootstrap(factory: sessionmaker[Session]) -> str | None:
    """The demo clinic in an empty database, and a first admin when there is no user.
    Returns that admin's one-time password (None when users exist): it must be changed at the
    first sign-in."""
    with session_scope(factory) as session:
        first_clinic(session)
        if repo.count_users(session):
            return None
        password = secrets.token_urlsafe(12)
        repo.add_user(session, FIRST_ADMIN, hash_password(password), "admin", must_change=True)
        return password


def first_clinic(session: Session) -> None:
    """The embedded demo clinic in a database without any clinic."""
    if not repo.clinics(session):
        repo.add_clinic(session, "demo", raw_scenario(None))  # courses kept
        log.info("loaded the embedded demo clinic")


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


def sign_out_everywhere(session: Session, user: User) -> int:
    """End every token and page session of ``user``; how many ended."""
    ended = repo.end_tokens(session, user.id)
    repo.audit(session, user, "sign_out_everywhere", "user", user.id, clinic_id=None)
    session.commit()
    return ended


def tokens(session: Session, user: User, current: str | None = None
           ) -> list[tuple[AccessToken, bool]]:
    """``user``'s tokens and page sessions that still work, newest first, each with whether it
    is ``current``."""
    mine = repo.token_hash(current) if current else None
    return [(t, t.token_hash == mine) for t in repo.live_tokens(session, user.id)]


def end_token(session: Session, user: User, token_id: int) -> None:
    """End one of ``user``'s own tokens (NotFound for another's or an ended one)."""
    if not repo.end_tokens(session, user.id, token_id):
        raise NotFound("token", str(token_id))
    repo.audit(session, user, "end_token", "user", user.id, None, {"token": token_id},
               clinic_id=None)
    session.commit()


# ----------------------------------------------------------------------------- passwords
def _checked(password: str, email: str, field: str = "password") -> str:
    problems = password_problems(password, email)
    if problems:
        raise InvalidInput([Issue(field, p) for p in problems])
    return hash_password(password)


def change_password(session: Session, user: User, current: str, new: str,
                    keep_token: str | None = None) -> None:
    """``user`` changes its own password (the current one required): every other token and
    page session of it ends; ``keep_token`` (the one asking) goes on working."""
    issues = []
    if not verify_password(user.password_hash, current):
        issues.append(Issue("current_password", "is not your password"))
    if new == current:
        issues.append(Issue("new_password", "is your current password: choose a new one"))
    problems = password_problems(new, user.email)
    issues += [Issue("new_password", p) for p in problems]
    if issues:
        raise InvalidInput(issues)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_changed_at = now()
    kept = repo.token_row(session, keep_token) if keep_token else None
    for row in repo.live_tokens(session, user.id):
        if kept is None or row.id != kept.id:
            row.expires_at = now()
    repo.audit(session, user, "change_password", "user", user.id, clinic_id=None)
    session.commit()


def reset_password(session: Session, user_id: int, by: User) -> tuple[User, str]:
    """An admin gives an account a new one-time password (returned, shown once): it must be
    changed at the next sign-in, and every session of the account ends."""
    target = _own(session, user_id, by)
    password = secrets.token_urlsafe(12)
    target.password_hash = hash_password(password)
    target.must_change_password = True
    repo.end_tokens(session, target.id)
    repo.audit(session, by, "reset_password", "user", target.id, clinic_id=None)
    session.commit()
    return target, password


# ----------------------------------------------------------------------------- admins
def _own(session: Session, user_id: int, by: User) -> User:
    """An account of ``by``'s organization (NotFound for another's)."""
    if not by.admin:
        raise Forbidden("only an admin manages accounts")
    return repo.user(session, user_id, by.organization_id)


def users(session: Session, by: User) -> list[User]:
    """The accounts of ``by``'s organization (an admin's view)."""
    if not by.admin:
        raise Forbidden("only an admin manages accounts")
    return repo.users(session, by.organization_id)


def add_user(session: Session, email: str, password: str, role: str, by: User | None,
             clinic_ids: list[int] | None = None, must_change: bool = False) -> User:
    """A new account of ``by``'s organization: ``role`` ``admin`` makes one of its admins; any
    other role holds in each of ``clinic_ids``, which may be left out only when the
    organization has one clinic."""
    issues = []
    if role not in ROLES:
        issues.append(Issue("role", f"is not a role (roles: {', '.join(ROLES)})"))
    try:
        hashed = _checked(password, email)
    except InvalidInput as exc:
        issues += exc.issues
        hashed = ""
    organization = by.organization_id if by else repo.default_organization(session).id
    own = [c.id for c in repo.clinics(session, organization)]
    if role != "admin":
        if clinic_ids is None:
            if len(own) != 1:
                issues.append(Issue("clinic_ids", f"name the clinics this {role} works in "
                                    f"(the organization has {len(own)})"))
            clinic_ids = own
        for i, clinic_id in enumerate(clinic_ids):
            if clinic_id not in own:
                issues.append(Issue(f"clinic_ids[{i}]", f"no clinic {clinic_id}"))
    if issues:
        raise InvalidInput(issues)
    created = repo.add_user(session, email, hashed, role, by,
                            None if role == "admin" else sorted(set(clinic_ids or [])),
                            organization, must_change)
    session.commit()
    return created


def set_active(session: Session, user_id: int, active: bool, by: User) -> User:
    """Deactivate (every token and page session ends at once, staff feed links are revoked) or
    reactivate an account. An admin cannot deactivate itself."""
    target = _own(session, user_id, by)
    if target.id == by.id and not active:
        raise InvalidInput([Issue("user_id", "is you: another admin must deactivate you")])
    before = target.active
    target.active = active
    if not active:
        repo.end_tokens(session, target.id)
        for member in target.memberships:
            _end_staff_link(session, member, by)
    repo.audit(session, by, "activate" if active else "deactivate", "user", target.id,
               {"active": before}, {"active": active}, clinic_id=None)
    session.commit()
    return target


def _end_staff_link(session: Session, member: Membership, by: User | None) -> None:
    """The staff feed link of the member's staff id ends with the member's link to it."""
    if member.staff_id and repo.live_feed_token(session, member.clinic_id, "staff",
                                                member.staff_id):
        repo.revoke_feed_token(session, member.clinic_id, "staff", member.staff_id, by)


def _staff_ids(session: Session, clinic_id: int) -> set[str]:
    data = repo.scenario_version(session, clinic_id).data
    return {str(s.get("id")) for s in data.get("staff", [])}


def set_membership(session: Session, user_id: int, clinic_id: int, role: str | None,
                   staff_id: str | None, by: User) -> User:
    """Make an account a ``role`` of the clinic, as its staff member ``staff_id`` (None: no
    staff link); a role of None ends the membership. A staff link that changes or ends takes
    the account's staff feed link with it."""
    target = _own(session, user_id, by)
    access.require(session, by, clinic_id, ("admin",))
    issues = []
    if role is not None and role not in CLINIC_ROLES:
        issues.append(Issue("role", f"is not a clinic role (roles: {', '.join(CLINIC_ROLES)}; "
                                    "an admin holds every clinic)"))
    if staff_id is not None and staff_id not in _staff_ids(session, clinic_id):
        issues.append(Issue("staff_id", f"no staff member '{staff_id}' in clinic {clinic_id}"))
    if issues:
        raise InvalidInput(issues)
    current = repo.membership(session, target.id, clinic_id)
    if current is not None and current.staff_id and (role is None
                                                     or current.staff_id != staff_id):
        _end_staff_link(session, current, by)
    if role is None and current is None:
        raise NotFound("membership", f"{user_id}/{clinic_id}")
    repo.set_membership(session, target, clinic_id, role, staff_id, by)
    session.commit()
    return target


def link_staff(session: Session, user_id: int, staff_id: str | None, by: User,
               clinic_id: int | None = None) -> User:
    """Say which staff member an account is in a clinic it holds a role in (``clinic_id`` may
    be left out when it holds one in one clinic); None unlinks."""
    target = _own(session, user_id, by)
    held = list(target.memberships)
    if clinic_id is None:
        candidates = ([c.id for c in access.clinics_of(session, target)] if target.admin
                      else [m.clinic_id for m in held])
        if len(candidates) != 1:
            raise InvalidInput([Issue("clinic_id", "name the clinic (the account holds a role "
                                      f"in {len(candidates)})")])
        clinic_id = candidates[0]
    member = next((m for m in held if m.clinic_id == clinic_id), None)
    if member is None:
        if target.admin:  # an admin's staff link lives on a manager's membership
            return set_membership(session, user_id, clinic_id, "manager", staff_id, by)
        raise NotFound("membership", f"{user_id}/{clinic_id}")
    return set_membership(session, user_id, clinic_id, member.role, staff_id, by)


def staff_id_in(user: User, clinic_id: int) -> str | None:
    """The staff member ``user`` is in the clinic (its membership's link), if any."""
    return next((m.staff_id for m in user.memberships if m.clinic_id == clinic_id), None)


def role_label(user: User) -> str:
    """``admin``, or the highest role of the account's memberships (``front_desk`` when
    none): what a page or the API shows as an account's role."""
    if user.admin:
        return "admin"
    roles = {m.role for m in user.memberships}
    return "manager" if "manager" in roles else "front_desk"
