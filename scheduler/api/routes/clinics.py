"""Clinics and their scenario data (contract v1), versioned: read, replace, import a file; an
admin adds a clinic, exports one whole, deletes one whole.

The operations that carry a whole scenario (a PUT, a file: ``WHOLE``) take bodies up to
``max_upload_bytes`` (the app's body limits); the file imports are plain functions, which
FastAPI runs in its thread pool, so parsing and validating a file never holds up the event
loop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse

from scheduler.api.deps import Admin, AnyStaff, Desk, Manager, RowId, SessionDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import ClinicCreate, ClinicPublic, ScenarioPublic, ScenarioWrite
from scheduler.service import clinics
from scheduler.storage.tables import Clinic

router = APIRouter(prefix="/clinics", tags=["clinics"], responses=R422)  # ids in the path
WHOLE = (r"/clinics/[^/]+/scenario(/file)?", r"/clinics/[^/]+/patients/file")
"""The paths whose bodies carry a whole scenario (their body limit is ``max_upload_bytes``)."""


def clinic_public(session: SessionDep, clinic: Clinic) -> ClinicPublic:
    version = clinics.version(session, clinic.id)
    return ClinicPublic(id=clinic.id, slug=clinic.slug, name=clinic.name,
                        scenario_version=version.number)


@router.get("", response_model=list[ClinicPublic], responses=SIGNED_IN,
            summary="The clinics you hold a role in (any staff role)")
def list_clinics(user: AnyStaff, session: SessionDep) -> list[ClinicPublic]:
    return [clinic_public(session, c) for c in clinics.clinics(session, user)]


@router.post("", response_model=ClinicPublic, status_code=status.HTTP_201_CREATED,
             responses=R400 | SIGNED_IN | R409 | R422,
             summary="Add a clinic to your organization: its scenario, or the demo clinic's "
                     "rooms, staff and protocols without patients (admin)")
def create_clinic(body: ClinicCreate, user: Admin, session: SessionDep) -> ClinicPublic:
    return clinic_public(session, clinics.create(session, body.slug, user, body.scenario,
                                                 body.name))


@router.get("/{clinic_id}/export", responses=SIGNED_IN | R404,
            response_model=dict[str, Any],
            summary="Everything of one clinic as one JSON document: scenario versions, "
                    "schedules, jobs, feed links (never their tokens), memberships (admin)")
def export_clinic(clinic_id: RowId, user: Admin, session: SessionDep) -> JSONResponse:
    data = clinics.export(session, clinic_id, user)
    return JSONResponse(data, headers={
        "Content-Disposition": f'attachment; filename="clinic-{data["clinic"]["slug"]}.json"',
        "Cache-Control": "no-store"})


@router.delete("/{clinic_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=SIGNED_IN | R404 | R422,
               summary="Delete a clinic with all its data; confirm with its slug (admin)")
def delete_clinic(clinic_id: RowId, user: Admin, session: SessionDep,
                  confirm: Annotated[str, Query(max_length=64, description="The clinic's slug")]
                  ) -> Response:
    clinics.delete(session, clinic_id, confirm, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{clinic_id}", response_model=ClinicPublic, responses=SIGNED_IN | R404,
            summary="One clinic (any staff role)")
def get_clinic(clinic_id: RowId, user: AnyStaff, session: SessionDep) -> ClinicPublic:
    return clinic_public(session, clinics.clinic(session, clinic_id))


@router.get("/{clinic_id}/scenario", response_model=ScenarioPublic,
            responses=SIGNED_IN | R404, summary="The clinic's current scenario (any staff role)")
def get_scenario(clinic_id: RowId, user: AnyStaff, session: SessionDep) -> ScenarioPublic:
    version = clinics.version(session, clinic_id)
    return ScenarioPublic(clinic_id=clinic_id, version=version.number, scenario=version.data)


@router.put("/{clinic_id}/scenario", response_model=ScenarioPublic,
            responses=R400 | SIGNED_IN | R404 | R409 | R422,
            summary="Replace the clinic's scenario: a new version (manager, admin)")
def put_scenario(clinic_id: RowId, body: ScenarioWrite, user: Manager,
                 session: SessionDep) -> ScenarioPublic:
    # body.scenario is the JSON as sent (SkipValidation): the scenario's validation reads it.
    version = clinics.replace_scenario(session, clinic_id, body.scenario, user, body.version,
                                       strict=True)
    return ScenarioPublic(clinic_id=clinic_id, version=version.number, scenario=version.data)


@router.post("/{clinic_id}/scenario/file", response_model=ScenarioPublic,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="Import a scenario file, YAML or JSON: a new version (manager, admin)")
def import_scenario(clinic_id: RowId, user: Manager, session: SessionDep,
                    file: Annotated[UploadFile, File(description="scenario.yaml")]
                    ) -> ScenarioPublic:
    raw = file.file.read()  # at most max_upload_bytes: the body limit holds the rest back
    version = clinics.import_scenario(session, clinic_id, raw, file.filename or "scenario", user)
    return ScenarioPublic(clinic_id=clinic_id, version=version.number, scenario=version.data)


@router.post("/{clinic_id}/patients/file", response_model=ScenarioPublic,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="Replace the patients from a front-desk CSV export (front desk and up)")
def import_patients(clinic_id: RowId, user: Desk, session: SessionDep,
                    file: Annotated[UploadFile, File(description="patients.csv")]
                    ) -> ScenarioPublic:
    raw = file.file.read()
    version = clinics.import_patients(session, clinic_id, raw, file.filename or "patients.csv",
                                      user)
    return ScenarioPublic(clinic_id=clinic_id, version=version.number, scenario=version.data)
