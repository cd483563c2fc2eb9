"""Repositories: the queries and writes the service needs, each a function of a session.

They translate between rows and the application's own types (``Scenario``, ``Schedule``) and
raise the application's errors (``NotFound``, ``Conflict``); transactions belong to the caller.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.documents import ChangeList, Schedule, changes_json
from scheduler.errors import Conflict, NotFound
from scheduler.model import Scenario
from scheduler.storage.tables import (
    AccessToken,
    AppointmentRow,
    AttendanceMark,
    AuditEntry,
    Clinic,
    FeedBody,
    FeedState,
    FeedToken,
    Job,
    Membership,
    Organization,
    ScenarioVersion,
    ScheduleRow,
    User,
    now,
)
from scheduler.validate import validate_scenario

_NUMBERED = re.compile(r"^A-(\d+)$")


# ----------------------------------------------------------------------------- audit
def audit(session: Session, user: User | None, action: str, entity: str, entity_id: Any,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None, *,
          clinic_id: int | None) -> None:
    """Record who did what, when, in which clinic (None: an account's own business), with the
    state before and after. ``clinic_id`` has no default: every writer says where."""
    session.add(AuditEntry(user_id=user.id if user else None, action=action, entity=entity,
                           entity_id=str(entity_id), before=before, after=after,
                           clinic_id=clinic_id))


# ----------------------------------------------------------------------------- users
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, email: str, password_hash: str, role: str,
             by: User | None = None, clinic_ids: list[int] | None = None,
             organization_id: int | None = None, must_change: bool = False) -> User:
    """An account: ``role`` ``admin`` makes the organization's admin; any other role is a
    membership in each of ``clinic_ids`` (default: every clinic of the organization)."""
    if user_by_email(session, email) is not None:
        raise Conflict(f"a user with the email {email} exists already")
    org = organization_id or (by.organization_id if by else default_organization(session).id)
    user = User(email=email, password_hash=password_hash, admin=role == "admin",
                organization_id=org, must_change_password=must_change)
    session.add(user)
    session.flush()
    if role != "admin":
        ids = clinic_ids if clinic_ids is not None else [c.id for c in clinics(session, org)]
        for clinic_id in ids:
            session.add(Membership(user_id=user.id, clinic_id=clinic_id, role=role))
        session.flush()
        session.refresh(user)
    audit(session, by, "create", "user", user.id, None,
          {"email": email, "role": role, "clinics": clinic_ids}, clinic_id=None)
    return user


def user_by_email(session: Session, email: str) -> User | None:
    if "\x00" in email:  # no stored email has one; PostgreSQL refuses it in a query (a 500)
        return None
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def user(session: Session, user_id: int, organization_id: int | None = None) -> User:
    """User ``user_id`` (of ``organization_id`` when given: another's is NotFound)."""
    found = session.get(User, user_id)
    if found is None or (organization_id is not None
                         and found.organization_id != organization_id):
        raise NotFound("user", str(user_id))
    return found


def users(session: Session, organization_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.organization_id == organization_id)
                                .order_by(User.id)))


def membership(session: Session, user_id: int, clinic_id: int) -> Membership | None:
    return session.scalar(select(Membership).where(Membership.user_id == user_id,
                                                   Membership.clinic_id == clinic_id))


def set_membership(session: Session, target: User, clinic_id: int, role: str | None,
                   staff_id: str | None, by: User | None) -> Membership | None:
    """Make ``target`` a ``role`` of the clinic, as staff member ``staff_id``; a role of None
    ends the membership."""
    found = membership(session, target.id, clinic_id)
    before = {"role": found.role, "staff_id": found.staff_id} if found else None
    if role is None:
        if found is not None:
            session.delete(found)
    elif found is None:
        found = Membership(user_id=target.id, clinic_id=clinic_id, role=role, staff_id=staff_id)
        session.add(found)
    else:
        found.role, found.staff_id = role, staff_id
    session.flush()
    session.refresh(target)
    audit(session, by, "membership", "user", target.id, before,
          {"clinic_id": clinic_id, "role": role, "staff_id": staff_id} if role else None,
          clinic_id=clinic_id)
    return found if role is not None else None


