"""Find a slot on the live schedule: the next free starts for one more session of a patient
on the clinic's latest published version, each accepted by the independent checker (the
judgement :func:`scheduler.service.drafts.live_book` gives a booking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from scheduler.errors import NotFound
from scheduler.service import drafts
from scheduler.usecases.slots import DEFAULT_LIMIT, MAX_LIMIT, Slot, find_slots, nearest_slots

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Found", "Slot", "nearest", "next_slots"]


@dataclass(frozen=True, slots=True)
class Found:
    """The slots found and the published version they were found on (book with its number)."""

    schedule_id: int
    number: int
    patient: str
    slots: list[Slot]


def next_slots(session: Session, clinic_id: int, patient: str, limit: int = DEFAULT_LIMIT,
               not_before: datetime | None = None) -> Found:
    """The next ``limit`` free slots of ``patient`` (from ``not_before``) on the clinic's
    published schedule; NotFound for a patient the clinic does not have, or when nothing is
    published."""
    latest = drafts.published(session, clinic_id)
    scenario = drafts.live_scenario(session, latest)[0]
    if patient not in {p.id for p in scenario.patients}:
        raise NotFound("patient", patient)
    assert latest.number is not None  # a published version has its number
    found = find_slots(scenario, drafts.document(latest), patient, limit, not_before)
    return Found(latest.id, latest.number, patient, found)


def nearest(session: Session, schedule_id: int, patient: str, near: datetime,
            count: int = 3) -> list[Slot]:
    """The slots of schedule ``schedule_id`` (a draft or a published version) nearest to
    ``near`` where one more session of ``patient`` fits: "why not here?"'s offer."""
    found = drafts.row(session, schedule_id)
    return nearest_slots(drafts.scenario_of(session, found), drafts.document(found), patient,
                         near, count)
