"""The patients of a clinic as the front desk looks them up: the list, and one patient with
their course, their sessions (published and in the current draft) and their feed link."""

from __future__ import annotations

import copy
import dataclasses
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from scheduler.check import check
from scheduler.documents import Appointment
from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.model import WEEKDAYS, PatientSpec, ProtocolSpec, Scenario
from scheduler.service import clinics, drafts
from scheduler.storage import repo
from scheduler.storage.tables import Clinic, FeedToken, ScheduleRow, User
from scheduler.usecases.patients_import import Preview, preview_patients
from scheduler.usecases.roll import CourseStatus, course_status
from scheduler.validate import validate_scenario

__all__ = ["Broken", "PatientView", "broken", "confirm_import", "discharge", "find", "matches",
           "next_open_day", "preview_import", "problems", "raw", "readmit", "save", "view"]


def next_open_day(scenario: Scenario, day: date) -> date:
    """``day`` if the clinic opens on it, else the next day it does (``day`` itself for a
    clinic that never opens): a session is due when the patient can come."""
    hours, closed = scenario.clinic.hours, set(scenario.clinic.closed_dates)
    for offset in range(366):
        d = day + timedelta(days=offset)
        if hours.get(WEEKDAYS[d.weekday()]) and d not in closed:
            return d
    return day


def _folded(text: str) -> str:
    """``text`` without case or accents: "Zoë" finds "zoe"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold())
                   if not unicodedata.combining(c))


def matches(p: PatientSpec, text: str) -> bool:
    """Whether every word of ``text`` begins a word of the patient's id or name, or lies
    inside it: "hayes gia" and "Gia Hayes" both find Gia Hayes (any order, any case)."""
    words = _folded(f"{p.id} {p.name or ''}").split()
    return all(any(token in word for word in words) for token in _folded(text).split())


def find(session: Session, clinic_id: int, text: str, discharged: bool = False
         ) -> tuple[Scenario, list[PatientSpec]]:
    """The clinic's patients matching ``text`` (every one for no text; see :func:`matches`);
    those discharged only with ``discharged``."""
    scenario = repo.scenario_of(repo.scenario_version(session, clinic_id))
    return scenario, [p for p in scenario.patients
                      if (discharged or p.discharged is None) and matches(p, text)]


@dataclass(slots=True)
class PatientView:
    clinic: Clinic
    patient: PatientSpec
    protocol: ProtocolSpec | None
    sessions: list[tuple[str, ScheduleRow, Appointment]]
    """("published" or "draft", the schedule, the appointment), published first: the latest
    published version, and the current draft (one made from it)."""
    link: FeedToken | None
    tz: ZoneInfo
    course: CourseStatus | None
    scenario: Scenario


def view(session: Session, clinic_id: int, patient_id: str) -> PatientView:
    """Patient ``patient_id`` of the clinic's latest scenario (NotFound for another's)."""
    clinic = repo.clinic(session, clinic_id)
    version = repo.scenario_version(session, clinic.id)
    scenario = repo.scenario_of(version)
    spec = next((p for p in scenario.patients if p.id == patient_id), None)
    if spec is None:
        raise NotFound("patient", patient_id)
    course = course_status(version.data, patient_id, scenario.horizon.start,
                           scenario.horizon.days)
    if course is not None and course.next_due is not None:  # the ideal day may be a Sunday
        course = dataclasses.replace(course, next_due=next_open_day(scenario,
                                                                    course.next_due))
    published = repo.latest_published(session, clinic.id)  # the highest number: the live one
    draft = drafts.pick(session, clinic.id, None)  # never one a later publish superseded
    sessions = []
    for label, row in (("published", published), ("draft", draft)):
        if row is None or (label == "draft" and row.status != "draft"):
            continue
        for a in repo.to_schedule(row).appointments:
            if a.patient == patient_id:
                sessions.append((label, row, a))
    protocol = next((p for p in scenario.protocols if p.id == spec.protocol), None)
    link = repo.live_feed_token(session, clinic.id, "patient", patient_id)
    return PatientView(clinic, spec, protocol, sessions, link, scenario.tz, course, scenario)


# ----------------------------------------------------------------------------- changes
@dataclass(frozen=True, slots=True)
class Broken:
    """A published session of the patient that the clinic's data no longer allows."""

    appointment: Appointment
    what: list[str]
    number: int
    """The published version it is in."""
    schedule_id: int


