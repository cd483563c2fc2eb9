"""What changed between two versions of a clinic's data, in the clerk's words and names, section
by section; and which sessions of a published week no longer keep every rule under the current
data (the independent checker's words). Typed in, typed out, no database.

>>> diff = scenario_changes(published_scenario, current_scenario)  # doctest: +SKIP
>>> [(s.title, s.lines) for s in diff.sections]                    # doctest: +SKIP
[('Staff', ['Dana Fischer (N4) off Thursday 10 Dec']),
 ('Rooms', ['Room 2 closed Wednesday 9 Dec, afternoon from 12:00'])]

Fields the code below does not know by name (a field added to the format later) are still
compared, generically: "Gia Hayes: notes changed", or "priority 3 (was 1)" for a short value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from scheduler.check import Violation
from scheduler.documents import Schedule
from scheduler.model import WEEKDAYS, Outage, Scenario, SelfService
from scheduler.usecases.check import check_schedule

__all__ = ["BrokenSession", "DiffSection", "ScenarioDiff", "broken_sessions", "same_week",
           "scenario_changes"]

DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                "Saturday", "Sunday"), strict=True))
SHORT = 40
"""A value up to this many characters is shown ("priority 3 (was 1)"); a longer one is
"changed"."""


@dataclass(frozen=True, slots=True)
class DiffSection:
    title: str
    lines: list[str]


@dataclass(frozen=True, slots=True)
class ScenarioDiff:
    """The changes, section by section (only sections with a change, in a fixed order)."""

    sections: list[DiffSection]

    @property
    def empty(self) -> bool:
        return not self.sections

    def lines(self) -> list[str]:
        return [line for s in self.sections for line in s.lines]


# ----------------------------------------------------------------------------- words
def day(d: date) -> str:
    """``Thursday 10 Dec``."""
    return f"{d:%A} {d.day} {d:%b}"


def spans(value: Sequence[Sequence[str]] | None) -> str:
    return ", ".join(f"{a}–{b}" for a, b in value or []) or "closed"


def part(outage: Outage) -> str:
    """``Wednesday 9 Dec``, ``Wednesday 9 Dec, afternoon from 12:00``, ``…, morning until
    12:00``, ``…, 10:00–14:00``."""
    start, end = outage.from_, outage.to
    when = day(outage.date)
    if start is None or start == "00:00":
        if end is None or end == "24:00":
            return when
        return f"{when}, morning until {end}" if end <= "13:00" else f"{when} until {end}"
    if end is None or end == "24:00":
        return f"{when}, afternoon from {start}" if start >= "12:00" else f"{when} from {start}"
    return f"{when}, {start}–{end}"


def label(field: str) -> str:
    return field.replace("_", " ")


def shown(value: Any) -> str | None:
    """A value as a clerk reads it, or None when it is too long or structured to show."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date) and not isinstance(value, datetime):
        return day(value)
    if isinstance(value, int | float | str):
        text = str(value)
    elif isinstance(value, list | tuple) and all(isinstance(v, int | str) for v in value):
        text = ", ".join(map(str, value)) or "none"
    else:
        return None
    return text if len(text) <= SHORT and "\n" not in text else None


def generic(field: str, old: Any, new: Any) -> str:
    """``priority 3 (was 1)``; ``notes changed`` when a value is long or structured."""
    a, b = shown(old), shown(new)
    if a is None or b is None:
        return f"{label(field)} changed"
    return f"{label(field)} {b} (was {a})"


def _models(values: Iterable[Any]) -> list[Any]:
    return [v.model_dump(mode="json", by_alias=True) if isinstance(v, BaseModel) else v
            for v in values]


def _week(old: dict[str, Any] | None, new: dict[str, Any] | None, verb: str
          ) -> list[tuple[str, str]]:
    """Weekdays whose hours differ: (weekday, ``open Mondays 08:00–12:00 (was …)``)."""
    out: list[tuple[str, str]] = []
    for wd in WEEKDAYS:
        a = (old or {}).get(wd)
        b = (new or {}).get(wd)
        if [list(x) for x in a or []] == [list(x) for x in b or []]:
            continue
        name = DAY_NAMES[wd]
        if not b:
            out.append((wd, f"no longer {verb} {name}s (was {spans(a)})"))
        elif not a:
            out.append((wd, f"{verb} {name}s {spans(b)}"))
        else:
            out.append((wd, f"{verb} {name}s {spans(b)} (was {spans(a)})"))
    return out


