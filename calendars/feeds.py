"""Schedule -> iCalendar feeds (RFC 5545 / 7986) for patients, staff, rooms and the clinic.

Pure functions over plain data: a ``schedule.json`` document and the previous published state go
in, bytes and the new state come out. Nothing here knows the solver or the web.

>>> state = advance({}, schedule["appointments"], now)            # doctest: +SKIP
>>> files = render_all(state, options, directory)                 # doctest: +SKIP
>>> files["patient-P001.ics"][:15]                                # doctest: +SKIP
b'BEGIN:VCALENDAR'
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Component, Event, vDuration

from calendars.tz import vtimezone

Kind = Literal["patient", "staff", "room", "clinic"]
KINDS: tuple[Kind, ...] = ("patient", "staff", "room", "clinic")
PRODID = "-//Chairtime//Chairtime feeds 1.0//EN"
_NAMESPACE = uuid.UUID("6f1d4c8e-61a4-4f38-9d1e-6a3a4c0b9f21")
EventState = dict[str, Any]
"""One event's published history: ``appointment`` (its last known schedule entry), ``sequence``,
``stamp`` (UTC ISO time of its last change), ``status`` and ``cancelled_at``."""


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """What a clinic chose to show; patient feeds say nothing of treatment unless opted in."""

    name: str
    """The clinic's name as patients' calendars show it."""
    timezone: str
    address: str | None = None
    arrival: str | None = None
    cancelled_days: int = 14
    """How long a cancelled appointment stays in feeds as STATUS:CANCELLED."""
    reminder: time | None = time(18, 0)
    """Patients' reminder, the evening before at this local time; ``None`` for none."""
    detail: dict[Kind, bool] = field(default_factory=lambda: {
        "patient": False, "staff": True, "room": False, "clinic": False})
    """Per feed kind: show protocol, patient initials and phase times. Room and clinic feeds
    show neither by default: their links are shared, and a calendar app is no place for health
    information; a staff member's own feed shows what their work needs."""
    initials: dict[Kind, bool] = field(default_factory=lambda: {
        "patient": False, "staff": False, "room": False, "clinic": False})
    """Per feed kind without ``detail``: name the patient by initials (nothing of the
    treatment)."""
    refresh: timedelta = timedelta(hours=1)
    video: str = "Video call"
    """LOCATION of a video session (an appointment without a room), in every feed: it names
    no room, and nothing of the treatment."""
    video_note: str = "The clinic sends the link for the call."
    """A patient's video session's DESCRIPTION (instead of the ride-home reminder)."""


@dataclass(frozen=True, slots=True)
class Directory:
    """Display names for what a schedule refers to by id."""

    patients: dict[str, str] = field(default_factory=dict)
    protocols: dict[str, str] = field(default_factory=dict)
    rooms: dict[str, str] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)
    modes: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """protocol -> staff key -> phase -> ``hands_on`` or ``monitor``."""


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _timing(a: dict[str, Any]) -> tuple[str, str]:
    return _utc(a["start"]).isoformat(), _utc(a["end"]).isoformat()


def advance(previous: dict[str, EventState], appointments: Iterable[dict[str, Any]],
            now: datetime, cancelled_days: int = 14) -> dict[str, EventState]:
    """The event state after publishing ``appointments`` at ``now``.

    SEQUENCE rises only when start, end or status change; the stamp moves whenever anything the
    event carries changes; an appointment that disappears becomes CANCELLED (once), and is
    dropped ``cancelled_days`` after that.
    """
    stamp = _iso(now)
    state: dict[str, EventState] = {}
    current = {a["id"]: a for a in appointments}
    for aid, a in current.items():
        old = previous.get(aid)
        if old is None:
            state[aid] = {"appointment": a, "sequence": 0, "stamp": stamp,
                          "status": "CONFIRMED", "cancelled_at": None}
            continue
        moved = _timing(old["appointment"]) != _timing(a) or old["status"] != "CONFIRMED"
        changed = moved or old["appointment"] != a
        state[aid] = {"appointment": a,
                      "sequence": old["sequence"] + (1 if moved else 0),
                      "stamp": stamp if changed else old["stamp"],
                      "status": "CONFIRMED", "cancelled_at": None}
    for aid, old in previous.items():
        if aid in current:
            continue
        if old["status"] == "CANCELLED":
            if now - _utc(old["cancelled_at"]) < timedelta(days=cancelled_days):
                state[aid] = old
            continue
        state[aid] = {**old, "sequence": old["sequence"] + 1, "stamp": stamp,
                      "status": "CANCELLED", "cancelled_at": stamp}
    return dict(sorted(state.items()))


