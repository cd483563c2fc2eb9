"""Find a slot on the live schedule: the next free starts for one more session of a patient
on the clinic's latest published version, each accepted by the independent checker (the
judgement :func:`scheduler.service.drafts.live_book` gives a booking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from scheduler.errors import NotFound
from scheduler.model import Scenario
from scheduler.service import drafts
from scheduler.storage.tables import now
from scheduler.usecases.slots import DEFAULT_LIMIT, MAX_LIMIT, Slot, find_slots, nearest_slots

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Found", "Slot", "earliest", "nearest", "next_slots"]


@dataclass(frozen=True, slots=True)
class Found:
    """The slots found and the published version they were found on (book with its number)."""

    schedule_id: int
    number: int
    patient: str
    slots: list[Slot]


def earliest(scenario: Scenario, at: datetime) -> datetime | None:
    """Where "next" starts by default: ``at`` (now) when it falls inside the scenario's week,
    else None (the week's first day: a week still to come is offered from its start, and a
    week gone by has nothing after now)."""
    first = datetime.combine(scenario.horizon.start, time(0), scenario.tz)
    last = datetime.combine(scenario.horizon.start + timedelta(days=scenario.horizon.days),
                            time(0), scenario.tz)
    return at if first <= at < last else None


def next_slots(session: Session, clinic_id: int, patient: str, limit: int = DEFAULT_LIMIT,
               not_before: datetime | None = None, at: datetime | None = None) -> Found:
    """The next ``limit`` free slots of ``patient`` on the clinic's published schedule, from
    ``not_before`` (default: now, ``at``, when it is inside the published week, else the
    week's first day), judged against the scenario a booking would be (a patient added to the
    clinic's data since counts); NotFound for a patient the clinic does not have, or when
    nothing is published."""
    latest = drafts.published(session, clinic_id)
    scenario, _ = drafts.live_scenario(session, latest)
    if patient not in {p.id for p in scenario.patients}:
        raise NotFound("patient", patient)
    assert latest.number is not None  # a published version has its number
    if not_before is None:
        not_before = earliest(scenario, at if at is not None else now())
    found = find_slots(scenario, drafts.document(latest), patient, limit, not_before)
    return Found(latest.id, latest.number, patient, found)


def nearest(session: Session, schedule_id: int, patient: str, near: datetime,
            count: int = 3) -> list[Slot]:
    """The slots of schedule ``schedule_id`` (a draft or a published version) nearest to
    ``near`` where one more session of ``patient`` fits: "why not here?"'s offer."""
    found = drafts.row(session, schedule_id)
    return nearest_slots(drafts.judged_against(session, found), drafts.document(found), patient,
                         near, count)