def _dates(old: Iterable[date], new: Iterable[date], added: str, removed: str) -> list[str]:
    a, b = set(old), set(new)
    return [f"{added} {day(d)}" for d in sorted(b - a)] + \
        [f"{removed} {day(d)}" for d in sorted(a - b)]


def _outages(old: Iterable[Outage], new: Iterable[Outage], added: str, removed: str
             ) -> list[str]:
    a, b = list(old), list(new)
    return [f"{added} {part(o)}" for o in sorted(b, key=_when) if o not in a] + \
        [f"{removed} {part(o)}" for o in sorted(a, key=_when) if o not in b]


def _when(o: Outage) -> tuple[date, str]:
    return o.date, o.from_ or ""


# ----------------------------------------------------------------------------- items
Handler = Callable[[str, Any, Any], list[str]]
"""One field's words: (who, old value, new value) -> lines."""


_DOING = {"confirm": "confirm", "cancel": "cancel", "reschedule": "move"}


def _self_service(_: str, old: SelfService, new: SelfService) -> list[str]:
    """``Patients can no longer move a session through their own link``, and the window."""
    out = [f"Patients can {'again' if getattr(new, a) else 'no longer'} {verb} a session "
           "through their own link"
           for a, verb in _DOING.items() if getattr(old, a) != getattr(new, a)]
    if old.late_cancel_hours != new.late_cancel_hours:
        def hours(x: float | None) -> str:
            return "at the service's window" if x is None else f"{x:g} hours before a session"
        out.append(f"Patients' own link stops cancelling and moving "
                   f"{hours(new.late_cancel_hours)} (was {hours(old.late_cancel_hours)})")
    return out


def _item_lines(who: str, old: BaseModel, new: BaseModel, handlers: dict[str, Handler],
                skip: Sequence[str] = ("id",)) -> list[str]:
    """Every field that differs: its handler's words, else the generic ones."""
    fields = list(type(new).model_fields)
    fields += [f for f in type(old).model_fields if f not in fields]
    out: list[str] = []
    for f in fields:
        if f in skip:
            continue
        a, b = getattr(old, f, None), getattr(new, f, None)
        if a == b:
            continue
        if f in handlers:
            out += handlers[f](who, a, b)
        else:
            out.append(f"{who}: {generic(f, a, b)}")
    return out


def _by_id(old: Sequence[Any], new: Sequence[Any], name: Callable[[Any], str],
           added: Callable[[Any], str], handlers: dict[str, Handler]) -> list[str]:
    """Items matched by id: added ones, changed ones (in the new order), removed ones."""
    before = {x.id: x for x in old}
    after = {x.id: x for x in new}
    out: list[str] = []
    for x in new:
        if x.id not in before:
            out.append(added(x))
        elif before[x.id] != x:
            out += _item_lines(name(x), before[x.id], x, handlers)
    out += [f"{name(x)} removed" for x in old if x.id not in after]
    return out


def _named(x: Any) -> str:
    return f"{x.name} ({x.id})" if getattr(x, "name", None) else str(x.id)


def _plain(x: Any) -> str:
    return str(getattr(x, "name", None) or x.id)


def _renamed(who: str, a: Any, b: Any) -> list[str]:
    return [f"{who}: name {b or 'none'} (was {a or 'none'})"]


