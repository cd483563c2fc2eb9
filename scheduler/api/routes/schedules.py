"""Schedules: drafts and published versions; read, compare, publish, what is left unplaced."""

from __future__ import annotations

from collections import OrderedDict

from fastapi import APIRouter, Request, Response

from scheduler.api.deps import AnyStaff, Desk, RowId, SessionDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import (
    DiffPublic,
    SchedulePublic,
    ScheduleSummary,
    UnplacedPublic,
    VersionBody,
)
from scheduler.service import drafts, notices
from scheduler.storage.tables import ScheduleRow

router = APIRouter(tags=["schedules"], responses=R422)  # ids in the path


def summary(row: ScheduleRow, superseded_by: int | None = None) -> ScheduleSummary:
    kpis = row.meta.get("kpis") or {}
    return ScheduleSummary(id=row.id, clinic_id=row.clinic_id,
                           status=row.status,
                           number=row.number, version=row.row_version, based_on=row.based_on_id,
                           made_from=row.made_from_id, superseded_by=superseded_by,
                           created_at=row.created_at, published_at=row.published_at,
                           placed=len(row.appointments), wanted=int(kpis.get("wanted", 0)))


def full(row: ScheduleRow, response: Response | None = None,
         superseded_by: int | None = None) -> SchedulePublic:
    if response is not None:
        response.headers["ETag"] = f'"{row.row_version}"'
    return SchedulePublic(**summary(row, superseded_by).model_dump(),
                          schedule=drafts.document(row),
                          changes=drafts.changes(row) if row.changes else None)


RENDERED = 64
"""Schedules kept rendered (a published one never changes; a draft's key is its version)."""


def rendered(request: Request, row: ScheduleRow, superseded_by: int | None = None) -> Response:
    """``full(row)`` as JSON bytes, rendered once per (schedule, version, superseded by)."""
    cache: OrderedDict[tuple[int, int, int | None], bytes] = request.app.state.rendered
    key = (row.id, row.row_version, superseded_by)
    body = cache.get(key)
    if body is None:
        body = full(row, None, superseded_by).model_dump_json().encode()
        cache[key] = body
        while len(cache) > RENDERED:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return Response(body, media_type="application/json",
                    headers={"ETag": f'"{row.row_version}"'})


@router.get("/clinics/{clinic_id}/schedules", response_model=list[ScheduleSummary],
            responses=SIGNED_IN | R404, summary="The clinic's drafts and published versions "
                                                "(any staff role)")
def list_schedules(clinic_id: RowId, user: AnyStaff, session: SessionDep
                   ) -> list[ScheduleSummary]:
    found = drafts.rows(session, clinic_id)
    latest = drafts.latest_published(session, clinic_id)
    return [summary(r, latest.id if latest is not None and r.status == "draft"
                    and r.made_from_id != latest.id else None) for r in found]


@router.get("/clinics/{clinic_id}/schedules/published", response_model=SchedulePublic,
            responses=SIGNED_IN | R404,
            summary="The clinic's latest published schedule (any staff role)")
def get_published(clinic_id: RowId, user: AnyStaff, session: SessionDep,
                  request: Request) -> Response:
    return rendered(request, drafts.published(session, clinic_id))


@router.get("/schedules/{schedule_id}", response_model=SchedulePublic,
            responses=SIGNED_IN | R404,
            summary="A schedule as contract v1's schedule.json, with its version "
                    "(any staff role)")
def get_schedule(schedule_id: RowId, user: AnyStaff, session: SessionDep,
                 request: Request) -> Response:
    found = drafts.row(session, schedule_id)
    later = drafts.superseded(session, found)
    return rendered(request, found, later.id if later is not None else None)


@router.get("/schedules/{schedule_id}/unplaced", response_model=UnplacedPublic,
            responses=SIGNED_IN | R404,
            summary="Sessions not placed, each with its reason (any staff role)")
def get_unplaced(schedule_id: RowId, user: AnyStaff, session: SessionDep) -> UnplacedPublic:
    schedule = drafts.document(drafts.row(session, schedule_id))
    return UnplacedPublic(schedule_id=schedule_id, unplaced=schedule.unplaced)


@router.get("/schedules/{schedule_id}/diff/{other_id}", response_model=DiffPublic,
            responses=SIGNED_IN | R404 | R422,
            summary="What changed from one schedule to another (any staff role)")
def diff(schedule_id: RowId, other_id: RowId, user: AnyStaff, session: SessionDep) -> DiffPublic:
    return DiffPublic(before=schedule_id, after=other_id,
                      changes=drafts.diff(session, schedule_id, other_id))


@router.get("/schedules/{schedule_id}/whom-to-tell", response_model=notices.WhomToTell,
            responses=SIGNED_IN | R404,
            summary="The schedule's changes by whom to tell: patients whose date or time "
                    "moved (old and new, clinic local time, contact), staff whose day changed, "
                    "then the rest (front desk and up)")
def whom_to_tell(schedule_id: RowId, user: Desk, session: SessionDep) -> notices.WhomToTell:
    return notices.whom_to_tell(session, schedule_id)


@router.post("/schedules/{schedule_id}/publish", response_model=SchedulePublic,
             responses=R400 | SIGNED_IN | R404 | R409 | R422,
             summary="Publish a draft as the clinic's next version, with its calendar "
                     "feeds, all or nothing (front desk and up)")
def publish(schedule_id: RowId, body: VersionBody, user: Desk, session: SessionDep,
            response: Response) -> SchedulePublic:
    return full(drafts.publish(session, schedule_id, body.version, user), response)
