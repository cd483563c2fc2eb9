"""The clinic's own data as the pages keep it: staff, rooms, the clinic's hours and protocols one
at a time; a sick call, a room's closure and a holiday. Each change is a new version of the
clinic's scenario, validated whole (:mod:`scheduler.service.clinics`), made only by a role that
may: the front desk enters absences and closures, managers (and admins) the rest."""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.orm import Session

from scheduler.documents import Appointment
from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.library import PROTOCOLS, data_text
from scheduler.model import WEEKDAYS, Outage, ProtocolSpec, Scenario, clock_minutes
from scheduler.security import DESK, MANAGER
from scheduler.service import access, clinics, drafts
from scheduler.storage import repo
from scheduler.storage.tables import Clinic, ScheduleRow, User
from scheduler.validate import (
    REMS_MONITORING_MINUTES,
    issues_from,
    parse_text,
    validate_scenario,
)

__all__ = ["REMS_RULE", "SECTIONS", "Offer", "Roster", "add_from_library", "add_outage",
           "closed_date", "empty_start", "library", "new_clinic", "read", "remove", "remove_outage",
           "replan_offer", "save", "set_clinic"]

Item = dict[str, Any]
Section = Literal["staff", "rooms", "protocols"]
SECTIONS: dict[str, str] = {"staff": "staff member", "rooms": "room", "protocols": "protocol"}
"""The sections the pages edit, each with its singular."""
_OUTAGES = {"staff": "absences", "rooms": "closures"}
REMS_RULE = (f"Spravato REMS: after the dose, the patient is monitored for at least "
             f"{REMS_MONITORING_MINUTES // 60} hours ({REMS_MONITORING_MINUTES} minutes) with a "
             "prescriber on site through dosing and monitoring, and only patients enrolled in "
             "the REMS may be booked.")
"""The rule in a clinic's words, shown beside the fields it constrains."""


@dataclass(frozen=True, slots=True)
class Roster:
    """The clinic's data as a page shows it: the version read, the scenario (defaults filled),
    its data as stored, and the accounts linked to each staff member."""

    version: int
    scenario: Scenario
    data: dict[str, Any]
    accounts: dict[str, list[str]]

    def raw(self, section: str, item_id: str) -> Item:
        """An item as stored (NotFound when the clinic has none of that id)."""
        found = next((x for x in self.data.get(section, []) if x.get("id") == item_id), None)
        if found is None:
            raise NotFound(SECTIONS.get(section, section), item_id)
        return copy.deepcopy(found)


def read(session: Session, clinic_id: int, by: User) -> Roster:
    """The clinic's latest data, for any of its staff roles."""
    access.require(session, by, clinic_id, DESK)
    current, scenario = clinics.scenario(session, clinic_id)
    linked: dict[str, list[str]] = defaultdict(list)
    for membership, email in repo.memberships_of(session, clinic_id):
        if membership.staff_id:
            linked[membership.staff_id].append(email)
    return Roster(current.number, scenario, copy.deepcopy(current.data), dict(linked))


def save(session: Session, clinic_id: int, section: Section, item_id: str | None,
         fields: Item, by: User, expected: int) -> Item:
    """A new item (``item_id`` None: ``fields`` with its ``id``), or ``fields`` over the stored
    item (what the form does not show, such as a staff member's absences, kept; a field given
    as None is removed). A manager's; a taken id is a problem of ``id``."""
    access.require(session, by, clinic_id, MANAGER)
    singular = SECTIONS[section]
    if item_id is None:
        new = {k: v for k, v in fields.items() if v is not None}
        ident = str(new.get("id", ""))
        if ident and any(x.get("id") == ident for x in clinics.items(session, clinic_id,
                                                                      section)[1]):
            raise InvalidInput([Issue("id", f"'{ident}' is taken: another "
                                      f"{singular} has this id")])
        return clinics.add_item(session, clinic_id, section, singular, new, by, expected)
    stored = clinics.item(session, clinic_id, section, singular, item_id)
    merged = {k: v for k, v in {**stored, **fields}.items() if v is not None}
    return clinics.replace_item(session, clinic_id, section, singular, item_id, merged, by,
                                expected)


def remove(session: Session, clinic_id: int, section: Section, item_id: str, by: User,
           expected: int) -> None:
    """Remove an item (a manager's); what still names it is reported, nothing removed."""
    access.require(session, by, clinic_id, MANAGER)
    clinics.remove_item(session, clinic_id, section, SECTIONS[section], item_id, by, expected)


