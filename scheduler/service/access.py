"""Who may do what, where: an account's role in a clinic, and the clinic a request names.

An account belongs to one organization. Its admin holds every role in every clinic of it; any
other account holds the role its membership gives, in the clinics it is a member of, and none
elsewhere. A clinic the account holds no role in does not exist for it: every lookup of it, or of
a schedule, job or link of it, is the same :class:`NotFound` an id that never existed gets. A
role too low for the action, in a clinic the account may see, is :class:`Forbidden`.

>>> allowed("front_desk", ("manager", "admin"))
False
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.errors import Forbidden, NotFound
from scheduler.storage.tables import Clinic, Job, Membership, ScheduleRow, User

__all__ = ["ROLE_NAMES", "allowed", "clinic_in_path", "clinics_of", "guard", "require",
           "role_in"]

ROLE_NAMES = {"front_desk": "front desk", "manager": "manager", "admin": "admin"}
_MAX_ID = 2_147_483_647


def allowed(role: str | None, roles: tuple[str, ...]) -> bool:
    return role is not None and role in roles


def role_in(session: Session, user: User, clinic_id: int) -> str | None:
    """``user``'s role in the clinic: ``admin`` for its organization's admin, else its
    membership's role; None when it holds none (or the clinic does not exist)."""
    clinic = session.get(Clinic, clinic_id)
    if clinic is None or clinic.organization_id != user.organization_id or not user.active:
        return None
    if user.admin:
        return "admin"
    member = next((m for m in user.memberships if m.clinic_id == clinic_id), None)
    return member.role if member is not None else None


def require(session: Session, user: User, clinic_id: int, roles: tuple[str, ...],
            missing: NotFound | None = None) -> str:
    """``user``'s role in the clinic when it is one of ``roles``; when the user holds no role
    there, ``missing`` (default: the clinic's NotFound, as for a clinic that does not exist);
    Forbidden when its role is too low."""
    role = role_in(session, user, clinic_id)
    if role is None:
        raise missing or NotFound("clinic", str(clinic_id))
    if role not in roles:
        names = ", ".join(ROLE_NAMES[r] for r in roles)
        raise Forbidden(f"a {ROLE_NAMES[role]} of this clinic may not do this (allowed: "
                        f"{names})")
    return role


def clinics_of(session: Session, user: User) -> list[Clinic]:
    """The clinics ``user`` holds a role in, oldest first."""
    query = select(Clinic).where(Clinic.organization_id == user.organization_id)
    if not user.admin:
        query = query.where(Clinic.id.in_(
            select(Membership.clinic_id).where(Membership.user_id == user.id)))
    return list(session.scalars(query.order_by(Clinic.id)))


def _row_id(value: str | None) -> int | None:
    """The row id ``value`` spells, written as the API writes ids (ASCII digits, no sign,
    blank or leading zero), else None: a route's own validation reads " 2", "+2" or "\x852" as
    2, so any other spelling must name no row rather than slip past the check."""
    if not value or not value.isascii() or not value.isdigit() or value != str(int(value)):
        return None
    return int(value) if 0 < int(value) <= _MAX_ID else None


def clinic_in_path(session: Session, params: Mapping[str, str]
                   ) -> tuple[int, NotFound] | None:
    """The clinic a request's path names (``clinic_id``, or the clinic of ``schedule_id`` or
    ``job_id``) with the NotFound its id gets when it does not exist; None when the path names
    no clinic. A schedule or job that does not exist is NotFound at once, and so is an id
    spelled otherwise than the API writes ids (" 2", "02", "+2"): the route would read it as
    another id than this check did."""
    for name, kind, table in (("clinic_id", "clinic", Clinic), ("schedule_id", "schedule",
                                                                 ScheduleRow)):
        if name in params:
            row_id = _row_id(params[name])
            if row_id is None:  # no row has it: answered as one that does not exist
                raise NotFound(kind, params[name][:20])
            missing = NotFound(kind, str(row_id))
            found = session.scalar(select(table.clinic_id if table is ScheduleRow else table.id)
                                   .where(table.id == row_id))
            if found is None:
                raise missing
            return int(found), missing
    if "job_id" in params:
        job_id = params["job_id"][:32]
        missing = NotFound("job", job_id)
        job = None if "\x00" in job_id else session.scalar(  # PostgreSQL refuses a NUL
            select(Job.clinic_id).where(Job.id == job_id))
        if job is None:
            raise missing
        return int(job), missing
    return None


def guard(session: Session, user: User, params: Mapping[str, str], roles: tuple[str, ...]
          ) -> str | None:
    """Check ``user`` against the clinic a request's path names (see :func:`clinic_in_path`
    and :func:`require`); its role there, or None when the path names no clinic."""
    named = clinic_in_path(session, params)
    if named is None:
        return None
    return require(session, user, named[0], roles, named[1])
