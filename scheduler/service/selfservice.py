"""A patient's self-service link: a private capability URL of its own (only its SHA-256
stored, rotatable) that opens their upcoming sessions on the live schedule, where they may
confirm one, cancel it (up to CHAIRTIME_LATE_CANCEL_HOURS before, then "please call") or move
it to one of the slots the slot finder offers (only slots that keep every hard rule and their
course), booked atomically on the live schedule by :func:`scheduler.service.drafts.live_move`
(the checker judges it). Every action is notified to the desk through the outbox, in the
action's transaction. The clinic turns each action off, and sets its own late-cancellation
window, in its data (``clinic.self_service``, read from its current version: a switch turned
off holds at once); the service's CHAIRTIME_SELF_SERVICE is the operator's ceiling over every
clinic. An action turned off is refused here (Forbidden), whatever a page offered. Nothing of
another patient is ever read out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.documents import Appointment
from scheduler.errors import Conflict, Forbidden, NotFound
from scheduler.model import SELF_SERVICE_ACTIONS, Scenario, SelfService, patient_email
from scheduler.service import drafts, feeds, outbox
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.tables import AuditEntry, SelfServiceToken, User, now
from scheduler.usecases import cancel_appointment
from scheduler.usecases.messages import clinic_name, links
from scheduler.usecases.messages import offered as offered_words
from scheduler.usecases.slots import MAX_LIMIT, Slot, find_slots

__all__ = ["PLEASE_CALL", "Mine", "Policy", "Visit", "cancel", "confirm", "issue_link",
           "link_since", "link_url", "new_link", "offered", "open_link", "policy", "reschedule",
           "send_links", "slots_for", "token_hash", "visits"]

token_hash = repo.token_hash

PLEASE_CALL = "it is too close to the session to change it here: please call the clinic"
OFF = {"confirm": "the clinic does not take confirmations through this page",
       "cancel": "the clinic does not take cancellations through this page: please call the "
                 "clinic",
       "reschedule": "the clinic does not move appointments through this page: please call "
                     "the clinic"}
"""Why an action the clinic (or the service) turned off is refused, in the patient's words."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What a clinic's patients may do through their link now: the clinic's switches under
    the service's ceiling, and the late-cancellation window in force."""

    allowed: frozenset[str]
    late: timedelta

    def require(self, action: str) -> None:
        """Forbidden, in the patient's words, unless ``action`` is allowed."""
        if action not in self.allowed:
            raise Forbidden(OFF.get(action, f"{action} is not offered"))


def policy(session: Session, clinic_id: int, settings: Settings) -> Policy:
    """The clinic's ``self_service`` switches (its current data: a switch turned off holds
    at once, published schedule or not) under ``settings.self_service``, the operator's
    ceiling; the clinic's late-cancellation hours, else ``settings.late_cancel_hours``."""
    data = repo.scenario_version(session, clinic_id).data.get("clinic") or {}
    own = SelfService.model_validate(data.get("self_service") or {})
    ceiling = set(filter(None, settings.self_service.split(",")))
    hours = (own.late_cancel_hours if own.late_cancel_hours is not None
             else settings.late_cancel_hours)
    return Policy(frozenset(a for a in SELF_SERVICE_ACTIONS if a in ceiling and own.allows(a)),
                  timedelta(hours=hours))


def issue_link(session: Session, clinic_id: int, patient: str, by: User | None) -> str:
    """A new self-service link for ``patient`` (the token, shown or sent once); the one in
    force before, if any, answers 404 from now on."""
    _, scenario = _scenario(session, clinic_id)
    if patient not in {p.id for p in scenario.patients}:
        raise NotFound("patient", patient)
    for old in session.scalars(select(SelfServiceToken).where(
            SelfServiceToken.clinic_id == clinic_id, SelfServiceToken.patient == patient,
            SelfServiceToken.revoked_at.is_(None))):
        old.revoked_at = now()
    session.flush()
    token = secrets.token_urlsafe(32)
    session.add(SelfServiceToken(clinic_id=clinic_id, patient=patient,
                                 token_hash=repo.token_hash(token),
                                 created_by=by.id if by else None))
    repo.audit(session, by, "issue self-service link", "patient", patient, None,
               {"clinic": clinic_id}, clinic_id=clinic_id)
    return token


def link_url(settings: Settings, served_at: str, token: str) -> str:
    """The address of self-service link ``token``: behind ``public_url``, else where the
    request came in."""
    return f"{settings.public_url or served_at.rstrip('/')}/me/{token}"


def new_link(session: Session, clinic_id: int, patient: str, by: User, settings: Settings,
             served_at: str) -> str:
    """A new self-service link for the desk to give the patient by hand (its address, shown
    this once); the one in force before answers 404 from now on."""
    token = issue_link(session, clinic_id, patient, by)
    session.commit()
    return link_url(settings, served_at, token)