def _outage(fields: dict[str, str]) -> Outage:
    """A date and an optional part of it; InvalidInput naming ``date``, ``from``, ``to``."""
    raw = {k: v for k, v in fields.items() if k in ("date", "from", "to") and v}
    try:
        return Outage.model_validate(raw)
    except ValidationError as exc:  # the order of from and to is the whole entry's
        raise InvalidInput([Issue("to" if i.path == "(file)" else i.path, i.message)
                            for i in issues_from(exc, "")]) from exc


def add_outage(session: Session, clinic_id: int, section: Literal["staff", "rooms"],
               item_id: str, fields: dict[str, str], by: User, expected: int) -> Outage:
    """A staff member absent, or a room out of service, on a date or part of it (the front
    desk's too): a staff member's whole day is a ``time_off`` date, any other an entry of its
    ``absences`` or the room's ``closures``."""
    access.require(session, by, clinic_id, DESK)
    outage = _outage(fields)
    stored = clinics.item(session, clinic_id, section, SECTIONS[section], item_id)
    day = outage.date.isoformat()
    if section == "staff" and outage.from_ is None and outage.to is None:
        if day not in map(str, stored.get("time_off", [])):
            stored["time_off"] = [*stored.get("time_off", []), day]
    else:
        into = _OUTAGES[section]
        stored[into] = [*stored.get(into, []),
                        outage.model_dump(mode="json", by_alias=True, exclude_none=True)]
    clinics.replace_item(session, clinic_id, section, SECTIONS[section], item_id, stored, by,
                         expected)
    return outage


def remove_outage(session: Session, clinic_id: int, section: Literal["staff", "rooms"],
                  item_id: str, which: str, by: User, expected: int) -> None:
    """Take back an absence or closure: ``which`` is ``time_off:DATE`` or ``absences:N`` /
    ``closures:N`` (its place in the list)."""
    access.require(session, by, clinic_id, DESK)
    stored = clinics.item(session, clinic_id, section, SECTIONS[section], item_id)
    kind, _, key = which.partition(":")
    listed = stored.get(kind, [])
    if kind == "time_off" and section == "staff" and key in map(str, listed):
        stored[kind] = [d for d in listed if str(d) != key]
    elif kind == _OUTAGES[section] and key.isdigit() and int(key) < len(listed):
        stored[kind] = [x for i, x in enumerate(listed) if i != int(key)]
    else:
        raise NotFound("absence" if section == "staff" else "closure", which)
    clinics.replace_item(session, clinic_id, section, SECTIONS[section], item_id, stored, by,
                         expected)


def set_clinic(session: Session, clinic_id: int, fields: dict[str, Any], by: User,
               expected: int) -> None:
    """The clinic's own fields (name, time zone, hours, address, arrival instructions; a field
    given as None is removed), a manager's."""
    access.require(session, by, clinic_id, MANAGER)
    current = clinics.version(session, clinic_id)
    data = copy.deepcopy(current.data)
    data["clinic"] = {k: v for k, v in {**data["clinic"], **fields}.items() if v is not None}
    clinics.replace_scenario(session, clinic_id, data, by, expected)


def closed_date(session: Session, clinic_id: int, day: str, add: bool, by: User,
                expected: int) -> date:
    """Add (or take back) a date the whole clinic is closed: a holiday (a manager's)."""
    access.require(session, by, clinic_id, MANAGER)
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise InvalidInput([Issue("date", f"{day!r} is not a date (YYYY-MM-DD)")]) from exc
    current = clinics.version(session, clinic_id)
    data = copy.deepcopy(current.data)
    closed = [str(d) for d in data["clinic"].get("closed_dates", [])]
    if add and parsed.isoformat() in closed:
        raise InvalidInput([Issue("date", f"{parsed} is already a closed date")])
    if not add and parsed.isoformat() not in closed:
        raise NotFound("closed date", parsed.isoformat())
    data["clinic"]["closed_dates"] = sorted(
        [*closed, parsed.isoformat()] if add else [d for d in closed if d != parsed.isoformat()])
    clinics.replace_scenario(session, clinic_id, data, by, expected)
    return parsed


def library() -> list[ProtocolSpec]:
    """The protocol library (DOMAIN.md's treatments with default durations and staffing)."""
    data = parse_text(data_text(PROTOCOLS))
    return [ProtocolSpec.model_validate(p) for p in data["protocols"]]


def _library_item(protocol_id: str) -> Item:
    data = parse_text(data_text(PROTOCOLS))
    found = next((p for p in data["protocols"] if p.get("id") == protocol_id), None)
    if found is None:
        raise InvalidInput([Issue("protocol", f"'{protocol_id}' is not a protocol of the "
                                              "library")])
    return dict(found)


