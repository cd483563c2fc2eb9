"""Every change of a clinic's data is a version: the versions with who made them and when, what
changed between two (and since the published week's), whether the published week still keeps
every rule under the current data, and the clinic's audit log for its managers."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.documents import Schedule
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.storage import repo
from scheduler.storage.tables import AuditEntry, ScenarioVersion, ScheduleRow, User
from scheduler.usecases.versions import (
    BrokenSession,
    ScenarioDiff,
    broken_sessions,
    same_week,
    scenario_changes,
)

__all__ = ["AUDIT_KINDS", "AuditPage", "Published", "Version", "audit_log", "diff",
           "published_state", "versions", "zone"]

AUDIT_KINDS = {
    "scenario": "Clinic data changed", "schedule": "Schedules (solve, edit, publish)",
    "publish": "Publishes only", "job": "Jobs (solves, re-plans)", "feed_token": "Feed links",
    "user": "Accounts and roles", "clinic": "The clinic",
}
"""The audit page's kinds: an entity, or ``publish`` (every action that published)."""
PUBLISHING = ("publish", "undo")
"""Actions on a schedule that made a published version, beside the live edits ("move
appointment (live)")."""


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    created_at: datetime
    by: str
    """The account's e-mail, or "Chairtime" for the service's own (a weekly roll, a re-plan)."""
    published: list[int]
    """The published schedule versions made from this data version."""


@dataclass(frozen=True, slots=True)
class Published:
    """The published week against the clinic's current data."""

    schedule: ScheduleRow
    made_from: int
    """The data version the published schedule was made from."""
    current: int
    changes: ScenarioDiff
    same_week: bool
    broken: list[BrokenSession]
    """The published sessions that break a rule under the current data (when ``same_week``)."""

    @property
    def keeps(self) -> bool:
        return not self.broken


@dataclass(frozen=True, slots=True)
class AuditLine:
    at: datetime
    by: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditLine]
    page: int
    pages: int
    total: int


