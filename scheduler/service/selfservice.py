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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.documents import Appointment, Schedule
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

__all__ = ["PARTS", "PLEASE_CALL", "SPACING", "Mine", "Policy", "Visit", "cancel", "cancellable",
           "confirm", "issue_link",
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
    """Where to come, word for word the LOCATION of the patient's calendar feed: the
    clinic's address (else its name), a video session the clinic's video location. Nothing
    of the room: its id is the clinic's, and a room's name may name the treatment ("Spravato
    bay"); the desk shows the patient to their chair."""
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
    out = [_visit(a, scenario, late, when, confirmed)
           for a in live.appointments if a.patient == patient and a.start > when]
    return Mine(clinic_name(scenario), sorted(out, key=lambda v: v.start), rules)


def _visit(a: Appointment, scenario: Scenario, late: timedelta, when: datetime,
           confirmed: set[str]) -> Visit:
    tz = scenario.tz
    where = (scenario.feeds.video_location if a.room is None
             else scenario.clinic.address or clinic_name(scenario))
    return Visit(a.id, a.start.astimezone(tz), a.end.astimezone(tz), where,
                 a.start - when >= late, f"{a.id}@{a.start.isoformat()}" in confirmed)


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


def _changeable(session: Session, clinic_id: int, patient: str, ref: str, action: str,
                settings: Settings, when: datetime) -> tuple[Policy, int, Appointment]:
    """The clinic's policy, the published number and ``patient``'s session ``ref`` when
    ``action`` may be done to it now: Forbidden when the clinic turned it off, NotFound for a
    session not theirs (or past), a Conflict saying "please call" inside the late window."""
    rules = policy(session, clinic_id, settings)
    rules.require(action)
    number, appointment = _mine(session, clinic_id, patient, ref, when)
    if appointment.start - when < rules.late:
        raise Conflict(PLEASE_CALL)
    return rules, number, appointment


def cancellable(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
                when: datetime | None = None) -> tuple[str, Visit]:
    """The clinic's name and session ``ref`` as its patient sees it, when :func:`cancel`
    would cancel it now (what the page asks "Cancel this appointment?" about); refused
    exactly as :func:`cancel` refuses, and nothing is changed."""
    when = when or now()
    rules, _, appointment = _changeable(session, clinic_id, patient, ref, "cancel", settings,
                                        when)
    _, scenario = _scenario(session, clinic_id)
    confirmed = _confirmed(session, clinic_id, patient)
    return clinic_name(scenario), _visit(appointment, scenario, rules.late, when, confirmed)


def cancel(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
           when: datetime | None = None) -> None:
    """The session cancelled on the live schedule (a Conflict saying "please call" inside
    the clinic's late-cancellation window; Forbidden when the clinic turned cancelling
    off)."""
    when = when or now()
    _, number, appointment = _changeable(session, clinic_id, patient, ref, "cancel", settings,
                                         when)
    _, scenario = _scenario(session, clinic_id)
    _tell_desk(session, clinic_id, patient, f"desk:{clinic_id}:cancel:{ref}:{number}",
               f"cancelled the session of {_local(appointment.start, scenario)}")
    drafts.live_cancel(session, clinic_id, ref, "cancelled by the patient", number, None,
                       when)


PARTS = (time(12), time(17))
"""Where a day's parts begin, on the clinic's clock: morning until 12:00, afternoon until
17:00, then evening."""
SPACING = timedelta(hours=1)
"""A second time offered in one day part starts at least this long after the first."""


def _part(t: datetime, tz: ZoneInfo) -> tuple[date, int]:
    """The day (the clinic's) and the part of it (0 morning, 1 afternoon, 2 evening) of
    ``t``."""
    local = t.astimezone(tz)
    return local.date(), sum(local.time() >= b for b in PARTS)


def _next_part(t: datetime, tz: ZoneInfo) -> datetime:
    """When the day part after ``t``'s begins (the next day's midnight after the evening)."""
    day, part = _part(t, tz)
    if part < len(PARTS):
        return datetime.combine(day, PARTS[part], tz)
    return datetime.combine(day + timedelta(days=1), time(0), tz)


@dataclass(frozen=True, slots=True)
class _Moving:
    """What the slot finder needs to move a patient's session: the published number, the
    session, the clinic's data and the live schedule without the session, and the earliest
    start the patient may move it to (the late window from now)."""

    number: int
    appointment: Appointment
    scenario: Scenario
    without: Schedule
    earliest: datetime

    def first(self, patient: str, after: datetime) -> Slot | None:
        """The slot finder's first slot from ``after`` on (not the session's own time)."""
        while True:
            found = find_slots(self.scenario, self.without, patient, 1, after)
            if not found or found[0].start != self.appointment.start:
                return found[0] if found else None
            after = found[0].start + timedelta(minutes=1)


def _moving(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
            when: datetime) -> _Moving:
    rules, number, appointment = _changeable(session, clinic_id, patient, ref, "reschedule",
                                             settings, when)
    latest = drafts.published(session, clinic_id)
    scenario = drafts.scenario_of(session, latest)
    without = cancel_appointment(scenario, drafts.document(latest), ref, "moving")
    return _Moving(number, appointment, scenario, without, when + rules.late)


def slots_for(session: Session, clinic_id: int, patient: str, ref: str, settings: Settings,
              limit: int = 6, when: datetime | None = None) -> tuple[int, list[Slot]]:
    """The published number and up to ``limit`` slots the slot finder offers for session
    ``ref`` instead (on the live schedule without it), from the clinic's late-cancellation
    window on, spread out: the first of each part of each day (morning, afternoon, evening,
    on the clinic's clock), earliest first; when there are fewer parts than ``limit``, a
    second one per part at least :data:`SPACING` after its first. Each is the finder's, so
    each keeps every hard rule and the patient's course. Forbidden when the clinic turned
    moving off, a Conflict saying "please call" inside the late window."""
    when = when or now()
    moving = _moving(session, clinic_id, patient, ref, settings, when)
    tz, own, minute = moving.scenario.tz, moving.appointment.start, timedelta(minutes=1)

    def ask(count: int, then: Callable[[datetime], datetime]) -> list[Slot]:
        """One search of the finder from the late window on, going on from ``then(t)``
        after each slot found at ``t``; the session's own time left out."""
        return [s for s in find_slots(moving.scenario, moving.without, patient, count,
                                      moving.earliest, then) if s.start != own]

    # the first slot of each day part: after each, the search skips to the next part
    firsts = ask(min(limit + 1, MAX_LIMIT),
                 lambda t: t + minute if t == own else _next_part(t, tz))[:limit]
    first_of = {_part(s.start, tz): s.start for s in firsts}

    def second(t: datetime) -> datetime:  # a part's first again: on to an hour after it
        first = first_of.get(_part(t, tz))
        if t == own:
            return t + minute
        return first + SPACING if first is not None and t < first + SPACING \
            else _next_part(t, tz)

    seconds = [s for s in ask(MAX_LIMIT, second) if (p := _part(s.start, tz)) in first_of
               and s.start >= first_of[p] + SPACING] if 0 < len(firsts) < limit else []
    return moving.number, sorted(firsts + seconds[:limit - len(firsts)], key=lambda s: s.start)


def reschedule(session: Session, clinic_id: int, patient: str, ref: str, start: datetime,
               room: str | None, settings: Settings, when: datetime | None = None) -> None:
    """Session ``ref`` moved to the slot at ``start`` (in ``room`` when one is named; else the
    room the finder gives: the page names none to the patient) when the slot finder still
    offers it (from the late window on; a Conflict when it no longer does: someone took it),
    on the live schedule (Forbidden when the clinic turned moving off)."""
    when = when or now()
    moving = _moving(session, clinic_id, patient, ref, settings, when)
    slot = (moving.first(patient, start) if start >= moving.earliest
            and start != moving.appointment.start else None)
    if slot is None or slot.start != start or (room is not None and slot.room != room):
        raise Conflict("that time is no longer free: please pick another")
    number, scenario = moving.number, moving.scenario
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