def issue_token(session: Session, user: User, minutes: int) -> tuple[str, datetime]:
    """A new bearer token for ``user`` (only its hash is kept) and when it expires."""
    token = secrets.token_urlsafe(32)
    expires = now() + timedelta(minutes=minutes)
    session.add(AccessToken(user_id=user.id, token_hash=token_hash(token), expires_at=expires))
    return token, expires


def token_row(session: Session, token: str) -> AccessToken | None:
    return session.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash(token)))


def user_for_token(session: Session, token: str) -> User | None:
    row = token_row(session, token)
    if row is None or row.expires_at <= now() or not row.user.active:
        return None
    return row.user


def live_tokens(session: Session, user_id: int) -> list[AccessToken]:
    """The user's tokens that still work, newest first."""
    return list(session.scalars(
        select(AccessToken).where(AccessToken.user_id == user_id, AccessToken.expires_at > now())
        .order_by(AccessToken.id.desc())))


def end_tokens(session: Session, user_id: int, token_id: int | None = None) -> int:
    """End the user's live tokens (or the one ``token_id``): they stop working at once.
    Returns how many ended."""
    query = update(AccessToken).where(AccessToken.user_id == user_id,
                                      AccessToken.expires_at > now())
    if token_id is not None:
        query = query.where(AccessToken.id == token_id)
    ended = session.execute(query.values(expires_at=now()), execution_options={
        "synchronize_session": False})
    return int(getattr(ended, "rowcount", 0) or 0)


def revoke_token(session: Session, token: str) -> None:
    """Sign out: the access token stops working at once."""
    row = token_row(session, token)
    if row is not None and row.expires_at > now():
        row.expires_at = now()


# ----------------------------------------------------------------------------- organizations
def default_organization(session: Session) -> Organization:
    """The first organization (made when there is none): where the first start puts things."""
    found = session.scalar(select(Organization).order_by(Organization.id).limit(1))
    if found is None:
        found = Organization(name="Chairtime")
        session.add(found)
        session.flush()
    return found


# ----------------------------------------------------------------------------- clinics
def add_clinic(session: Session, slug: str, scenario: Scenario | dict[str, Any],
               by: User | None = None, organization_id: int | None = None) -> Clinic:
    if session.scalar(select(Clinic).where(Clinic.slug == slug)) is not None:
        raise Conflict(f"a clinic with the slug {slug} exists already")
    org = organization_id or (by.organization_id if by else default_organization(session).id)
    clinic = Clinic(slug=slug, name=_as_given(scenario)[0].clinic.name, organization_id=org)
    session.add(clinic)
    session.flush()
    add_scenario_version(session, clinic, scenario, by)
    return clinic


def clinics(session: Session, organization_id: int | None = None) -> list[Clinic]:
    """Every clinic (of ``organization_id`` when given), oldest first."""
    query = select(Clinic).order_by(Clinic.id)
    if organization_id is not None:
        query = query.where(Clinic.organization_id == organization_id)
    return list(session.scalars(query))


def clinic(session: Session, clinic_id: int) -> Clinic:
    found = session.get(Clinic, clinic_id)
    if found is None:
        raise NotFound("clinic", str(clinic_id))
    return found


def delete_clinic(session: Session, clinic: Clinic) -> None:
    """Delete a clinic: the database's cascades take everything of it."""
    session.execute(update(Job).where(Job.clinic_id == clinic.id)
                    .values(result_schedule_id=None))
    session.execute(update(FeedBody).where(FeedBody.clinic_id == clinic.id)
                    .values(schedule_id=None))
    session.execute(update(FeedState).where(FeedState.clinic_id == clinic.id)
                    .values(schedule_id=None))
    session.execute(update(ScheduleRow).where(ScheduleRow.clinic_id == clinic.id)
                    .values(based_on_id=None, made_from_id=None))
    session.execute(delete(ScheduleRow).where(ScheduleRow.clinic_id == clinic.id))
    session.delete(clinic)
    session.flush()


def scenario_versions(session: Session, clinic_id: int) -> list[ScenarioVersion]:
    return list(session.scalars(select(ScenarioVersion).where(
        ScenarioVersion.clinic_id == clinic_id).order_by(ScenarioVersion.number)))


def has_sessions(session: Session, clinic_id: int, patient_id: str) -> bool:
    """Whether any stored schedule of the clinic (draft or published) holds a session of
    ``patient_id``: their history, which a removal would orphan."""
    return session.scalar(
        select(func.count()).select_from(AppointmentRow)
        .join(ScheduleRow, ScheduleRow.id == AppointmentRow.schedule_id)
        .where(ScheduleRow.clinic_id == clinic_id, AppointmentRow.patient == patient_id)
    ) != 0


