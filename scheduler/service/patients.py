"""The patients of a clinic as the front desk looks them up: the list, and one patient with
their course, their sessions (published and in the current draft) and their feed link."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from scheduler.documents import Appointment
from scheduler.errors import NotFound
from scheduler.model import WEEKDAYS, PatientSpec, ProtocolSpec, Scenario
from scheduler.service import drafts
from scheduler.storage import repo
from scheduler.storage.tables import Clinic, FeedToken, ScheduleRow
from scheduler.usecases.roll import CourseStatus, course_status

__all__ = ["PatientView", "find", "next_open_day", "view"]


def next_open_day(scenario: Scenario, day: date) -> date:
    """``day`` if the clinic opens on it, else the next day it does (``day`` itself for a
    clinic that never opens): a session is due when the patient can come."""
    hours, closed = scenario.clinic.hours, set(scenario.clinic.closed_dates)
    for offset in range(366):
        d = day + timedelta(days=offset)
        if hours.get(WEEKDAYS[d.weekday()]) and d not in closed:
            return d
    return day


def find(session: Session, clinic_id: int, text: str) -> tuple[Scenario, list[PatientSpec]]:
    """The clinic's patients whose id or name contains ``text`` (every one for no text)."""
    scenario = repo.scenario_of(repo.scenario_version(session, clinic_id))
    needle = text.strip().lower()
    return scenario, [p for p in scenario.patients
                      if not needle or needle in p.id.lower()
                      or needle in (p.name or "").lower()]


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