class _Words:
    """The clerk's words for one pair of scenarios (names from the newer, else the older)."""

    def __init__(self, old: Scenario, new: Scenario) -> None:
        self.old, self.new = old, new
        self.staff_names = {s.id: _named(s) for s in [*old.staff, *new.staff]}
        self.patient_names = {p.id: _plain(p) for p in [*old.patients, *new.patients]}
        self.protocol_names = {p.id: _plain(p) for p in [*old.protocols, *new.protocols]}
        self.room_names = {r.id: _plain(r) for r in [*old.rooms, *new.rooms]}

    def clinic(self) -> list[str]:
        a, b = self.old.clinic, self.new.clinic
        handlers: dict[str, Handler] = {
            "hours": lambda who, x, y: [f"Clinic {w}" for _, w in _week(x, y, "open")],
            "closed_dates": lambda who, x, y: _dates(x, y, "Clinic closed", "Clinic open again"),
            "self_service": _self_service,
        }
        out = _item_lines("Clinic", a, b, handlers, skip=())
        h0, h1 = self.old.horizon, self.new.horizon
        if h0.start != h1.start:
            out.append(f"The plan starts {day(h1.start)} (was {day(h0.start)})")
        if h0.days != h1.days:
            out.append(f"The plan covers {h1.days} days (was {h0.days})")
        return out

    def rooms(self) -> list[str]:
        def hours(who: str, x: Any, y: Any) -> list[str]:
            if y is None:
                return [f"{who} keeps the clinic's hours (had its own)"]
            return [f"{who} {w}" for _, w in _week(x or {}, y, "open")] if x is not None \
                else [f"{who} has its own hours: " + "; ".join(
                    f"{DAY_NAMES[d]}s {spans(s)}" for d, s in y.items())]
        handlers: dict[str, Handler] = {
            "closures": lambda who, x, y: [f"{who} {w}" for w in _outages(
                x, y, "closed", "no longer closed")],
            "chairs": lambda who, x, y: [f"{who} has {y} chair{'s' * (y != 1)} (was {x})"],
            "hours": hours, "name": _renamed,
        }
        return _by_id(self.old.rooms, self.new.rooms, _plain,
                      lambda r: f"{_plain(r)} added", handlers)

    def staff(self) -> list[str]:
        handlers: dict[str, Handler] = {
            "time_off": lambda who, x, y: [f"{who} {w}" for w in _dates(
                x, y, "off", "no longer off")],
            "absences": lambda who, x, y: [f"{who} {w}" for w in _outages(
                x, y, "absent", "no longer absent")],
            "shifts": lambda who, x, y: [f"{who} {w}" for _, w in _week(x, y, "works")],
            "max_patients": lambda who, x, y: [f"{who} takes {y} patients at once (was {x})"],
            "name": _renamed,
        }
        return _by_id(self.old.staff, self.new.staff, _named,
                      lambda s: f"{_named(s)} added ({s.role})", handlers)

    def patients(self) -> list[str]:
        def protocol(who: str, x: Any, y: Any) -> list[str]:
            return [f"{who}: protocol {self.protocol_names.get(y, y)} "
                    f"(was {self.protocol_names.get(x, x)})"]

        def rems(who: str, x: Any, y: Any) -> list[str]:
            said = {True: "enrolled in the REMS", False: "not enrolled in the REMS",
                    None: "REMS enrollment not recorded"}
            return [f"{who}: {said[y]} (was {said[x].removeprefix('REMS ')})"]

        def preferred(who: str, x: Any, y: Any) -> list[str]:
            names = ", ".join(self.staff_names.get(s, s) for s in y) or "no one"
            was = ", ".join(self.staff_names.get(s, s) for s in x) or "no one"
            return [f"{who} prefers {names} (was {was})"]

        def available(who: str, x: Any, y: Any) -> list[str]:
            if y is None:
                return [f"{who} can come whenever the clinic is open"]
            if x is None:
                return [f"{who} can come only " + "; ".join(
                    f"{DAY_NAMES[d]}s {spans(s)}" for d, s in y.items())]
            return [f"{who} {w}" for _, w in _week(x, y, "can come")]

        handlers: dict[str, Handler] = {
            "protocol": protocol, "rems_enrolled": rems, "preferred_staff": preferred,
            "availability": available, "name": _renamed,
            "unavailable": lambda who, x, y: [f"{who} {w}" for w in _outages(
                x, y, "cannot come", "can come again")],
            "sessions": lambda who, x, y: [f"{who} wants {y} session{'s' * (y != 1)} "
                                           f"(was {x})"],
        }
        return _by_id(self.old.patients, self.new.patients, _plain,
                      lambda p: f"{_plain(p)} added", handlers)

    def protocols(self) -> list[str]:
        def phases(who: str, x: Any, y: Any) -> list[str]:
            def said(ps: Any) -> str:
                return ", ".join(f"{p.name} {p.minutes}" for p in ps) + " min"
            return [f"{who}: phases {said(y)} (was {said(x)})"]
        handlers: dict[str, Handler] = {"phases": phases, "name": _renamed}
        return _by_id(self.old.protocols, self.new.protocols, _plain,
                      lambda p: f"{_plain(p)} added", handlers)

    def fixed(self) -> list[str]:
        def said(f: Any) -> str:
            room = self.room_names.get(f.room, f.room) if f.room else "by video"
            where = f"in {room}" if f.room else room
            return f"{day(f.start.date())} {f.start:%H:%M} {where}"

        def who(f: Any) -> str:
            return f"{self.patient_names.get(f.patient, f.patient)}'s confirmed {f.id}"

        before = {f.id: f for f in self.old.fixed}
        after = {f.id: f for f in self.new.fixed}
        out = [f"{who(f)} added: {said(f)}" for f in self.new.fixed if f.id not in before]
        out += [f"{who(f)} now {said(f)} (was {said(before[f.id])})"
                if said(f) != said(before[f.id]) else f"{who(f)} changed"
                for f in self.new.fixed if f.id in before and before[f.id] != f]
        out += [f"{who(f)} removed" for f in self.old.fixed if f.id not in after]
        return out

    def courses(self) -> list[str]:
        return _by_id(self.old.courses, self.new.courses, _plain,
                      lambda c: f"{_plain(c)} added", {"name": _renamed})

    def settings(self) -> list[str]:
        return _item_lines("Soft goals", self.old.settings, self.new.settings, {}, ()) + \
            _item_lines("Calendar feeds", self.old.feeds, self.new.feeds, {}, ())