def feed_tokens(session: Session, clinic_id: int) -> list[FeedToken]:
    """Every feed token of the clinic, live and ended, oldest first."""
    return list(session.scalars(select(FeedToken).where(FeedToken.clinic_id == clinic_id)
                                .order_by(FeedToken.id)))


def memberships_of(session: Session, clinic_id: int) -> list[tuple[Membership, str]]:
    """The clinic's memberships with their accounts' emails."""
    rows = session.execute(select(Membership, User.email).join(User)
                           .where(Membership.clinic_id == clinic_id).order_by(User.email))
    return [(m, email) for m, email in rows]


def scenario_version(session: Session, clinic_id: int, number: int | None = None
                     ) -> ScenarioVersion:
    """The clinic's scenario data as of version ``number`` (default: the latest)."""
    query = select(ScenarioVersion).where(ScenarioVersion.clinic_id == clinic_id)
    if number is not None:
        query = query.where(ScenarioVersion.number == number)
    found = session.scalar(query.order_by(ScenarioVersion.number.desc()).limit(1))
    if found is None:
        raise NotFound("scenario version", f"{clinic_id}/{number or 'latest'}")
    return found


def scenario_of(version: ScenarioVersion) -> Scenario:
    """The version's scenario, validated and expanded (courses turned into sessions, gaps and
    week caps for its horizon): what is solved and checked. ``version.data`` keeps it as
    given."""
    return validate_scenario(copy.deepcopy(version.data))


def _json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _as_given(scenario: Scenario | dict[str, Any]) -> tuple[Scenario, dict[str, Any]]:
    """A scenario to store: validated (every problem raised at once), and its data as given
    (patients' ``course:`` and the clinic's own ``courses:`` kept, not expanded), as JSON."""
    if isinstance(scenario, Scenario):
        return scenario, scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data: dict[str, Any] = json.loads(json.dumps(scenario, default=_json_value))
    return validate_scenario(copy.deepcopy(data)), data


def scenario_version_of(session: Session, row: ScheduleRow) -> ScenarioVersion:
    """The scenario version schedule ``row`` was made from."""
    version = session.get(ScenarioVersion, row.scenario_version_id)
    assert version is not None  # a foreign key
    return version


def scenario_for(session: Session, row: ScheduleRow) -> Scenario:
    """The scenario a schedule was made from."""
    version = session.get(ScenarioVersion, row.scenario_version_id)
    assert version is not None  # a foreign key
    return scenario_of(version)


def add_scenario_version(session: Session, clinic: Clinic,
                         scenario: Scenario | dict[str, Any], by: User | None = None,
                         expected: int | None = None) -> ScenarioVersion:
    """A new version of the clinic's data: scenario data as given (validated here; courses
    kept, so next week's plan knows where each patient stands), or a validated Scenario
    (stored as it is). With ``expected`` (the version the writer read), a concurrent change
    in between is a Conflict, never a silent overwrite."""
    scenario, data = _as_given(scenario)
    latest = session.scalar(select(func.max(ScenarioVersion.number))
                            .where(ScenarioVersion.clinic_id == clinic.id)) or 0
    if expected is not None and expected != latest:
        raise Conflict(f"the clinic's data changed (version {latest}, you edited {expected}); "
                       "reload and apply your change again")
    version = ScenarioVersion(clinic_id=clinic.id, number=latest + 1, data=data,
                              created_by=by.id if by else None)
    session.add(version)
    clinic.name = scenario.clinic.name
    session.flush()
    audit(session, by, "change", "scenario", clinic.id, {"version": latest},
          {"version": latest + 1}, clinic_id=clinic.id)
    return version


# ----------------------------------------------------------------------------- schedules
def _rows(schedule: Schedule) -> list[AppointmentRow]:
    return [AppointmentRow(ref=a.id, patient=a.patient, protocol=a.protocol, room=a.room,
                           staff=dict(a.staff), start_at=a.start, end_at=a.end,
                           phases=[p.model_dump(mode="json") for p in a.phases],
                           rems_form_due=a.rems_form_due)
            for a in schedule.appointments]


