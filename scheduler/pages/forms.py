"""What the desk's forms share: the choices a select offers (names beside ids), reading a
date and a time as the clinic's local time, the version a form read, and the use cases' field
paths as the form's own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from scheduler.documents import Schedule
from scheduler.errors import Conflict, InvalidInput, Issue
from scheduler.model import WEEKDAYS, Scenario
from scheduler.naming import Namer
from scheduler.pages.web import templates
from scheduler.storage.tables import ScheduleRow

__all__ = ["Names", "local_start", "names", "paths_of", "slot", "version_of"]

EVENT_TYPES = {
    "cancel": ("A booked appointment is cancelled", ("appointment",)),
    "staff_absent": ("A staff member is absent", ("staff", "date", "from", "to")),
    "room_closed": ("A room is out of service", ("room", "date", "from", "to")),
    "patient_unavailable": ("A patient cannot come", ("patient", "date", "from", "to")),
    "clinic_closed": ("The clinic is closed (a holiday)", ("date",)),
}
"""The events the re-plan form offers field by field (any other kind: the YAML box)."""


@dataclass(frozen=True, slots=True)
class Names:
    """Names by id, for pages: people, rooms and protocols are shown by name (the id small
    beside where it helps); an id without a name shows as itself."""

    patients: dict[str, str] = field(default_factory=dict)
    staff_: dict[str, str] = field(default_factory=dict)
    rooms: dict[str, str] = field(default_factory=dict)
    protocols: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, scenario: Scenario) -> Names:
        return cls({p.id: p.name or p.id for p in scenario.patients},
                   {s.id: s.name or s.id for s in scenario.staff},
                   {r.id: r.name or r.id for r in scenario.rooms},
                   {p.id: p.name or p.id for p in scenario.protocols})

    def patient(self, pid: str) -> str:
        return self.patients.get(pid, pid)

    def staff(self, sid: str) -> str:
        return self.staff_.get(sid, sid)

    def room(self, rid: str | None) -> str:
        """A room's name; a video session has none."""
        return "Video call" if rid is None else self.rooms.get(rid, rid)

    def protocol(self, pid: str) -> str:
        return self.protocols.get(pid, pid)


def _label(name: str | None, key: str) -> str:
    """An option's text: the name first, the id beside it (just the id without a name)."""
    return f"{name} · {key}" if name and name != key else key


def room_options(scenario: Scenario, blank: str = "") -> list[tuple[str, str]]:
    return ([("", blank)] if blank else []) + [(r.id, _label(r.name, r.id))
                                               for r in scenario.rooms]


def staff_options(scenario: Scenario, key: str = "", protocol: str = "",
                  blank: str = "") -> list[tuple[str, str]]:
    """Who may fill staff entry ``key`` of ``protocol`` (role and qualification); everyone
    without a protocol."""
    spec = next((p for p in scenario.protocols if p.id == protocol), None)
    need = next((n for n in spec.staff if (n.key or n.role) == key), None) if spec else None
    return ([("", blank)] if blank else []) + [
        (s.id, _label(s.name, s.id)) for s in scenario.staff
        if need is None or (s.role == need.role and (
            need.qualification is None or need.qualification in s.qualifications))]


def appointment_options(scenario: Scenario, schedule: Schedule) -> list[tuple[str, str]]:
    """The schedule's appointments by time, each with its patient's name."""
    who = Names.of(scenario)
    return [("", "(pick an appointment)")] + [
        (a.id, f"{a.start.astimezone(scenario.tz):%a %d %b %H:%M} · {who.patient(a.patient)}"
               f" · {a.id}") for a in sorted(schedule.appointments, key=lambda a: a.start)]