def offered(session: Session, clinic_id: int, settings: Settings) -> str:
    """What the clinic's patients may do through their link, as verbs: ``confirm, cancel or
    move`` ("" when they only see their sessions)."""
    return offered_words(policy(session, clinic_id, settings).allowed)


def link_since(session: Session, clinic_id: int, patient: str) -> datetime | None:
    """When the patient's self-service link in force was made (None: they have none)."""
    return session.scalars(select(SelfServiceToken.created_at).where(
        SelfServiceToken.clinic_id == clinic_id, SelfServiceToken.patient == patient,
        SelfServiceToken.revoked_at.is_(None))).first()


def open_link(session: Session, token: str) -> tuple[int, str] | None:
    """The clinic and patient of a live link; None for any other token."""
    found = session.scalars(select(SelfServiceToken).where(
        SelfServiceToken.token_hash == repo.token_hash(token),
        SelfServiceToken.revoked_at.is_(None))).first()
    return None if found is None else (found.clinic_id, found.patient)


def _scenario(session: Session, clinic_id: int) -> tuple[int, Scenario]:
    latest = drafts.latest_published(session, clinic_id)
    if latest is None:
        version = repo.scenario_version(session, clinic_id)
        return 0, repo.scenario_of(version)
    return latest.number or 0, drafts.scenario_of(session, latest)


@dataclass(frozen=True, slots=True)
class Visit:
    """One upcoming session as its patient sees it (times in the clinic's zone)."""

    ref: str
    start: datetime
    end: datetime
    where: str
    changeable: bool
    """Early enough to cancel or move here."""
    confirmed: bool


def _confirmed(session: Session, clinic_id: int, patient: str) -> set[str]:
    return {e.entity_id.split(":", 1)[1] for e in session.scalars(select(AuditEntry).where(
        AuditEntry.action == "patient confirmed", AuditEntry.entity == "appointment",
        AuditEntry.entity_id.like(f"{clinic_id}:%")))
        if (e.after or {}).get("patient") == patient and (e.after or {}).get("start")}


@dataclass(frozen=True, slots=True)
class Mine:
    """What a patient's page shows: the clinic's name, their sessions yet to start, and what
    they may do."""

    clinic: str
    visits: list[Visit]
    policy: Policy


def visits(session: Session, clinic_id: int, patient: str, settings: Settings,
           when: datetime | None = None) -> Mine:
    """The clinic's name, ``patient``'s sessions yet to start on the live schedule and the
    clinic's :func:`policy`."""
    when = when or now()
    rules = policy(session, clinic_id, settings)
    late = rules.late
    number, scenario = _scenario(session, clinic_id)
    if not number:
        return Mine(clinic_name(scenario), [], rules)
    live = drafts.document(drafts.published(session, clinic_id))
    confirmed = _confirmed(session, clinic_id, patient)
    rooms = {r.id: r.name or r.id for r in scenario.rooms}
    tz = scenario.tz
    out = [Visit(a.id, a.start.astimezone(tz), a.end.astimezone(tz),
                 rooms.get(a.room, a.room) if a.room else scenario.feeds.video_location,
                 a.start - when >= late, f"{a.id}@{a.start.isoformat()}" in confirmed)
           for a in live.appointments if a.patient == patient and a.start > when]
    return Mine(clinic_name(scenario), sorted(out, key=lambda v: v.start), rules)


def _mine(session: Session, clinic_id: int, patient: str, ref: str, when: datetime
          ) -> tuple[int, Appointment]:
    latest = drafts.published(session, clinic_id)
    found = next((a for a in drafts.document(latest).appointments
                  if a.id == ref and a.patient == patient and a.start > when), None)
    if found is None:  # another patient's session is the 404 of one that does not exist
        raise NotFound("session", ref)
    assert latest.number is not None
    return latest.number, found


def _tell_desk(session: Session, clinic_id: int, patient: str, key: str, what: str) -> None:
    _, scenario = _scenario(session, clinic_id)
    spec = next((p for p in scenario.patients if p.id == patient), None)
    name = (spec.name if spec is not None and spec.name else None) or patient
    outbox.desk_notice(session, clinic_id, key, f"{name}: {what}",
                       f"{name} ({patient}) {what}, through their self-service link.")


def _local(t: datetime, scenario: Scenario) -> str:
    local = t.astimezone(scenario.tz)
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


