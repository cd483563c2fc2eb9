"""The clinic's rooms, staff, protocols and patients, one router each: list, read, add, replace,
remove. Every write is a new version of the clinic's scenario, validated whole, so a change that
breaks a reference (a room a fixed appointment uses) is a 422 naming the field."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response, status

from scheduler.api.deps import AnyStaff, RowId, SessionDep, require
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.errors import Conflict, InvalidInput, Issue, NotFound
from scheduler.model import PatientSpec, ProtocolSpec, RoomSpec, StaffSpec
from scheduler.security import DESK, MANAGER
from scheduler.storage import repo
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

    def items(session: SessionDep, clinic_id: RowId) -> tuple[Any, list[Item]]:
        version = repo.scenario_version(session, repo.clinic(session, clinic_id).id)
        return version, copy.deepcopy(version.data.get(section, []))

    def store(session: SessionDep, clinic_id: RowId, version: Any, new: list[Item], user: User,
              expected: int | None) -> None:
        data = {**copy.deepcopy(version.data), section: new}
        repo.add_scenario_version(session, repo.clinic(session, clinic_id), data, user,
                                  expected if expected is not None else version.number)
        session.commit()

    @router.get("", response_model=list[model], responses=SIGNED_IN | R404,
                summary=f"Every {singular} of the clinic (any staff role)")
    def list_items(clinic_id: RowId, user: AnyStaff, session: SessionDep) -> list[Item]:
        return items(session, clinic_id)[1]

    @router.get("/{item_id}", response_model=model, responses=SIGNED_IN | R404,
                summary=f"One {singular} (any staff role)")
    def get_item(clinic_id: RowId, item_id: str, user: AnyStaff, session: SessionDep) -> Item:
        found = next((x for x in items(session, clinic_id)[1] if x.get("id") == item_id), None)
        if found is None:
            raise NotFound(singular, item_id)
        return found

    @router.post("", response_model=model, status_code=status.HTTP_201_CREATED,
                 responses=R400 | SIGNED_IN | R404 | R409 | R422,
                 summary=f"Add a {singular} ({who})")
    def add_item(clinic_id: RowId, session: SessionDep, item: ItemBody,
                 user: User = writer, version: int | None = VersionQuery) -> Item:
        current, listed = items(session, clinic_id)
        if any(x.get("id") == item.get("id") for x in listed):
            raise Conflict(f"{singular} '{item.get('id')}' exists already; PUT replaces it")
        store(session, clinic_id, current, [*listed, item], user, version)
        return item

    @router.put("/{item_id}", response_model=model, responses=R400 | SIGNED_IN | R404 | R409 | R422,
                summary=f"Replace a {singular} ({who})")
    def put_item(clinic_id: RowId, item_id: str, session: SessionDep, item: ItemBody,
                 user: User = writer, version: int | None = VersionQuery) -> Item:
        current, listed = items(session, clinic_id)
        if item.get("id", item_id) != item_id:
            raise InvalidInput([Issue("body.id", f"is '{item.get('id')}' but the path names "
                                                 f"'{item_id}'")])
        index = next((i for i, x in enumerate(listed) if x.get("id") == item_id), None)
        if index is None:
            raise NotFound(singular, item_id)
        listed[index] = {**item, "id": item_id}
        store(session, clinic_id, current, listed, user, version)
        return listed[index]

    @router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT,
                   responses=R400 | SIGNED_IN | R404 | R409 | R422,
                   summary=f"Remove a {singular} ({who})")
    def delete_item(clinic_id: RowId, item_id: str, session: SessionDep, user: User = writer,
                    version: int | None = VersionQuery) -> Response:
        current, listed = items(session, clinic_id)
        kept = [x for x in listed if x.get("id") != item_id]
        if len(kept) == len(listed):
            raise NotFound(singular, item_id)
        store(session, clinic_id, current, kept, user, version)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


rooms = resource_router("rooms", "room", RoomSpec, MANAGER)
staff = resource_router("staff", "staff member", StaffSpec, MANAGER)
protocols = resource_router("protocols", "protocol", ProtocolSpec, MANAGER)
patients = resource_router("patients", "patient", PatientSpec, DESK)