def resolve(scenario: Scenario, kind: str, text: str) -> str:
    """What the desk typed or picked, as an id: the id itself, a name (any case), or an
    option's "Name · ID" text; anything else unchanged (the use case names it)."""
    text = text.strip()
    items = {"staff": [(s.id, s.name) for s in scenario.staff],
             "room": [(r.id, r.name) for r in scenario.rooms],
             "patient": [(p.id, p.name) for p in scenario.patients]}.get(kind, [])
    if "·" in text:  # "Dana Fischer · N4": the id after the last dot
        tail = text.rsplit("·", 1)[1].strip()
        if any(tail == i for i, _ in items):
            return tail
    if any(text == i for i, _ in items):
        return text
    folded = " ".join(text.split()).casefold()
    found = [i for i, n in items if n and " ".join(n.split()).casefold() == folded]
    return found[0] if len(found) == 1 else text


def patient_options(scenario: Scenario, schedule: Schedule) -> list[tuple[str, str]]:
    """Patients with an unplaced session first, then everyone."""
    known = names(scenario)
    first = [u.patient for u in schedule.unplaced]
    rest = [p.id for p in scenario.patients if p.id not in first]
    return [("", "(pick a patient)")] + [(i, f"{known.get(i, i)} · {i}"
                                          + (" · unplaced" if i in first else ""))
                                         for i in first + rest]


def event_options() -> list[tuple[str, str]]:
    return [("", "(only the events below)")] + [(k, v[0]) for k, v in EVENT_TYPES.items()]


templates.env.globals.update(room_options=room_options, staff_options=staff_options,
                             patient_options=patient_options, event_options=event_options,
                             appointment_options=appointment_options)


def names(scenario: Scenario) -> dict[str, str]:
    """Patients' names by id (the id where a patient has no name)."""
    return {p.id: p.name or p.id for p in scenario.patients}


def local_start(scenario: Scenario, day: str, clock: str) -> tuple[datetime | None, list[Issue]]:
    """A date and a time from a form as an aware instant of the clinic, or the problems."""
    issues = []
    parsed_day = parsed_time = None
    try:
        parsed_day = date.fromisoformat(day)
    except ValueError:
        issues.append(Issue("date", f"{day!r} is not a date (YYYY-MM-DD)"))
    try:
        if not re.fullmatch(r"\d\d:\d\d", clock):
            raise ValueError(clock)
        parsed_time = time.fromisoformat(clock)
    except ValueError:
        issues.append(Issue("time", f"{clock!r} is not a time of day (HH:MM)"))
    if issues or parsed_day is None or parsed_time is None:
        return None, issues
    return datetime.combine(parsed_day, parsed_time, scenario.tz), []


def slot(scenario: Scenario, form: dict[str, str]) -> tuple[datetime, dict[str, str]]:
    """A form's date, time and ``staff.<key>`` fields: the instant and the staff asked for
    (InvalidInput naming the fields otherwise)."""
    start, issues = local_start(scenario, form.get("date", ""), form.get("time", ""))
    if issues or start is None:
        raise InvalidInput(issues)
    staff = {k.removeprefix("staff."): v for k, v in form.items()
             if k.startswith("staff.") and v}
    return start, staff


def version_of(form: Any) -> int:
    """The version of the schedule the form was read at (a 409 when it moved on since)."""
    raw = str(form.get("version", ""))
    if not raw.isdigit():
        raise InvalidInput([Issue("version", "is required (reload the page)")])
    return int(raw)


def paths_of(issues: list[Issue], ref: str) -> list[Issue]:
    """The use case's paths as the form's fields: a broken rule belongs beside the time."""
    return [Issue("time" if i.path in (f"appointments.{ref}", "start") else i.path, i.message)
            for i in issues]


def context(row: ScheduleRow, scenario: Scenario, schedule: Schedule) -> dict[str, Any]:
    """What every page of one schedule shows (``say``: the checker's and the solver's words
    with names for ids)."""
    return {"row": row, "scenario": scenario, "schedule": schedule, "names": names(scenario),
            "who": Names.of(scenario), "tz": scenario.tz,
            "say": Namer.of(scenario, schedule.appointments)}