def confirm(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
            when: datetime | None = None) -> None:
    """The patient says they will come; the desk hears of it (Forbidden when the clinic
    turned confirming off)."""
    when = when or now()
    policy(session, clinic_id, settings).require("confirm")
    _, appointment = _mine(session, clinic_id, patient, ref, when)
    _, scenario = _scenario(session, clinic_id)
    tag = f"{appointment.id}@{appointment.start.isoformat()}"
    if tag in _confirmed(session, clinic_id, patient):
        return
    repo.audit(session, None, "patient confirmed", "appointment", f"{clinic_id}:{tag}", None,
               {"patient": patient, "start": appointment.start.isoformat()},
               clinic_id=clinic_id)
    _tell_desk(session, clinic_id, patient, f"desk:{clinic_id}:confirm:{tag}",
               f"confirmed the session of {_local(appointment.start, scenario)}")
    session.commit()


def cancel(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
           when: datetime | None = None) -> None:
    """The session cancelled on the live schedule (a Conflict saying "please call" inside
    the clinic's late-cancellation window; Forbidden when the clinic turned cancelling
    off)."""
    when = when or now()
    rules = policy(session, clinic_id, settings)
    rules.require("cancel")
    number, appointment = _mine(session, clinic_id, patient, ref, when)
    if appointment.start - when < rules.late:
        raise Conflict(PLEASE_CALL)
    _, scenario = _scenario(session, clinic_id)
    _tell_desk(session, clinic_id, patient, f"desk:{clinic_id}:cancel:{ref}:{number}",
               f"cancelled the session of {_local(appointment.start, scenario)}")
    drafts.live_cancel(session, clinic_id, ref, "cancelled by the patient", number, None,
                       when)


def slots_for(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
              limit: int = 6, when: datetime | None = None) -> tuple[int, list[Slot]]:
    """The published number and the slot finder's next free slots for session ``ref``
    instead (the live schedule without it), from the clinic's late-cancellation window on
    (Forbidden when the clinic turned moving off)."""
    when = when or now()
    rules = policy(session, clinic_id, settings)
    rules.require("reschedule")
    late = rules.late
    number, appointment = _mine(session, clinic_id, patient, ref, when)
    if appointment.start - when < late:
        raise Conflict(PLEASE_CALL)
    latest = drafts.published(session, clinic_id)
    scenario = drafts.scenario_of(session, latest)
    without = cancel_appointment(scenario, drafts.document(latest), ref, "moving")
    found = find_slots(scenario, without, patient, min(limit + 1, MAX_LIMIT), when + late)
    return number, [s for s in found if s.start != appointment.start][:limit]


def reschedule(session: Session, clinic_id: int, patient: str, ref: str, start: datetime,
               room: str | None, settings: Settings, when: datetime | None = None) -> None:
    """Session ``ref`` moved to the offered slot at ``start`` in ``room`` (a Conflict when
    the slot is no longer offered: someone took it), on the live schedule (Forbidden when the
    clinic turned moving off)."""
    when = when or now()
    number, offered = slots_for(session, clinic_id, patient, ref, settings, MAX_LIMIT, when)
    slot = next((s for s in offered if s.start == start and s.room == room), None)
    if slot is None:
        raise Conflict("that time is no longer free: please pick another")
    _, scenario = _scenario(session, clinic_id)
    _tell_desk(session, clinic_id, patient, f"desk:{clinic_id}:move:{ref}:{number}",
               f"moved a session to {_local(slot.start, scenario)}")
    drafts.live_move(session, clinic_id, ref, slot.start, slot.room, dict(slot.staff), number,
                     None, when)


def send_links(session: Session, clinic_id: int, patient: str, by: User, settings: Settings,
               served_at: str) -> str:
    """E-mail ``patient`` a new calendar feed link and a new self-service link (each replaces
    the one in force: the old ones answer 404), through the outbox. Returns the address it
    goes to; NotFound when the patient has none on file."""
    _, scenario = _scenario(session, clinic_id)
    spec = next((p for p in scenario.patients if p.id == patient), None)
    if spec is None:
        raise NotFound("patient", patient)
    address = patient_email(spec)
    if address is None:
        raise NotFound("e-mail address of patient", patient)
    if feeds.live_link(session, clinic_id, "patient", patient) is not None:
        feed_token, _ = feeds.rotate_link(session, clinic_id, "patient", patient, by)
    else:
        feed_token, _ = feeds.issue_link(session, clinic_id, "patient", patient, by)
    feed_url, _ = settings.feed_urls(served_at, feed_token)
    token = issue_link(session, clinic_id, patient, by)
    own = link_url(settings, served_at, token)
    composed = links(scenario, patient, feed_url, own,
                     policy(session, clinic_id, settings).allowed)
    outbox.link_message(session, clinic_id, patient, address,
                        f"link:{clinic_id}:{patient}:{repo.token_hash(token)[:16]}",
                        (composed.subject, composed.text, composed.html))
    session.commit()
    return address
