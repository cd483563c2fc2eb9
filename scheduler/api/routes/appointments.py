"""One appointment of a draft: cancel it, or move it (the independent checker judges the move)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from scheduler.api.deps import Desk, RowId, SessionDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import CancelRequest, MoveRequest, SchedulePublic
from scheduler.service import drafts

from .schedules import full

router = APIRouter(prefix="/schedules/{schedule_id}/appointments", tags=["appointments"],
                   responses=R422)  # ids in the path


@router.post("/{appointment_id}/cancel", response_model=SchedulePublic,
             responses=R400 | SIGNED_IN | R404 | R409 | R422,
             summary="Cancel an appointment of a draft; it is listed as unplaced "
                     "(front desk and up)")
def cancel(schedule_id: RowId, appointment_id: str, body: CancelRequest, user: Desk,
           session: SessionDep, response: Response) -> SchedulePublic:
    row = drafts.cancel(session, schedule_id, appointment_id, body.reason, body.version, user)
    return full(row, response)


@router.post("/{appointment_id}/move", response_model=SchedulePublic,
             responses=R400 | SIGNED_IN | R404 | R409 | R422,
             summary="Move an appointment of a draft; a move that breaks a hard rule is refused "
                     "with the checker's words (front desk and up)")
def move(schedule_id: RowId, appointment_id: str, body: MoveRequest, user: Desk,
         session: SessionDep, response: Response) -> SchedulePublic:
    row = drafts.move(session, schedule_id, appointment_id, body.start, body.room, body.staff,
                      body.version, user)
    return full(row, response)