# ----------------------------------------------------------------------------- the clinic's data
_SPAN = re.compile(r"\s*(\d{1,2}):(\d\d)\s*[-–—]\s*(\d{1,2}):(\d\d)\s*")


def week_text(hours: dict[str, Any] | None) -> dict[str, str]:
    """Hours by weekday as a form shows them: ``"08:00-12:00, 12:30-17:00"`` ("" closed)."""
    return {d: ", ".join(f"{a}-{b}" for a, b in (hours or {}).get(d, [])) for d in WEEKDAYS}


def week_summary(hours: dict[str, Any] | None, none: str = "none") -> str:
    """Weekly hours in a line, runs of days alike together: ``Mon–Thu 08:00–12:00,
    12:30–17:00; Fri 08:00–13:00`` (``none`` when there are none)."""
    runs: list[tuple[list[str], str]] = []
    for day in WEEKDAYS:
        spans = (hours or {}).get(day)
        if not spans:
            continue
        text = ", ".join(f"{a}–{b}" for a, b in spans)
        last = runs[-1] if runs else None
        if last and last[1] == text and WEEKDAYS.index(last[0][-1]) + 1 == WEEKDAYS.index(day):
            last[0].append(day)
        else:
            runs.append(([day], text))
    return "; ".join(f"{days[0].capitalize()}" + (f"–{days[-1].capitalize()}"
                                                   if len(days) > 1 else "") + f" {text}"
                     for days, text in runs) or none


templates.env.filters["week"] = week_summary


def parse_week(form: dict[str, str], prefix: str) -> tuple[dict[str, Any], list[Issue]]:
    """A form's ``<prefix>.mon`` … ``<prefix>.sun`` fields as weekly hours (an empty field: not
    open that day), or the problems, each named by its field."""
    hours: dict[str, Any] = {}
    issues = []
    for day in WEEKDAYS:
        text = form.get(f"{prefix}.{day}", "").strip()
        if not text:
            continue
        spans = []
        for part in text.split(","):
            found = _SPAN.fullmatch(part)
            if found is None:
                issues.append(Issue(f"{prefix}.{day}", f"'{part.strip()}' is not a span of "
                                    "time written HH:MM-HH:MM (several: comma between)"))
                continue
            h1, m1, h2, m2 = found.groups()
            spans.append([f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"])
        hours[day] = spans
    return hours, issues


def parse_list(text: str) -> list[str]:
    """Comma-separated words (qualifications, features, dates), blanks dropped."""
    return [w.strip() for w in text.split(",") if w.strip()]


def form_issues(issues: list[Issue], prefix: str) -> list[Issue]:
    """The scenario's paths (``staff[2].shifts.mon[0]``) as a form's fields (``shifts.mon``);
    problems of anything else keep their path (the summary above the form lists them)."""
    out = []
    for issue in issues:
        path = issue.path
        if path == prefix or path.startswith((f"{prefix}.", f"{prefix}[")):
            parts = [p for p in re.split(r"[.\[\]]+", path[len(prefix):]) if p]
            if parts and parts[0] in ("shifts", "hours", "self_service") and len(parts) > 1:
                path = f"{parts[0]}.{parts[1]}"
            elif parts and parts[0] in ("phases", "staff") and len(parts) > 2:
                path = f"{parts[0]}.{parts[1]}.{parts[2]}"
            elif parts:
                path = parts[0]
        out.append(Issue(path, issue.message))
    return out


def refusal(exc: InvalidInput | Conflict, prefix: str = "") -> dict[str, Any]:
    """A refused change as a page's arguments: a 422 with every problem beside its field, or
    a 409 saying someone saved first (the page offers to reload)."""
    if isinstance(exc, Conflict):
        return {"status_code": 409, "errors": [], "conflict": str(exc)}
    return {"status_code": 422, "errors": form_issues(exc.issues, prefix), "conflict": None}
