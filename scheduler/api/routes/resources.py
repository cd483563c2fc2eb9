"""The clinic's rooms, staff, protocols and patients, one router each: list, read, add, replace,
remove. A body is described by the section's own model (``RoomSpec``, ``StaffSpec``,
``ProtocolSpec``, ``PatientSpec``), so the OpenAPI document says what an item may hold, and is
stored as the client spelled it (no default added), in the scenario file's format. Every write
is a new version of the clinic's scenario, validated whole by the scenario's own validation
(the same models), so every problem comes at once, each named by its place in the scenario
(``rooms[2].chairs``), a broken reference too (a room a fixed appointment uses)."""

# No ``from __future__ import annotations`` here: the bodies' types are the routers' arguments,
# and FastAPI reads an endpoint's annotations as objects, not as names to look up.

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response, status
from pydantic import BaseModel, Field, SkipValidation, create_model

from scheduler.api.deps import AnyStaff, RowId, SessionDep, require
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.model import Id, PatientSpec, ProtocolSpec, RoomSpec, StaffSpec
from scheduler.security import DESK, MANAGER
from scheduler.service import clinics
from scheduler.storage.tables import User

Item = dict[str, Any]
VersionQuery = Query(default=None, description="The scenario version you read: a change in "
                     "between is a 409 instead of an overwrite")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def replacement(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with an optional ``id``: a replacement's path names the item, and an ``id`` in
    the body, when given, must be that one."""
    return create_model(
        f"{model.__name__}Replacement", __base__=model,
        id=(Id, Field(default=None, description="The path's id (optional here)",
                      json_schema_extra=_no_default)))


def resource_router(section: str, singular: str, model: type[BaseModel],
                    writers: tuple[str, ...]) -> APIRouter:
    """The routes of one section of the scenario (``rooms``, ``staff``, …)."""
    router = APIRouter(prefix=f"/clinics/{{clinic_id}}/{section}", tags=[section],
                       responses=R422)  # ids in the path
    who = " and ".join(writers)
    writer = Depends(require(*writers))
    # The bodies' schemas are the models'; FastAPI leaves them unvalidated (SkipValidation),
    # the raw JSON goes to the scenario's validation, strictly typed (``strict=True``). The
    # types are chosen at run time, which mypy cannot follow.
    about = f"The {singular} as in the scenario file"
    replacing = replacement(model)
    added = Annotated[model, SkipValidation(),  # type: ignore[valid-type]
                      Body(title=model.__name__, description=about)]
    replaced = Annotated[replacing, SkipValidation(),  # type: ignore[valid-type]
                         Body(title=replacing.__name__, description=about)]
    listed = list[model]  # type: ignore[valid-type]

    @router.get("", response_model=listed, responses=SIGNED_IN | R404,
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
    def add_item(clinic_id: RowId, session: SessionDep, item: added,
                 user: User = writer, version: int | None = VersionQuery) -> Item:
        return clinics.add_item(session, clinic_id, section, singular, item, user, version,
                                strict=True)

    @router.put("/{item_id}", response_model=model, responses=R400 | SIGNED_IN | R404 | R409 | R422,
                summary=f"Replace a {singular} ({who})")
    def put_item(clinic_id: RowId, item_id: str, session: SessionDep, item: replaced,
                 user: User = writer, version: int | None = VersionQuery) -> Item:
        return clinics.replace_item(session, clinic_id, section, singular, item_id, item, user,
                                    version, strict=True)

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