def _meta(schedule: Schedule) -> dict[str, Any]:
    data = schedule.to_json()
    data.pop("appointments")
    return data


LATEST: Any = object()
"""``add_schedule``'s default ``made_from``: the clinic's latest published version now."""


def add_schedule(session: Session, clinic_id: int, version: ScenarioVersion, schedule: Schedule,
                 by: User | None = None, based_on: int | None = None,
                 changes: ChangeList | None = None, made_from: int | None = LATEST
                 ) -> ScheduleRow:
    """Store a new draft, made from published version ``made_from`` (a schedule id; None:
    nothing was published; default: the clinic's latest published version now)."""
    if made_from is LATEST:
        latest = latest_published(session, clinic_id)
        made_from = latest.id if latest is not None else None
    row = ScheduleRow(clinic_id=clinic_id, scenario_version_id=version.id, status="draft",
                      meta=_meta(schedule), appointments=_rows(schedule), based_on_id=based_on,
                      changes=changes_json(changes) if changes is not None else None,
                      created_by=by.id if by else None, made_from_id=made_from)
    session.add(row)
    session.flush()
    audit(session, by, "create", "schedule", row.id, None,
          {"appointments": len(schedule.appointments), "based_on": based_on,
           "made_from": made_from}, clinic_id=clinic_id)
    return row


def highest_ref_before(session: Session, clinic_id: int, before: datetime) -> int:
    """The highest ``A-NNNN`` number among the clinic's published appointments that start
    before ``before`` (0 when none): a plan of a later week numbers its new ids after it, so
    an id once published is never given to another session."""
    refs = session.scalars(
        select(AppointmentRow.ref).join(ScheduleRow, AppointmentRow.schedule_id == ScheduleRow.id)
        .where(ScheduleRow.clinic_id == clinic_id, ScheduleRow.status == "published",
               AppointmentRow.start_at < before))
    return max((int(m.group(1)) for r in refs if (m := _NUMBERED.match(r))), default=0)


def schedule_row(session: Session, schedule_id: int) -> ScheduleRow:
    found = session.get(ScheduleRow, schedule_id)
    if found is None:
        raise NotFound("schedule", str(schedule_id))
    return found


def schedules(session: Session, clinic_id: int) -> list[ScheduleRow]:
    return list(session.scalars(select(ScheduleRow).where(ScheduleRow.clinic_id == clinic_id)
                                .order_by(ScheduleRow.id)))


def latest_published(session: Session, clinic_id: int) -> ScheduleRow | None:
    """The clinic's latest published version, or None."""
    found: ScheduleRow | None = session.scalar(select(ScheduleRow).where(
        ScheduleRow.clinic_id == clinic_id, ScheduleRow.status == "published")
        .order_by(ScheduleRow.number.desc()).limit(1))
    return found


def published(session: Session, clinic_id: int) -> ScheduleRow:
    """The clinic's latest published version."""
    found = latest_published(session, clinic_id)
    if found is None:
        raise NotFound("published schedule of clinic", str(clinic_id))
    return found


def made_from_for(session: Session, base: ScheduleRow) -> int | None:
    """The published version a schedule made from ``base`` (a re-plan of it) is made from:
    ``base`` itself when it is published, else what ``base`` was made from."""
    return base.id if base.status == "published" else base.made_from_id


def superseded_by(session: Session, row: ScheduleRow) -> ScheduleRow | None:
    """The clinic's latest published version when draft ``row`` was not made from it (a later
    publish or direct edit superseded the draft), else None (a published row: None)."""
    if row.status != "draft":
        return None
    latest = latest_published(session, row.clinic_id)
    if latest is None or latest.id == row.made_from_id:
        return None
    return latest


def stale_message(draft: ScheduleRow, latest: ScheduleRow) -> str:
    return (f"published #{latest.id} (version {latest.number}) came after this draft "
            f"(#{draft.id}) was made: re-plan it onto #{latest.id}")


def to_schedule(row: ScheduleRow) -> Schedule:
    appointments = [{"id": a.ref, "patient": a.patient, "protocol": a.protocol,
                     "room": a.room, "staff": a.staff, "start": a.phases[0]["start"],
                     "end": a.phases[-1]["end"], "phases": a.phases,
                     "rems_form_due": a.rems_form_due}
                    for a in sorted(row.appointments, key=lambda a: (a.start_at, a.ref))]
    return Schedule.model_validate({**row.meta, "appointments": appointments})