def add_from_library(session: Session, clinic_id: int, protocol_id: str, by: User,
                     expected: int, as_id: str = "", as_name: str = "") -> Item:
    """A protocol of the library among the clinic's (a manager's): as the library has it, or
    under an id and name of the clinic's own (a variant to adjust, beside the original)."""
    access.require(session, by, clinic_id, MANAGER)
    new = _library_item(protocol_id)
    new.update({k: v for k, v in (("id", as_id), ("name", as_name)) if v})
    if any(x.get("id") == new["id"] for x in clinics.items(session, clinic_id,
                                                          "protocols")[1]):
        raise InvalidInput([Issue("as_id" if as_id else "protocol",
                                  f"the clinic has a protocol '{new['id']}' already"
                                  + ("" if as_id else "; give the copy an id of its own"))])
    return clinics.add_item(session, clinic_id, "protocols", "protocol", new, by, expected)


def empty_start(name: str, timezone: str, protocol_ids: list[str], today: date
                ) -> dict[str, Any]:
    """A new clinic's first scenario when it starts from nothing: open Monday to Friday
    08:00-17:00, next week as its horizon, one room (with the features its protocols need),
    no staff, no patients, and the library's protocols chosen (at least one: a scenario has
    protocols and rooms). InvalidInput names ``name``, ``timezone`` and ``protocols``."""
    issues = [] if protocol_ids else [Issue("protocols", "pick at least one protocol of the "
                                                         "library to start with")]
    chosen = []
    for pid in protocol_ids:
        try:
            chosen.append(_library_item(pid))
        except InvalidInput as exc:
            issues += [Issue("protocols", i.message) for i in exc.issues]
    features = sorted({f for p in chosen for f in p.get("room_features", [])})
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    data = {"version": 1,
            "clinic": {"name": name, "timezone": timezone,
                       "hours": {d: [["08:00", "17:00"]] for d in WEEKDAYS[:5]}},
            "horizon": {"start": monday.isoformat(), "days": 7},
            "protocols": chosen or [{"id": "none", "name": "none",
                                     "phases": [{"name": "visit", "minutes": 5}]}],
            "rooms": [{"id": "R1", "name": "Room 1", "chairs": 1, "features": features}],
            "staff": [], "patients": [], "fixed": []}
    try:
        validate_scenario(copy.deepcopy(data))
    except InvalidInput as exc:
        issues += [Issue(i.path.removeprefix("clinic."), i.message) for i in exc.issues]
    if issues:
        raise InvalidInput(issues)
    return data


def new_clinic(session: Session, slug: str, name: str, timezone: str,
               protocol_ids: list[str], today: date, by: User) -> Clinic:
    """A clinic of ``by``'s organization (an admin's) started from nothing
    (:func:`empty_start`): every problem of the slug, name, time zone and protocols at once."""
    issues = clinics.slug_issues(session, slug)
    try:
        data = empty_start(name or slug, timezone, protocol_ids, today)
    except InvalidInput as exc:
        issues += exc.issues
    if issues:
        raise InvalidInput(issues)
    return clinics.create(session, slug, by, data)


@dataclass(frozen=True, slots=True)
class Offer:
    """A re-plan to offer after a change: the schedule it would re-plan (the current draft,
    else the live week), the event, and the sessions the change touches."""

    row: ScheduleRow
    event: dict[str, str]
    touched: list[Appointment]


def replan_offer(session: Session, clinic_id: int, event: dict[str, str]) -> Offer | None:
    """The re-plan to offer after ``event`` (``staff_absent``, ``room_closed`` or
    ``clinic_closed``, as the events file says it), when the current schedule's week holds its
    date; None otherwise."""
    row = drafts.pick(session, clinic_id, None)
    if row is None:
        return None
    scenario = drafts.scenario_of(session, row)
    day = date.fromisoformat(event["date"])
    if day not in scenario.dates():
        return None
    tz = scenario.tz
    lo = datetime.combine(day, datetime.min.time(), tz) + timedelta(
        minutes=clock_minutes(event.get("from") or "00:00"))
    hi = datetime.combine(day, datetime.min.time(), tz) + timedelta(
        minutes=clock_minutes(event.get("to") or "24:00"))
    touched = [a for a in drafts.document(row).appointments
               if a.start.astimezone(tz).date() == day and a.start < hi and lo < a.end and (
                   event["type"] == "clinic_closed"
                   or (event["type"] == "staff_absent" and event["staff"] in a.staff.values())
                   or (event["type"] == "room_closed" and a.room == event["room"]))]
    return Offer(row, event, sorted(touched, key=lambda a: a.start))