SECTIONS: tuple[tuple[str, Callable[[_Words], list[str]]], ...] = (
    ("Clinic hours and closed dates", _Words.clinic),
    ("Rooms", _Words.rooms),
    ("Staff shifts and absences", _Words.staff),
    ("Patients", _Words.patients),
    ("Protocols", _Words.protocols),
    ("Confirmed appointments", _Words.fixed),
    ("Courses", _Words.courses),
    ("Settings", _Words.settings),
)
"""The sections of a diff, in the order a page shows them."""
KNOWN = {"version", "clinic", "horizon", "rooms", "staff", "patients", "protocols", "fixed",
         "courses", "settings", "feeds"}


def scenario_changes(old: Scenario, new: Scenario) -> ScenarioDiff:
    """What changed from ``old`` to ``new`` (two versions of one clinic's data, as given:
    courses not expanded), section by section, in a clerk's words, people, rooms and patients
    by name (staff with their id: "Dana Fischer (N4)")."""
    words = _Words(old, new)
    sections = [DiffSection(title, lines) for title, lines in
                ((t, f(words)) for t, f in SECTIONS) if lines]
    other = [generic(f, getattr(old, f, None), getattr(new, f, None))
             for f in type(new).model_fields
             if f not in KNOWN and getattr(old, f, None) != getattr(new, f, None)]
    if other:
        sections.append(DiffSection("Other", other))
    return ScenarioDiff(sections)


# ----------------------------------------------------------------------------- the published week
@dataclass(frozen=True, slots=True)
class BrokenSession:
    """A published session that breaks a rule under the current data."""

    appointment: str
    start: datetime | None
    """Its start on the clinic's wall clock (None: the checker named no appointment)."""
    patient: str
    """The patient's name (the id when the data names none)."""
    problems: list[str]
    """The checker's words, one per rule broken."""


def same_week(published: Scenario, current: Scenario) -> bool:
    """Whether the current data plans the week the published schedule was made for (after a
    roll to next week, the published week is history, not something to check)."""
    return (published.horizon.start, published.horizon.days) == \
        (current.horizon.start, current.horizon.days)


def broken_sessions(current: Scenario, schedule: Schedule) -> list[BrokenSession]:
    """The sessions of ``schedule`` that break a hard rule under ``current``, by time, each
    with the independent checker's words; an empty list when the schedule keeps every rule."""
    violations: list[Violation] = check_schedule(current, schedule)
    booked = {a.id: a for a in schedule.appointments}
    names = {p.id: p.name or p.id for p in current.patients}
    grouped: dict[str, list[str]] = {}
    for v in violations:
        words = grouped.setdefault(v.appointment, [])
        if v.what not in words:
            words.append(v.what)
    out = []
    for ref, problems in grouped.items():
        a = booked.get(ref)
        out.append(BrokenSession(
            ref, a.start.astimezone(current.tz) if a is not None else None,
            names.get(a.patient, a.patient) if a is not None else "", problems))
    return sorted(out, key=lambda b: (b.start is None, b.start.timestamp() if b.start else 0.0,
                                      b.appointment))
