"""The live schedule (the clinic's latest published version), edited directly: book a session,
move or cancel an appointment, undo the last change. Each is judged by the independent checker
(422 with its words) and stored as the next published version with its feeds, made from the
version the caller read (409 when another was published first)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from scheduler.api.deps import Desk, RowId, SessionDep, SettingsDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import (
    BookRequest,
    LiveBody,
    LiveCancelRequest,
    LiveMoveRequest,
    MarkPublic,
    MarkRequest,
    SchedulePublic,
    SlotPublic,
    SlotsPublic,
)
from scheduler.service import drafts, slots, weeks

from .schedules import full

router = APIRouter(prefix="/clinics/{clinic_id}", tags=["live schedule"], responses=R422)

WRITES = R400 | SIGNED_IN | R404 | R409 | R422


@router.post("/appointments", response_model=SchedulePublic, responses=WRITES,
             summary="Book one more session of a patient on the published schedule (the room "
                     "and staff picked when not given); a new published version "
                     "(front desk and up)")
def book(clinic_id: RowId, body: BookRequest, user: Desk, session: SessionDep,
         settings: SettingsDep, response: Response) -> SchedulePublic:
    row = drafts.live_book(session, clinic_id, body.patient, body.start, body.room, body.staff,
                           body.number, user, settings.now())
    return full(row, response)


@router.post("/appointments/{appointment_id}/move", response_model=SchedulePublic,
             responses=WRITES,
             summary="Move an appointment of the published schedule; a move that breaks a hard "
                     "rule is refused with the checker's words (front desk and up)")
def move(clinic_id: RowId, appointment_id: str, body: LiveMoveRequest, user: Desk,
         session: SessionDep, settings: SettingsDep, response: Response) -> SchedulePublic:
    row = drafts.live_move(session, clinic_id, appointment_id, body.start, body.room,
                           body.staff, body.number, user, settings.now())
    return full(row, response)


@router.post("/appointments/{appointment_id}/cancel", response_model=SchedulePublic,
             responses=WRITES,
             summary="Cancel an appointment of the published schedule; its session is listed "
                     "as unplaced (front desk and up)")
def cancel(clinic_id: RowId, appointment_id: str, body: LiveCancelRequest, user: Desk,
           session: SessionDep, settings: SettingsDep, response: Response) -> SchedulePublic:
    row = drafts.live_cancel(session, clinic_id, appointment_id, body.reason, body.number,
                             user, settings.now())
    return full(row, response)


@router.post("/appointments/{appointment_id}/mark", response_model=MarkPublic,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="Mark a published session arrived, completed or no-show (null clears the "
                     "mark); a no-show is left out of the course history when the next week is "
                     "planned (front desk and up)")
def mark(clinic_id: RowId, appointment_id: str, body: MarkRequest, user: Desk,
         session: SessionDep) -> MarkPublic:
    found, value = weeks.mark(session, clinic_id, appointment_id, body.mark, user)
    return MarkPublic(ref=found.ref, patient=found.patient, mark=value,
                      schedule_id=found.schedule_id)


@router.get("/patients/{patient_id}/slots", response_model=SlotsPublic,
            responses=SIGNED_IN | R404,
            summary="The next free slots for one more session of a patient on the published "
                    "schedule's week, each accepted by the checker (front desk and up)")
def find_slots(clinic_id: RowId, patient_id: str, user: Desk, session: SessionDep,
               settings: SettingsDep,
               limit: Annotated[int, Query(ge=1, le=slots.MAX_LIMIT,
                                           description="How many slots, at most")
                                ] = slots.DEFAULT_LIMIT,
               not_before: Annotated[datetime | None, Query(
                   alias="from", description="The earliest start (ISO 8601 with a UTC offset; "
                                             "default: now when it falls in the published "
                                             "week, else the week's first day)")] = None
               ) -> SlotsPublic:
    found = slots.next_slots(session, clinic_id, patient_id, limit, not_before,
                             at=settings.now())
    return SlotsPublic(schedule_id=found.schedule_id, number=found.number,
                       patient=found.patient,
                       slots=[SlotPublic(start=s.start, end=s.end, room=s.room, staff=s.staff)
                              for s in found.slots])


@router.post("/undo", response_model=SchedulePublic, responses=WRITES,
             summary="Undo the last change of the published schedule: a new published version "
                     "equal to the one it replaced (front desk and up)")
def undo(clinic_id: RowId, body: LiveBody, user: Desk, session: SessionDep,
         response: Response) -> SchedulePublic:
    return full(drafts.undo(session, clinic_id, body.number, user), response)
