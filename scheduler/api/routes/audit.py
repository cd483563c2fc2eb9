"""A clinic's audit log: every change of its data and schedules and every publish, with who and
when (managers and admins)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from scheduler.api.deps import Manager, RowId, SessionDep
from scheduler.api.errors import R404, R422, SIGNED_IN
from scheduler.api.schemas import AuditEntryPublic, AuditPagePublic
from scheduler.service import versions

router = APIRouter(prefix="/clinics", tags=["audit"], responses=R422)


def _iso_day(value: Any) -> Any:
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A date as the document says (pydantic alone would take ``0``, seconds since 1970)."""
Kind = Literal["scenario", "schedule", "publish", "job", "feed_token", "user", "clinic"]


@router.get("/{clinic_id}/audit", response_model=AuditPagePublic, responses=SIGNED_IN | R404,
            summary="The clinic's audit log, newest first, by kind and dates (manager, admin)")
def audit_log(clinic_id: RowId, user: Manager, session: SessionDep,
              kind: Annotated[Kind | None, Query(description="scenario: the clinic's data; "
                                                 "publish: every publish and live edit")] = None,
              since: Annotated[Day | None, Query(description="From this date (the clinic's "
                                                  "time zone)")] = None,
              until: Annotated[Day | None, Query(description="To this date, included")] = None,
              page: Annotated[int, Query(ge=1, le=100_000)] = 1,
              per_page: Annotated[int, Query(ge=1, le=200)] = 50) -> AuditPagePublic:
    found = versions.audit_log(session, clinic_id, kind or "",
                               since.isoformat() if since else "",
                               until.isoformat() if until else "", page, per_page)
    return AuditPagePublic(
        entries=[AuditEntryPublic(at=e.at, by=e.by, action=e.action, entity=e.entity,
                                  entity_id=e.entity_id, before=e.before, after=e.after)
                 for e in found.entries],
        page=found.page, pages=found.pages, total=found.total)