def _initials(name: str | None, fallback: str) -> str:
    parts = [p for p in (name or "").replace("-", " ").split() if p[:1].isalpha()]
    return "".join(p[0].upper() + "." for p in parts[:3]) or fallback


def _uid(options: FeedOptions, kind: Kind, appointment_id: str) -> str:
    return f"{uuid.uuid5(_NAMESPACE, f'{options.name}/{kind}/{appointment_id}')}@chairtime"


def _text(kind: Kind, key: str, a: dict[str, Any], options: FeedOptions,
          directory: Directory) -> tuple[str, str, str]:
    """SUMMARY, LOCATION and DESCRIPTION for one appointment in one feed."""
    tz = ZoneInfo(options.timezone)
    detail = options.detail.get(kind, False)
    protocol = directory.protocols.get(a["protocol"], a["protocol"])
    if kind == "patient":
        summary = f"Appointment — {options.name}"
        if detail:
            summary = f"{protocol} — {options.name}"
        if a.get("room") is None:  # a video session: no address, no ride home
            return summary, options.video, options.video_note
        lines = [options.arrival or "Please arrange a ride home: no driving until tomorrow."]
        return summary, options.address or options.name, "\n".join(lines)
    who = _initials(directory.patients.get(a["patient"]), "patient")
    room = options.video if a.get("room") is None else directory.rooms.get(a["room"], a["room"])
    named = detail or options.initials.get(kind, False)  # the patient, by initials
    if detail:
        summary = f"{protocol} — {who}"
    elif named:
        summary = f"Session — {who}"
    else:
        summary = f"Session — {room}"
    if kind in ("staff", "clinic") and named:
        summary += f" ({room})"
    lines = []
    if detail:
        keys = [k for k, sid in a["staff"].items() if kind != "staff" or sid == key]
        modes = directory.modes.get(a["protocol"], {})
        for phase in a["phases"]:
            start = _utc(phase["start"]).astimezone(tz)
            end = _utc(phase["end"]).astimezone(tz)
            engaged = sorted({modes.get(k, {}).get(phase["name"], "") for k in keys} - {""})
            how = f" ({', '.join(m.replace('_', '-') for m in engaged)})" if engaged else ""
            lines.append(f"{phase['name']} {start:%H:%M}–{end:%H:%M}{how}")
        staff = ", ".join(f"{k}: {directory.staff.get(s, s)}" for k, s in a["staff"].items())
        lines.append(f"staff — {staff}")
    return summary, room, "\n".join(lines)