def _who(session: Session, user_ids: set[int | None]) -> dict[int | None, str]:
    ids = {i for i in user_ids if i is not None}
    out: dict[int | None, str] = {None: "Chairtime"}
    if ids:
        out.update(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    return out


def versions(session: Session, clinic_id: int) -> list[Version]:
    """The clinic's data versions, newest first."""
    rows = repo.scenario_versions(session, repo.clinic(session, clinic_id).id)
    made: dict[int, list[int]] = {}
    for s in session.scalars(select(ScheduleRow).where(ScheduleRow.clinic_id == clinic_id,
                                                       ScheduleRow.status == "published")):
        made.setdefault(s.scenario_version_id, []).append(s.number or 0)
    who = _who(session, {r.created_by for r in rows})
    return [Version(r.number, r.created_at, who.get(r.created_by, "a removed account"),
                    sorted(made.get(r.id, []))) for r in reversed(rows)]


_given: dict[tuple[int, int, int], Scenario] = {}


def as_given(version: ScenarioVersion) -> Scenario:
    """A version's data as a scenario, courses as given (not expanded into sessions); read
    once (a version is never edited)."""
    key = (version.id, version.clinic_id, version.number)
    if key not in _given:
        if len(_given) > 64:
            _given.clear()
        try:
            _given[key] = Scenario.model_validate(copy.deepcopy(version.data))
        except ValidationError:  # stored before a rule it breaks: read as the solver does
            _given[key] = repo.scenario_of(version)
    return _given[key]


def diff(session: Session, clinic_id: int, old: int, new: int) -> ScenarioDiff:
    """What changed from data version ``old`` to ``new`` (NotFound for a number the clinic
    never had)."""
    a = repo.scenario_version(session, repo.clinic(session, clinic_id).id, old)
    b = repo.scenario_version(session, clinic_id, new)
    return scenario_changes(as_given(a), as_given(b))


def published_state(session: Session, clinic_id: int) -> Published | None:
    """The published week against the current data (None: nothing published yet). The
    independent checker's verdict is kept per (published version, data version) pair."""
    row = repo.latest_published(session, repo.clinic(session, clinic_id).id)
    if row is None:
        return None
    made = session.get(ScenarioVersion, row.scenario_version_id)
    assert made is not None  # a foreign key
    current = repo.scenario_version(session, clinic_id)
    week = same_week(as_given(made), as_given(current))
    broken: list[BrokenSession] = []
    if week and current.id != made.id:
        broken = _broken((row.id, row.number or 0, current.id, current.number), current,
                         lambda: repo.to_schedule(row))
    return Published(row, made.number, current.number,
                     scenario_changes(as_given(made), as_given(current)), week, broken)


_verdicts: dict[tuple[int, int, int, int], list[BrokenSession]] = {}


def _broken(key: tuple[int, int, int, int], current: ScenarioVersion,
            schedule: Callable[[], Schedule]) -> list[BrokenSession]:
    """The checker's verdict, once per (published version, data version) pair: neither is
    ever edited, only added."""
    if key not in _verdicts:
        if len(_verdicts) > 256:
            _verdicts.clear()
        _verdicts[key] = broken_sessions(repo.scenario_of(current), schedule())
    return _verdicts[key]


# ----------------------------------------------------------------------------- the audit log
def _day(text: str, field: str, issues: list[Issue]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        issues.append(Issue(field, f"{text[:20]!r} is not a date (YYYY-MM-DD)"))
        return None


def audit_log(session: Session, clinic_id: int, kind: str = "", since: str = "",
              until: str = "", page: int = 1, per_page: int = 50) -> AuditPage:
    """The clinic's audit entries, newest first: of one ``kind`` (``AUDIT_KINDS``), from
    ``since`` to ``until`` (dates, both included, on the clinic's wall clock); a page of
    ``per_page``. A bad filter is InvalidInput naming it."""
    clinic = repo.clinic(session, clinic_id)
    issues: list[Issue] = []
    if kind and kind not in AUDIT_KINDS:
        issues.append(Issue("kind", f"{kind[:30]!r} is not one of "
                                    f"{', '.join(sorted(AUDIT_KINDS))}"))
    first, last = _day(since, "since", issues), _day(until, "until", issues)
    if first and last and last < first:
        issues.append(Issue("until", f"is before since ({first})"))
    if page < 1:
        issues.append(Issue("page", "must be 1 or more"))
    if issues:
        raise InvalidInput(issues)
    tz = zone(session, clinic.id)
    query = select(AuditEntry).where(AuditEntry.clinic_id == clinic.id)
    if kind == "publish":
        query = query.where(AuditEntry.entity == "schedule",
                            AuditEntry.action.in_(PUBLISHING)
                            | AuditEntry.action.endswith("(live)"))
    elif kind:
        query = query.where(AuditEntry.entity == kind)
    if first is not None:
        query = query.where(AuditEntry.at >= datetime.combine(first, time(0), tz))
    if last is not None:
        query = query.where(AuditEntry.at < datetime.combine(last + timedelta(days=1),
                                                             time(0), tz))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, math.ceil(total / per_page))
    rows = list(session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                .offset((page - 1) * per_page).limit(per_page)))
    who = _who(session, {r.user_id for r in rows})
    return AuditPage([AuditLine(r.at, who.get(r.user_id, "a removed account"), r.action,
                                r.entity, r.entity_id, r.before, r.after) for r in rows],
                     page, pages, total)


def zone(session: Session, clinic_id: int) -> ZoneInfo:
    """The clinic's time zone, from its latest data (UTC when it names none it can read)."""
    data = repo.scenario_version(session, clinic_id).data
    try:
        return ZoneInfo(str(data["clinic"]["timezone"]))
    except (KeyError, TypeError, ValueError):
        return ZoneInfo("UTC")
