"""What patients and staff are told, in words: change notices and reminders as a subject, a
plain-text body and the same in HTML, and a reminder's ``.ics`` (the feed's own event, same
UID). Plain data in, plain data out: no database, no clock, no mail server.

Minimum necessary: a message names the clinic (its feeds' name, which a clinic keeps free of
treatment names), the time in the clinic's zone, the address and arrival instructions; never a
protocol, a drug, a dose or a diagnosis. A session that asks for a ride home (esketamine, IV
ketamine: :func:`needs_ride`) says so in plain words.

>>> composed = reminder(scenario, appointment, ics)        # doctest: +SKIP
>>> composed.subject                                         # doctest: +SKIP
'Reminder: your appointment on Tue 8 Dec at 09:00, Riverside Clinic'
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from calendars import render
from scheduler.model import ProtocolSpec, Scenario
from scheduler.usecases.publish import directory, feed_options

__all__ = ["Composed", "SessionChange", "clinic_name", "invite", "links", "needs_ride",
           "patient_notice", "reminder", "staff_notice"]

RIDE = "Please arrange a ride home: no driving until the next day."
_RIDE = re.compile(r"esketamine|spravato|(^|[^a-z])iv[\s-]*ketamine", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Composed:
    subject: str
    text: str
    html: str
    attachments: list[dict[str, str]] = field(default_factory=list)
    """``{"filename", "content_type", "data"}`` (text)."""


@dataclass(frozen=True, slots=True)
class SessionChange:
    """One session of a patient's as it was and as it is (None: not there)."""

    before: datetime | None
    after: datetime | None


def clinic_name(scenario: Scenario) -> str:
    """The clinic's name as patients see it (its feeds' name, else its own)."""
    return scenario.feeds.name or scenario.clinic.name


def needs_ride(protocol: ProtocolSpec) -> bool:
    """A session after which the patient may not drive (esketamine, IV ketamine): a REMS
    protocol or one so named; a video session never."""
    return not protocol.video and (protocol.requires_rems or bool(
        _RIDE.search(f"{protocol.id} {protocol.name}")))


def _when(t: datetime, scenario: Scenario) -> str:
    local = t.astimezone(scenario.tz)
    return f"{local:%a} {local.day} {local:%b} at {local:%H:%M}"


def _html(paragraphs: list[str]) -> str:
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html lang="en"><body>{body}</body></html>'


def _compose(subject: str, paragraphs: list[str], closing: str,
             attachments: list[dict[str, str]] | None = None) -> Composed:
    parts = [*paragraphs, closing]
    return Composed(subject=subject, text="\n\n".join(parts) + "\n", html=_html(parts),
                    attachments=attachments or [])


def _greeting(scenario: Scenario, patient: str) -> str:
    spec = next((p for p in scenario.patients if p.id == patient), None)
    return f"Hello {spec.name}," if spec is not None and spec.name else "Hello,"


def patient_notice(scenario: Scenario, patient: str, changes: list[SessionChange]) -> Composed:
    """A patient's sessions moved, booked or cancelled (each change's final state), soonest
    first."""
    name = clinic_name(scenario)
    lines = []
    ordered = sorted(changes, key=lambda c: t.timestamp() if (t := c.before or c.after)
                     else 0.0)
    for c in ordered:
        if c.before is not None and c.after is not None:
            lines.append(f"Your appointment on {_when(c.before, scenario)} has moved to "
                         f"{_when(c.after, scenario)}.")
        elif c.before is not None:
            lines.append(f"Your appointment on {_when(c.before, scenario)} is cancelled.")
        elif c.after is not None:
            lines.append(f"You have a new appointment on {_when(c.after, scenario)}.")
    cancelled = all(c.after is None for c in changes)
    subject = (f"Your appointment at {name} is cancelled" if cancelled and len(changes) == 1
               else f"Your appointments at {name} have changed")
    return _compose(subject, [_greeting(scenario, patient), "\n".join(lines),
                              "If the new time does not suit you, please call us."],
                    f"{name}")


