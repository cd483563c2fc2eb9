"""The clinic's rooms, staff, protocols and patients, one router each: list, read, add, replace,
remove. Every write is a new version of the clinic's scenario, validated whole, so a change that
breaks a reference (a room a fixed appointment uses) is a 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response, status

from scheduler.api.deps import AnyStaff, RowId, SessionDep, require
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.model import PatientSpec, ProtocolSpec, RoomSpec, StaffSpec
from scheduler.security import DESK, MANAGER
from scheduler.service import clinics
from scheduler.storage.tables import User

Item = dict[str, Any]
ItemBody = Annotated[Item, Body(description="The item as in the scenario file")]
VersionQuery = Query(default=None, description="The scenario version you read: a change in "
                     "between is a 409 instead of an overwrite")


def resource_router(section: str, singular: str, model: Any, writers: tuple[str, ...]
                    ) -> APIRouter:
    """The routes of one section of the scenario (``rooms``, ``staff``, …)."""
    router = APIRouter(prefix=f"/clinics/{{clinic_id}}/{section}", tags=[section],
                       responses=R422)  # ids in the path
    who = " and ".join(writers)
    writer = Depends(require(*writers))

    @router.get("", response_model=list[model], responses=SIGNED_IN | R404,
                summary=f"Every {singular} of the clinic (any staff role)")
    def list_items(clinic_id: RowId, user: AnyStaff, session: SessionDep) -> list[Item]:
        return clinics.items(session, clinic_id, section)[1]

    @router.get("/{item_id}", response_model=model, responses=SIGNED_IN | R404,
                summary=f"One {singular} (any staff role)")
    def get_item(clinic_id: RowId, item_id: str, user: AnyStaff, session: SessionDep) -> Item:
        return clinics.item(session, clinic_id, section, singular, item_id)

    @router.post("", response_model=model, status_code=status.HTTP_201_CREATED,
                 responses=R400 | SIGNED_IN | R404 | R409 | R422,
                 summary=f"Add a {singular} ({who})")
    def add_item(clinic_id: RowId, session: SessionDep, item: ItemBody,
                 user: User = writer, version: int | None = VersionQuery) -> Item:
        return clinics.add_item(session, clinic_id, section, singular, item, user, version)

    @router.put("/{item_id}", response_model=model, responses=R400 | SIGNED_IN | R404 | R409 | R422,
                summary=f"Replace a {singular} ({who})")
    def put_item(clinic_id: RowId, item_id: str, session: SessionDep, item: ItemBody,
                 user: User = writer, version: int | None = VersionQuery) -> Item:
        return clinics.replace_item(session, clinic_id, section, singular, item_id, item, user,
                                    version)

    @router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT,
                   responses=R400 | SIGNED_IN | R404 | R409 | R422,
                   summary=f"Remove a {singular} ({who})")
    def delete_item(clinic_id: RowId, item_id: str, session: SessionDep, user: User = writer,
                    version: int | None = VersionQuery) -> Response:
        clinics.remove_item(session, clinic_id, section, singular, item_id, user, version)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


rooms = resource_router("rooms", "room", RoomSpec, MANAGER)
staff = resource_router("staff", "staff member", StaffSpec, MANAGER)
protocols = resource_router("protocols", "protocol", ProtocolSpec, MANAGER)
patients = resource_router("patients", "patient", PatientSpec, DESK)
