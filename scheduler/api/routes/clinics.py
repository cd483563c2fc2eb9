"""Clinics and their scenario data (contract v1), versioned: read, replace, import a file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from scheduler.api.deps import AnyStaff, Desk, Manager, RowId, SessionDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import ClinicPublic, ScenarioPublic, ScenarioWrite
from scheduler.errors import InvalidInput, Issue
from scheduler.service import clinics
from scheduler.storage.tables import Clinic

router = APIRouter(prefix="/clinics", tags=["clinics"], responses=R422)  # ids in the path
MAX_UPLOAD = 5 * 1024 * 1024


def clinic_public(session: SessionDep, clinic: Clinic) -> ClinicPublic:
    version = clinics.version(session, clinic.id)
    return ClinicPublic(id=clinic.id, slug=clinic.slug, name=clinic.name,
                        scenario_version=version.number)


@router.get("", response_model=list[ClinicPublic], responses=SIGNED_IN,
            summary="Every clinic (any staff role)")
def list_clinics(user: AnyStaff, session: SessionDep) -> list[ClinicPublic]:
    return [clinic_public(session, c) for c in clinics.clinics(session)]


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


async def _read(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput([Issue("file", f"is larger than {MAX_UPLOAD // 1024 // 1024} MiB")])
    return data


@router.post("/{clinic_id}/scenario/file", response_model=ScenarioPublic,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="Import a scenario file, YAML or JSON: a new version (manager, admin)")
async def import_scenario(clinic_id: RowId, user: Manager, session: SessionDep,
                          file: Annotated[UploadFile, File(description="scenario.yaml")]
                          ) -> ScenarioPublic:
    raw = await _read(file)
    version = clinics.import_scenario(session, clinic_id, raw, file.filename or "scenario", user)
    return ScenarioPublic(clinic_id=clinic_id, version=version.number, scenario=version.data)


@router.post("/{clinic_id}/patients/file", response_model=ScenarioPublic,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="Replace the patients from a front-desk CSV export (front desk and up)")
async def import_patients(clinic_id: RowId, user: Desk, session: SessionDep,
                          file: Annotated[UploadFile, File(description="patients.csv")]
                          ) -> ScenarioPublic:
    raw = await _read(file)
    version = clinics.import_patients(session, clinic_id, raw, file.filename or "patients.csv",
                                      user)
    return ScenarioPublic(clinic_id=clinic_id, version=version.number, scenario=version.data)