def staff_notice(scenario: Scenario, staff: str, days: list[date],
                 sessions: dict[date, list[tuple[datetime, datetime, str | None]]]) -> Composed:
    """A staff member's day changed: each changed day with their sessions on it now (times
    and rooms; no patient, no treatment)."""
    name = clinic_name(scenario)
    person = next((s for s in scenario.staff if s.id == staff), None)
    rooms = {r.id: r.name or r.id for r in scenario.rooms}
    blocks = []
    for day in sorted(days):
        mine = sorted(sessions.get(day, []))
        listed = "\n".join(
            f"{s.astimezone(scenario.tz):%H:%M}–{e.astimezone(scenario.tz):%H:%M} "
            f"{rooms.get(room, room) if room else 'video'}" for s, e, room in mine)
        blocks.append(f"{day:%a} {day.day} {day:%b}:\n" + (listed or "no sessions"))
    hello = f"Hello {person.name}," if person is not None and person.name else "Hello,"
    return _compose(f"Your day at {name} changed", [
        hello, "Your schedule changed on " + ", ".join(f"{d:%a} {d.day} {d:%b}"
                                                        for d in sorted(days)) + ":",
        *blocks, "The board has the details."], name)


def invite(scenario: Scenario, appointment: dict[str, Any], entry: dict[str, Any] | None,
           stamp: datetime) -> bytes:
    """A one-event calendar of ``appointment`` as the patient's feed shows it (the same UID
    and SEQUENCE: ``entry`` is the feed's event history for it, when there is one)."""
    state = entry or {"appointment": appointment, "sequence": 0, "status": "CONFIRMED",
                      "stamp": stamp.isoformat(), "cancelled_at": None}
    return render("patient", appointment["patient"], {appointment["id"]: state},
                  feed_options(scenario), directory(scenario))


def reminder(scenario: Scenario, appointment: dict[str, Any], ics: bytes,
             unsubscribe_note: bool = True) -> Composed:
    """A reminder of one session: when (the clinic's local time), where, the arrival
    instructions and, after a session that needs one, the ride home; the ``.ics``."""
    name = clinic_name(scenario)
    start = datetime.fromisoformat(appointment["start"])
    when = _when(start, scenario)
    protocol = next((p for p in scenario.protocols if p.id == appointment["protocol"]), None)
    video = appointment.get("room") is None
    paragraphs = [_greeting(scenario, appointment["patient"]),
                  f"This is a reminder of your appointment at {name} on {when}."]
    if video:
        paragraphs.append(scenario.feeds.video_location + ": the clinic sends the link for "
                          "the call.")
    else:
        where = scenario.clinic.address or name
        paragraphs.append(f"Where: {where}")
        arrival = scenario.clinic.arrival_instructions
        if arrival:
            paragraphs.append(arrival)
        if protocol is not None and needs_ride(protocol) and not (
                arrival and "ride" in arrival.lower()):
            paragraphs.append(RIDE)
    paragraphs.append("If you cannot come, please call us.")
    closing = name + ("\n(To stop these reminders, use the unsubscribe link of your mail "
                      "program.)" if unsubscribe_note else "")
    return _compose(f"Reminder: your appointment on {when}, {name}", paragraphs, closing,
                    [{"filename": "appointment.ics",
                      "content_type": "text/calendar; method=PUBLISH; charset=utf-8",
                      "data": ics.decode("utf-8")}])


_VERBS = {"confirm": "confirm", "cancel": "cancel", "reschedule": "move"}


def offered(actions: Collection[str]) -> str:
    """``confirm, cancel or move``: the self-service ``actions`` as verbs ("" for none)."""
    verbs = [_VERBS[a] for a in _VERBS if a in actions]
    if len(verbs) < 2:
        return "".join(verbs)
    return ", ".join(verbs[:-1]) + " or " + verbs[-1]


def _offered(actions: Collection[str]) -> str:
    """``To confirm, cancel or move an appointment:``, of the actions the page offers."""
    said = offered(actions)
    return f"To {said} an appointment:" if said else "To see your upcoming appointments:"


def links(scenario: Scenario, patient: str, feed: str, self_service: str,
          actions: Collection[str] = tuple(_VERBS)) -> Composed:
    """A patient's two private links: their calendar feed and their self-service page (its
    line names the ``actions`` the clinic offers there)."""
    name = clinic_name(scenario)
    return _compose(f"Your appointments at {name}: your private links", [
        _greeting(scenario, patient),
        "To see your appointments in your calendar app, subscribe to:\n" + feed,
        _offered(actions) + "\n" + self_service,
        "These links are private to you: please do not share them."], name)