def broken(session: Session, clinic_id: int, patient_id: str) -> list[Broken]:
    """The patient's sessions on the live (latest published) schedule that break a hard rule
    under the clinic's latest scenario (the checker's words), by time; none when nothing is
    published."""
    live = repo.latest_published(session, clinic_id)
    if live is None:
        return []
    scenario = repo.scenario_of(repo.scenario_version(session, clinic_id))
    document = repo.to_schedule(live)
    mine = {a.id: a for a in document.appointments if a.patient == patient_id}
    if not mine or patient_id not in {p.id for p in scenario.patients}:
        return []
    found: dict[str, list[str]] = {}
    for v in check(scenario, document.to_json()):
        if v.appointment in mine:
            found.setdefault(v.appointment, []).append(v.what)
    assert live.number is not None  # a published version has its number
    return sorted((Broken(mine[ref], what, live.number, live.id) for ref, what in found.items()),
                  key=lambda b: b.appointment.start)


def raw(session: Session, clinic_id: int, patient_id: str) -> tuple[int, dict[str, Any]]:
    """The patient as the scenario stores it (courses unexpanded), and the version read."""
    current, listed = clinics.items(session, clinic_id, "patients")
    found = next((p for p in listed if p.get("id") == patient_id), None)
    if found is None:
        raise NotFound("patient", patient_id)
    return current.number, found


def save(session: Session, clinic_id: int, item: dict[str, Any], by: User, expected: int,
         patient_id: str | None = None) -> dict[str, Any]:
    """A new patient (``patient_id`` None) or patient ``patient_id`` replaced by ``item``: a
    new scenario version, validated whole (InvalidInput with ``patients[i].field`` paths;
    nothing stored), a Conflict when version ``expected`` is no longer the latest (someone
    saved first) or the id is taken."""
    if patient_id is None:
        return clinics.add_item(session, clinic_id, "patients", "patient", item, by, expected)
    return clinics.replace_item(session, clinic_id, "patients", "patient", patient_id, item,
                                by, expected)


def problems(session: Session, clinic_id: int, item: dict[str, Any],
             patient_id: str | None = None) -> list[Issue]:
    """The scenario's problems with ``item`` added (or in place of ``patient_id``), paths
    ``patients[i].field``; nothing stored."""
    current, listed = clinics.items(session, clinic_id, "patients")
    index = next((i for i, p in enumerate(listed) if p.get("id") == patient_id), None)
    if index is None:
        listed.append(item)
    else:
        listed[index] = item
    try:
        validate_scenario({**copy.deepcopy(current.data), "patients": listed})
    except InvalidInput as exc:
        return exc.issues
    return []


def discharge(session: Session, clinic_id: int, patient_id: str, on: date, by: User,
              expected: int) -> dict[str, Any]:
    """Discharge the patient on ``on``: archived (out of planning and of the default list),
    never deleted; their history stays."""
    _, item = raw(session, clinic_id, patient_id)
    return save(session, clinic_id, {**item, "discharged": on.isoformat()}, by, expected,
                patient_id)


def readmit(session: Session, clinic_id: int, patient_id: str, by: User, expected: int
            ) -> dict[str, Any]:
    """Re-admit a discharged patient: planned again from the next plan on."""
    _, item = raw(session, clinic_id, patient_id)
    item.pop("discharged", None)
    return save(session, clinic_id, item, by, expected, patient_id)


# ----------------------------------------------------------------------------- import
def preview_import(session: Session, clinic_id: int, raw_csv: bytes, filename: str,
                   date_format: str | None = None) -> tuple[int, Preview]:
    """What importing the CSV would do (nothing stored), and the version it was read at."""
    current = clinics.version(session, clinic_id)
    return current.number, preview_patients(current.data, raw_csv, filename, date_format)


def confirm_import(session: Session, clinic_id: int, raw_csv: bytes, filename: str,
                   date_format: str | None, by: User, expected: int, remember: bool = False
                   ) -> tuple[int, Preview]:
    """Import the CSV as previewed: a new scenario version (a Conflict when ``expected`` is
    no longer the latest), or the preview with its problems when it has any (nothing
    stored). ``remember``: ``date_format`` becomes the clinic's."""
    number, preview = preview_import(session, clinic_id, raw_csv, filename, date_format)
    if preview.data is None:
        return number, preview
    data = preview.data
    if remember and date_format and isinstance(data.get("clinic"), dict):
        data = {**data, "clinic": {**data["clinic"], "date_format": date_format}}
    added = clinics.replace_scenario(session, clinic_id, data, by, expected)
    return added.number, preview