def claim_draft(session: Session, row: ScheduleRow, expected_version: int) -> None:
    """Take the right to write draft ``row``, read at ``expected_version``: one conditional
    UPDATE raises its version, so of two concurrent writers exactly one wins (the other's
    UPDATE matches no row: a Conflict, on SQLite and PostgreSQL alike), and a writer who read
    an older version never overwrites a newer one."""
    if row.status != "draft":
        raise Conflict(f"schedule {row.id} is published (version {row.number}) and cannot "
                       "change; re-plan it into a new draft")
    bumped = session.execute(
        update(ScheduleRow).where(ScheduleRow.id == row.id,
                                  ScheduleRow.row_version == expected_version,
                                  ScheduleRow.status == "draft")
        # the row's own + 1, which is expected_version's: a parameter of expected_version + 1
        # was "integer out of range" on PostgreSQL for the largest version (a 500)
        .values(row_version=ScheduleRow.row_version + 1)
        .execution_options(synchronize_session=False))
    if getattr(bumped, "rowcount", 0) != 1:
        raise Conflict(f"schedule {row.id} changed since you read it (you have version "
                       f"{expected_version}); reload it and try again")
    session.refresh(row)


def replace_schedule(session: Session, row: ScheduleRow, schedule: Schedule,
                     expected_version: int, by: User | None, action: str,
                     before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Write an edited draft read at ``expected_version`` (see :func:`claim_draft`)."""
    claim_draft(session, row, expected_version)
    row.meta = _meta(schedule)
    row.appointments.clear()
    session.flush()  # the old rows go before the new ones (same refs) arrive
    row.appointments.extend(_rows(schedule))
    audit(session, by, action, "schedule", row.id, before, after, clinic_id=row.clinic_id)


def _numbered(session: Session, row: ScheduleRow) -> None:
    """Flush ``row`` as the clinic's next published number: a concurrent publish or direct
    edit that took the number first (the unique (clinic, number) index) is a Conflict."""
    latest = session.scalar(select(func.max(ScheduleRow.number))
                            .where(ScheduleRow.clinic_id == row.clinic_id)) or 0
    row.status, row.number, row.published_at = "published", latest + 1, now()
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"another version of clinic {row.clinic_id}'s schedule was published "
                       "meanwhile; reload it and try again") from exc


def publish(session: Session, row: ScheduleRow, expected_version: int,
            by: User | None = None) -> ScheduleRow:
    """Make a draft the clinic's next published version, in the caller's one transaction: if
    anything fails before the commit, the last published version stays as it was. A draft not
    made from the latest published version (it was superseded) is a Conflict: publishing it
    would silently undo what was published after it was made."""
    if row.status != "draft":
        raise Conflict(f"schedule {row.id} is published already (version {row.number})")
    claim_draft(session, row, expected_version)
    latest = superseded_by(session, row)
    if latest is not None:
        raise Conflict(stale_message(row, latest))
    _numbered(session, row)
    audit(session, by, "publish", "schedule", row.id, None,
          {"number": row.number, "made_from": row.made_from_id}, clinic_id=row.clinic_id)
    return row


def publish_edit(session: Session, latest: ScheduleRow, expected_number: int,
                 schedule: Schedule, by: User | None, action: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None,
                 scenario_version_id: int | None = None) -> ScheduleRow:
    """``schedule``, an edit of published version ``latest`` (read as number
    ``expected_number``), as the clinic's next published version made from it, in the
    caller's transaction. A Conflict when ``latest`` is no longer the latest or its number is
    not the one the caller read (someone published or changed it first)."""
    if latest.number != expected_number:
        raise Conflict(f"the published schedule is version {latest.number}, you read version "
                       f"{expected_number}; reload it and try again")
    row = ScheduleRow(clinic_id=latest.clinic_id,
                      scenario_version_id=scenario_version_id or latest.scenario_version_id,
                      meta=_meta(schedule), appointments=_rows(schedule), made_from_id=latest.id,
                      based_on_id=latest.id, created_by=by.id if by else None)
    session.add(row)
    _numbered(session, row)
    if row.number != expected_number + 1:
        raise Conflict(f"the published schedule changed meanwhile (you read version "
                       f"{expected_number}); reload it and try again")
    audit(session, by, action, "schedule", row.id, before,
          {**(after or {}), "number": row.number, "made_from": latest.id},
          clinic_id=latest.clinic_id)
    return row


# ----------------------------------------------------------------------------- weeks
def version_weeks(session: Session, clinic_id: int) -> dict[int, date]:
    """The first day of each of the clinic's scenario versions' horizons, by version id (read
    in the database: the versions' data stay where they are)."""
    start = ScenarioVersion.data["horizon"]["start"].as_string()
    out: dict[int, date] = {}
    for version_id, text_ in session.execute(
            select(ScenarioVersion.id, start).where(ScenarioVersion.clinic_id == clinic_id)):
        try:
            out[version_id] = date.fromisoformat(str(text_))
        except ValueError:
            continue  # a version without a horizon: no week
    return out


def week_of(session: Session, row: ScheduleRow) -> date | None:
    """The first day of the horizon ``row`` was planned for (its scenario version's)."""
    return version_weeks(session, row.clinic_id).get(row.scenario_version_id)


def published_by_week(session: Session, clinic_id: int) -> dict[date, ScheduleRow]:
    """Each planned week's latest published version, by the week's first day."""
    weeks = version_weeks(session, clinic_id)
    out: dict[date, ScheduleRow] = {}
    for found in session.scalars(select(ScheduleRow).where(
            ScheduleRow.clinic_id == clinic_id, ScheduleRow.status == "published")
            .order_by(ScheduleRow.number)):
        week = weeks.get(found.scenario_version_id)
        if week is not None:
            out[week] = found
    return out


# ----------------------------------------------------------------------------- attendance
def marks(session: Session, clinic_id: int, refs: list[str] | None = None
          ) -> dict[str, AttendanceMark]:
    """The clinic's attendance marks by appointment ref (those of ``refs`` when given)."""
    query = select(AttendanceMark).where(AttendanceMark.clinic_id == clinic_id)
    if refs is not None:
        query = query.where(AttendanceMark.ref.in_(refs))
    return {m.ref: m for m in session.scalars(query)}


def set_mark(session: Session, clinic_id: int, ref: str, patient: str, mark: str | None,
             by: User | None) -> AttendanceMark | None:
    """Mark session ``ref`` (``patient``'s) ``mark``, or clear its mark (None), audited."""
    found = session.scalar(select(AttendanceMark).where(
        AttendanceMark.clinic_id == clinic_id, AttendanceMark.ref == ref))
    before = ({"mark": found.mark, "patient": found.patient} if found is not None else None)
    if mark is None:
        if found is not None:
            session.delete(found)
        out = None
    else:
        if found is None:
            found = AttendanceMark(clinic_id=clinic_id, ref=ref, patient=patient, mark=mark)
            session.add(found)
        found.patient, found.mark, found.marked_at = patient, mark, now()
        found.marked_by = by.id if by else None
        out = found
    session.flush()
    audit(session, by, "mark attendance", "appointment", f"{clinic_id}/{ref}", before,
          {"mark": mark, "patient": patient} if mark is not None else None,
          clinic_id=clinic_id)
    return out


# ----------------------------------------------------------------------------- jobs
def add_job(session: Session, job_id: str, clinic_id: int, kind: str, params: dict[str, Any],
            by: User | None = None) -> Job:
    job = Job(id=job_id, clinic_id=clinic_id, kind=kind, status="queued", params=params,
              created_by=by.id if by else None)
    session.add(job)
    session.flush()
    audit(session, by, "queue", "job", job_id, None, {"kind": kind, "clinic": clinic_id},
          clinic_id=clinic_id)
    return job


def job(session: Session, job_id: str) -> Job:
    # No job id has a NUL; PostgreSQL refuses one in a query (a 500).
    found = None if "\x00" in job_id else session.get(Job, job_id)
    if found is None:
        raise NotFound("job", job_id)
    return found


def cancel_job(session: Session, job: Job, by: User | None) -> Job:
    """Cancel a queued or running job (its runner stops the process); Conflict otherwise."""
    if job.status not in ("queued", "running"):
        raise Conflict(f"job {job.id} is {job.status} already")
    job.status, job.finished_at = "cancelled", now()
    audit(session, by, "cancel", "job", job.id, None, None, clinic_id=job.clinic_id)
    return job


def jobs_of(session: Session, clinic_id: int, limit: int | None = 50) -> list[Job]:
    """The clinic's latest jobs (``limit`` of them; None: all), newest first."""
    query = select(Job).where(Job.clinic_id == clinic_id).order_by(Job.created_at.desc(), Job.id)
    return list(session.scalars(query if limit is None else query.limit(limit)))


def claim_job(session: Session, job_id: str) -> bool:
    """Mark a queued job running; False when another runner (or a cancel) got there first."""
    result = session.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                             .values(status="running", started_at=now()))
    return bool(getattr(result, "rowcount", 0))


def queued_jobs(session: Session) -> list[tuple[str, str]]:
    """Queued jobs' ids and kinds, oldest first."""
    return [(job_id, kind) for job_id, kind in session.execute(
        select(Job.id, Job.kind).where(Job.status == "queued").order_by(Job.created_at, Job.id))]


def jobs_with_status(session: Session, status: str) -> list[str]:
    return list(session.scalars(select(Job.id).where(Job.status == status)))


def unfinished_jobs_by(session: Session, user_id: int) -> list[Job]:
    """The jobs a user queued that are queued or running, oldest first. The user's row stays
    locked until the transaction ends on PostgreSQL, so two requests at once cannot both count
    the last place under a cap (SQLite has no row locks: there the two may pass by one)."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    return list(session.scalars(select(Job).where(
        Job.created_by == user_id, Job.status.in_(("queued", "running")))
        .order_by(Job.created_at, Job.id)))


# ----------------------------------------------------------------------------- feeds
FEED_TOKEN_BYTES = 24
"""192 bits from ``secrets``: a feed token is a capability (at least 128 bits, per the W3C
TAG's capability URLs)."""


def live_feed_token(session: Session, clinic_id: int, kind: str, subject: str
                    ) -> FeedToken | None:
    """The feed's token in force (not revoked), if any."""
    return session.scalar(select(FeedToken).where(
        FeedToken.clinic_id == clinic_id, FeedToken.kind == kind, FeedToken.subject == subject,
        FeedToken.revoked_at.is_(None)))


def issue_feed_token(session: Session, clinic_id: int, kind: str, subject: str,
                     by: User | None = None) -> tuple[str, FeedToken]:
    """A new token for a feed that has none in force (else a Conflict: rotate it instead).
    Returns the token itself, which is never stored (only its hash): show it once."""
    if live_feed_token(session, clinic_id, kind, subject) is not None:
        raise Conflict(f"the {kind} feed {subject or clinic_id} has a link already; rotate it "
                       "for a new one, or revoke it")
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    row = FeedToken(clinic_id=clinic_id, kind=kind, subject=subject, token_hash=token_hash(token),
                    created_by=by.id if by else None)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent issue won the partial unique index
        raise Conflict(f"the {kind} feed {subject or clinic_id} got a link meanwhile") from exc
    audit(session, by, "issue", "feed_token", row.id, None,
          {"clinic": clinic_id, "kind": kind, "subject": subject}, clinic_id=clinic_id)
    return token, row


def revoke_feed_token(session: Session, clinic_id: int, kind: str, subject: str,
                      by: User | None = None, action: str = "revoke") -> FeedToken:
    """End the feed's token in force (NotFound when there is none): it answers 404 from now on."""
    row = live_feed_token(session, clinic_id, kind, subject)
    if row is None:
        raise NotFound(f"{kind} feed link", f"{clinic_id}/{subject}" if subject else str(clinic_id))
    row.revoked_at, row.revoked_by = now(), by.id if by else None
    session.flush()
    audit(session, by, action, "feed_token", row.id, {"revoked_at": None},
          {"revoked_at": row.revoked_at.isoformat()}, clinic_id=clinic_id)
    return row


def rotate_feed_token(session: Session, clinic_id: int, kind: str, subject: str,
                      by: User | None = None) -> tuple[str, FeedToken]:
    """Replace the feed's token in force by a new one: the old one answers 404 from now on."""
    revoke_feed_token(session, clinic_id, kind, subject, by, action="rotate")
    return issue_feed_token(session, clinic_id, kind, subject, by)


@dataclass(frozen=True, slots=True)
class FeedHead:
    """What a conditional request needs of a feed, without its body."""

    body_id: int
    etag: str
    last_modified: datetime


_FEED_HEAD = (
    select(FeedBody.id, FeedBody.etag, FeedBody.last_modified)
    .join(FeedToken, and_(FeedToken.clinic_id == FeedBody.clinic_id,
                          FeedToken.kind == FeedBody.kind, FeedToken.subject == FeedBody.subject))
    .where(FeedToken.token_hash == bindparam("token_hash"), FeedToken.revoked_at.is_(None)))
_FEED_BODY = (select(FeedBody.body, FeedBody.etag, FeedBody.last_modified)
              .where(FeedBody.id == bindparam("body_id")))
"""Built once: building a select costs more than running it (bench/README.md, 'Calendar
feeds')."""


def feed_head(db: Session | Connection, token: str) -> FeedHead | None:
    """The feed a live ``token`` opens (one indexed query), or None for an unknown, revoked or
    rotated-away token, and for a feed not rendered yet."""
    found = db.execute(_FEED_HEAD, {"token_hash": token_hash(token)}).first()
    return None if found is None else FeedHead(found[0], found[1], found[2])


def feed_body(db: Session | Connection, body_id: int) -> tuple[bytes, FeedHead]:
    """A feed's body with its own ETag and Last-Modified (read together: a publish in between
    cannot pair one version's body with another's ETag)."""
    found = db.execute(_FEED_BODY, {"body_id": body_id}).first()
    if found is None:
        raise NotFound("feed", str(body_id))
    return bytes(found[0]), FeedHead(body_id, found[1], found[2])


def feed_body_exists(session: Session, clinic_id: int, kind: str, subject: str) -> bool:
    return session.scalar(select(FeedBody.id).where(
        FeedBody.clinic_id == clinic_id, FeedBody.kind == kind,
        FeedBody.subject == subject)) is not None


def feed_bodies(session: Session, clinic_id: int) -> dict[tuple[str, str], FeedBody]:
    return {(b.kind, b.subject): b for b in session.scalars(
        select(FeedBody).where(FeedBody.clinic_id == clinic_id))}


def feed_subjects_with_tokens(session: Session, clinic_id: int) -> list[tuple[str, str]]:
    """(kind, subject) of every feed with a live token: they are rendered even when their
    subject has left the scenario, so subscribers see its events cancelled, not frozen."""
    return [(k, s) for k, s in session.execute(
        select(FeedToken.kind, FeedToken.subject).where(
            FeedToken.clinic_id == clinic_id, FeedToken.revoked_at.is_(None))
        .order_by(FeedToken.kind, FeedToken.subject))]


def store_feeds(session: Session, clinic_id: int, schedule_id: int | None,
                bodies: dict[tuple[str, str], bytes], when: datetime) -> int:
    """Make the clinic's stored feeds ``bodies`` (keyed by kind and subject), in the caller's
    transaction; feeds not named go. A changed body gets a new ETag (its SHA-256) and a
    Last-Modified of ``when`` to the second, but always later than the one before (HTTP dates
    have seconds); an unchanged one keeps both. Returns how many bodies changed."""
    stored = feed_bodies(session, clinic_id)
    second = when.replace(microsecond=0)
    changed = 0
    for (kind, subject), body in bodies.items():
        etag = hashlib.sha256(body).hexdigest()
        row = stored.pop((kind, subject), None)
        if row is None:
            session.add(FeedBody(clinic_id=clinic_id, kind=kind, subject=subject, body=body,
                                 etag=etag, last_modified=second, schedule_id=schedule_id))
            changed += 1
            continue
        row.schedule_id = schedule_id
        if row.etag != etag:
            row.body, row.etag = body, etag
            row.last_modified = max(second, row.last_modified + timedelta(seconds=1))
            changed += 1
    for row in stored.values():
        session.delete(row)
    session.flush()
    return changed


def feed_state(session: Session, clinic_id: int) -> FeedState | None:
    return session.get(FeedState, clinic_id)


def save_feed_state(session: Session, clinic_id: int, schedule_id: int | None,
                    events: dict[str, Any], when: datetime) -> None:
    row = session.get(FeedState, clinic_id)
    if row is None:
        session.add(FeedState(clinic_id=clinic_id, schedule_id=schedule_id, events=events,
                              updated_at=when))
    else:
        row.schedule_id, row.events, row.updated_at = schedule_id, events, when
    session.flush()