_BREAKS = re.compile(r"\r\n|[\n\v\f\r\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
"""Unicode's control characters (category Cc), lone surrogates (Cs) and line separators."""
_CONTROL_BUT_LF = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MULTILINE = frozenset({"description"})
"""Text properties whose line breaks mean something (icalendar writes them as ``\\n``)."""


def _plain(value: str, lines: bool = False) -> str:
    r"""``value`` without a control character, the one place every text of a feed passes
    before icalendar sees it: a line break (CR, LF, CRLF, a Unicode line separator) or a tab
    becomes a space (with ``lines``, a line break becomes a line feed, which icalendar
    escapes); any other control character (C0, C1, DEL) and any lone surrogate is dropped.
    Some properties (RFC 7986 ``NAME``, ``X-WR-CALNAME``) icalendar writes verbatim, so a
    raw CR there would otherwise end the content line early, and a raw LF makes icalendar
    refuse the whole calendar.

    >>> _plain("Room\r\n1\x00")
    'Room 1'
    >>> _plain("first\rsecond", lines=True)
    'first\nsecond'
    """
    if not _CONTROL.search(value):
        return value
    text = _BREAKS.sub("\n" if lines else " ", value.replace("\t", " "))
    return (_CONTROL_BUT_LF if lines else _CONTROL).sub("", text)


def _add_text(component: Component, name: str, value: str) -> None:
    """Add text property ``name``: every text of a feed goes through here (and
    :func:`_plain`)."""
    component.add(name, _plain(value, lines=name in _MULTILINE))


def _event(kind: Kind, key: str, entry: EventState, options: FeedOptions,
           directory: Directory) -> Event:
    a = entry["appointment"]
    summary, location, description = _text(kind, key, a, options, directory)
    tz = ZoneInfo(options.timezone)
    start = _utc(a["start"]).astimezone(tz)
    event = Event()
    event.add("uid", _uid(options, kind, a["id"]))
    event.add("dtstamp", _utc(entry["stamp"]))
    event.add("dtstart", start)
    event.add("dtend", _utc(a["end"]).astimezone(tz))
    event.add("sequence", entry["sequence"])
    event.add("status", entry["status"])
    _add_text(event, "summary", summary)
    _add_text(event, "location", location)
    if description:
        _add_text(event, "description", description)
    event.add("transp", "OPAQUE")
    if kind == "patient" and options.reminder is not None and entry["status"] == "CONFIRMED":
        evening = datetime.combine(start.date() - timedelta(days=1), options.reminder, tz)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        _add_text(alarm, "description", f"Tomorrow {start:%H:%M}: appointment at {options.name}")
        alarm.add("trigger", evening.astimezone(UTC), parameters={"VALUE": "DATE-TIME"})
        event.add_component(alarm)
    return event


def feed_title(kind: Kind, key: str, options: FeedOptions, directory: Directory) -> str:
    if kind == "patient":
        return options.name
    if kind == "staff":
        return f"{directory.staff.get(key, key)} — {options.name}"
    if kind == "room":
        return f"{directory.rooms.get(key, key)} — {options.name}"
    return f"All sessions — {options.name}"


def render(kind: Kind, key: str, state: dict[str, EventState], options: FeedOptions,
           directory: Directory) -> bytes:
    """One feed's bytes: the events of ``state`` that belong to ``kind``/``key``."""
    entries = [e for e in state.values() if _belongs(kind, key, e["appointment"])]
    title = feed_title(kind, key, options, directory)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("uid", str(uuid.uuid5(_NAMESPACE, f"{options.name}/{kind}/{key}")))
    _add_text(calendar, "name", title)
    _add_text(calendar, "x-wr-calname", title)
    calendar.add("refresh-interval", vDuration(options.refresh),
                 parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(options.refresh))
    years = [_utc(e["appointment"]["start"]).year for e in entries]
    calendar.add_component(vtimezone(options.timezone, min(years, default=2026)))
    for entry in sorted(entries, key=lambda e: (e["appointment"]["start"],
                                                e["appointment"]["id"])):
        calendar.add_component(_event(kind, key, entry, options, directory))
    return bytes(calendar.to_ical())


def _belongs(kind: Kind, key: str, a: dict[str, Any]) -> bool:
    if kind == "patient":
        return bool(a["patient"] == key)
    if kind == "staff":
        return key in a["staff"].values()
    if kind == "room":  # a video session (room null) is in no room's feed
        return a.get("room") is not None and bool(a["room"] == key)
    return True


def feed_name(kind: Kind, key: str) -> str:
    return "clinic.ics" if kind == "clinic" else f"{kind}-{key}.ics"


def render_all(state: dict[str, EventState], options: FeedOptions, directory: Directory,
               patients: Iterable[str] = (), staff: Iterable[str] = (),
               rooms: Iterable[str] = ()) -> dict[str, bytes]:
    """Every feed: one per patient, staff member and room named (even with no events), one
    for the clinic. Keys are file names (``patient-P001.ics``, ``clinic.ics``)."""
    out = {feed_name("clinic", ""): render("clinic", "", state, options, directory)}
    groups: tuple[tuple[Kind, Iterable[str]], ...] = (
        ("patient", patients), ("staff", staff), ("room", rooms))
    for kind, keys in groups:
        for key in keys:
            out[feed_name(kind, key)] = render(kind, key, state, options, directory)
    return out

