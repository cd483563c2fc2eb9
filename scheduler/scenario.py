"""Contract v1 scenarios: pydantic models, loading from YAML or JSON, and full validation.

Every problem in a file is reported at once, each with its field path (``staff[3].shifts.tue``) and
a sentence a clinic manager understands. Sections are parsed item by item so that one broken room
does not hide a broken patient, and cross-references are checked on whatever parsed.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from scheduler.errors import InvalidScenario, Issue

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def clock_minutes(text: str) -> int:
    """Minutes after local midnight of ``"HH:MM"`` (``"24:00"`` is 1440)."""
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"'{value}' is not a time of day written HH:MM (00:00 to 24:00)")
    return value


def _span(value: tuple[str, str]) -> tuple[str, str]:
    start, end = value
    if clock_minutes(end) <= clock_minutes(start):
        raise ValueError(f"ends at {end}, not after it starts at {start}")
    return value


def _spans(value: list[tuple[str, str]]) -> list[tuple[str, str]]:
    ordered = sorted(value, key=lambda s: clock_minutes(s[0]))
    for (_, end), (start, _) in itertools.pairwise(ordered):
        if clock_minutes(start) < clock_minutes(end):
            raise ValueError(f"intervals overlap ({start} starts before {end})")
    return value


Clock = Annotated[str, AfterValidator(_clock)]
Span = Annotated[tuple[Clock, Clock], AfterValidator(_span)]
Spans = Annotated[list[Span], AfterValidator(_spans)]
WeekHours = dict[Weekday, Spans]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Minutes = Annotated[int, Field(ge=0, le=24 * 60)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Clinic(_Model):
    name: str = Field(min_length=1)
    timezone: str = Field(description="IANA time zone name, e.g. America/New_York")
    slot_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    hours: WeekHours
    closed_dates: list[date] = []
    address: str | None = None
    arrival_instructions: str | None = None


class Horizon(_Model):
    start: date
    days: Annotated[int, Field(ge=1, le=62)] = 7


class PhaseSpec(_Model):
    name: Id
    minutes: Annotated[int, Field(ge=1, le=24 * 60)]


class Outage(_Model):
    """A date (and optionally a part of it, ``from``-``to``) on which something is unavailable."""

    date: date
    from_: Clock | None = Field(default=None, alias="from")
    to: Clock | None = None

    def span(self) -> tuple[str, str]:
        return self.from_ or "00:00", self.to or "24:00"

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        start, end = self.span()
        if clock_minutes(end) <= clock_minutes(start):
            raise ValueError(f"ends at {end}, not after it starts at {start}")
        return self


class Revision(_Model):
    """New phase durations (and turnover) for a protocol from a date on."""

    from_: date = Field(alias="from")
    phases: list[PhaseSpec] = Field(min_length=1)
    turnover_minutes: Minutes | None = None


class StaffNeedSpec(_Model):
    role: Id
    key: Id | None = None
    qualification: Id | None = None
    modes: dict[str, Literal["hands_on", "monitor"]] = {}

    @property
    def name(self) -> str:
        return self.key or self.role


class OnSiteSpec(_Model):
    role: Id
    phases: list[str] = Field(min_length=1)


class ProtocolSpec(_Model):
    id: Id
    name: str = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    turnover_minutes: Minutes = 0
    room_features: list[str] = []
    staff: list[StaffNeedSpec] = []
    on_site: list[OnSiteSpec] = []
    revisions: list[Revision] = Field(default=[], description="Phase durations from a date on.")
    requires_rems: bool = Field(
        default=False,
        description="Only patients enrolled in the Spravato REMS may be booked (rems_enrolled).")
    dose_phase: str | None = Field(
        default=None,
        description="Phase whose start is the dosing moment (for staggering); default: a phase "
        "named dosing, infusion or injection, else the second phase.")

    def on(self, day: date) -> tuple[list[PhaseSpec], int]:
        """Phases and turnover in force on ``day`` (the latest revision from on or before it)."""
        phases, turnover = self.phases, self.turnover_minutes
        for r in sorted(self.revisions, key=lambda r: r.from_):
            if r.from_ <= day:
                phases = r.phases
                turnover = r.turnover_minutes if r.turnover_minutes is not None else turnover
        return phases, turnover

    @property
    def dose(self) -> str:
        names = [p.name for p in self.phases]
        if self.dose_phase:
            return self.dose_phase
        for candidate in ("dosing", "infusion", "injection", "dose"):
            if candidate in names:
                return candidate
        return names[1] if len(names) > 1 else names[0]


class RoomSpec(_Model):
    id: Id
    name: str | None = None
    features: list[str] = []
    chairs: Annotated[int, Field(ge=1, le=100)] = 1
    hours: WeekHours | None = None
    closures: list[Outage] = Field(default=[], description="Out of service on a date or part.")


class StaffSpec(_Model):
    id: Id
    name: str | None = None
    role: Id
    qualifications: list[str] = []
    max_patients: Annotated[int, Field(ge=0, le=100)] = 1
    shifts: WeekHours = {}
    time_off: list[date] = []
    absences: list[Outage] = Field(default=[], description="Absent on a date, or part of it.")


class PatientSpec(_Model):
    id: Id
    name: str | None = None
    protocol: Id
    sessions: Annotated[int, Field(ge=0, le=62)] = 1
    min_gap_days: Annotated[int, Field(ge=0, le=365)] = 1
    last_session: date | None = None
    earliest: date | None = None
    latest: date | None = None
    availability: WeekHours | None = None
    priority: Annotated[int, Field(ge=1, le=5)] = 1
    preferred_staff: list[Id] = []
    unavailable: list[Outage] = Field(default=[], description="Cannot come on a date, or part.")
    rems_enrolled: bool | None = Field(
        default=None, description="Enrolled in the Spravato REMS; false blocks REMS protocols.")


class FixedSpec(_Model):
    id: Id
    patient: Id
    start: datetime = Field(description="Local wall-clock time of the clinic, YYYY-MM-DDTHH:MM")
    room: Id
    staff: dict[str, Id] = {}


class Settings(_Model):
    """Soft-goal weights (per minute of penalty) and their parameters."""

    preferred_staff_weight: Annotated[int, Field(ge=0, le=1000)] = 1
    stagger_weight: Annotated[int, Field(ge=0, le=1000)] = 2
    slack_weight: Annotated[int, Field(ge=0, le=1000)] = 2
    compact_weight: Annotated[int, Field(ge=0, le=1000)] = 1
    stagger_minutes: Annotated[int, Field(ge=1, le=240)] = 20
    slack_minutes: Annotated[int, Field(ge=1, le=240)] = 15
    replan_extra_moves: Annotated[int, Field(ge=0, le=100)] = Field(
        default=2, description="Re-planning may move this many appointments no event touched, "
        "to save touched patients' sessions.")


class FeedSettings(_Model):
    """What calendar feeds show. Patient feeds never name a treatment unless opted in."""

    name: str | None = Field(default=None, description="The clinic's name in patients' "
                             "calendars; default clinic.name (avoid one that names a drug).")
    cancelled_days: Annotated[int, Field(ge=0, le=365)] = 14
    patient_reminder: Clock | None = Field(default="18:00", description="Reminder the evening "
                                           "before, local time; null for none.")
    patient_detail: bool = False
    staff_detail: bool = True
    room_detail: bool = True
    clinic_detail: bool = True


class Scenario(_Model):
    """A clinic, its horizon and who wants what: contract v1."""

    version: Literal[1] = 1
    clinic: Clinic
    horizon: Horizon
    protocols: list[ProtocolSpec] = Field(min_length=1)
    rooms: list[RoomSpec] = Field(min_length=1)
    staff: list[StaffSpec] = []
    patients: list[PatientSpec] = []
    fixed: list[FixedSpec] = []
    settings: Settings = Settings()
    feeds: FeedSettings = FeedSettings()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def dates(self) -> list[date]:
        return [self.horizon.start + timedelta(days=i) for i in range(self.horizon.days)]

    def local(self, day: date, clock: str) -> datetime:
        """The aware instant of wall-clock ``clock`` on ``day`` in the clinic's zone."""
        minutes = clock_minutes(clock)
        naive = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minutes)
        return naive.replace(tzinfo=self.tz)

    def protocol(self, pid: str) -> ProtocolSpec:
        return next(p for p in self.protocols if p.id == pid)


# --------------------------------------------------------------------------- messages
_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a field of the scenario format (check the spelling)",
}


def _path(loc: Iterable[Any], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("[key]", "tuple") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _message(err: Any) -> str:
    kind = err["type"]
    if kind in _FRIENDLY:
        return str(_FRIENDLY[kind])
    msg = str(err["msg"])
    if kind == "literal_error" and "'mon'" in msg:
        return f"'{err['input']}' is not a weekday; use mon, tue, wed, thu, fri, sat or sun"
    if kind == "literal_error" and "'hands_on'" in msg:
        return f"'{err['input']}' is not a staff mode; use hands_on or monitor"
    msg = msg.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return (f"'{err['input']}' is not a valid id: letters, digits, '-', '_' and '.', "
                "starting with a letter or digit")
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return f"'{err['input']}' is not a date written YYYY-MM-DD"
    return msg[0].lower() + msg[1:] if msg else kind


def issues_from(error: ValidationError, prefix: str) -> list[Issue]:
    return [Issue(_path(e["loc"], prefix), _message(e)) for e in error.errors()]


# --------------------------------------------------------------------------- loading
class _Loader(yaml.SafeLoader):
    """YAML with dates left as text for the schema to parse: ``date: 2026-13-40`` is then a
    problem with its field path, not a crash inside the YAML parser."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_text(text: str, json_: bool = False) -> Any:
    """Parse YAML (or JSON) text; raises ``ValueError`` subclasses on malformed text."""
    return json.loads(text) if json_ else yaml.load(text, Loader=_Loader)


def read_data(path: Path) -> Any:
    """Parse YAML or JSON text; unreadable files raise :class:`InvalidScenario`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidScenario([Issue(str(path), f"cannot be read: {exc}")]) from exc
    try:
        return parse_text(text, json_=path.suffix.lower() == ".json")
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidScenario([Issue(str(path), f"is not valid YAML or JSON: {exc}")]) from exc


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file, raising :class:`InvalidScenario` with every problem."""
    return validate_scenario(read_data(path))


_SECTIONS: dict[str, Any] = {
    "protocols": ProtocolSpec, "rooms": RoomSpec, "staff": StaffSpec,
    "patients": PatientSpec, "fixed": FixedSpec,
}
_SINGLES: dict[str, Any] = {"clinic": Clinic, "horizon": Horizon, "settings": Settings,
                            "feeds": FeedSettings}
_OPTIONAL = ("settings", "feeds")


def validate_scenario(data: Any) -> Scenario:
    """Validate parsed data (a dict) as a scenario; all problems at once."""
    if not isinstance(data, dict):
        raise InvalidScenario([Issue("(file)", "must be a mapping with clinic, horizon, "
                                               "protocols, rooms, staff and patients")])
    issues: list[Issue] = []
    known = {"version", *_SECTIONS, *_SINGLES}
    for key in data:
        if key not in known:
            issues.append(Issue(str(key), _FRIENDLY["extra_forbidden"]))
    if data.get("version", 1) != 1:
        issues.append(Issue("version", f"is {data.get('version')!r}; this tool reads version 1"))
    parsed: dict[str, Any] = {}
    for key, model in _SINGLES.items():
        if key not in data and key in _OPTIONAL:
            continue
        try:
            parsed[key] = TypeAdapter(model).validate_python(data.get(key))
        except ValidationError as exc:
            issues += issues_from(exc, key)
    for key, model in _SECTIONS.items():
        raw = data.get(key, [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            issues.append(Issue(key, "must be a list"))
            continue
        items = []
        for i, item in enumerate(raw):
            try:
                items.append((i, TypeAdapter(model).validate_python(item)))
            except ValidationError as exc:
                issues += issues_from(exc, f"{key}[{i}]")
                partial = _without_bad_fields(model, item, exc)
                if partial is not None:  # still cross-check what did parse
                    items.append((i, partial))
        parsed[key] = items
    issues += cross_check(parsed)
    if issues:
        raise InvalidScenario(issues)
    scenario = Scenario(
        version=1,
        clinic=parsed["clinic"],
        horizon=parsed["horizon"],
        protocols=[x for _, x in parsed["protocols"]],
        rooms=[x for _, x in parsed["rooms"]],
        staff=[x for _, x in parsed["staff"]],
        patients=[x for _, x in parsed["patients"]],
        fixed=[x for _, x in parsed["fixed"]],
        settings=parsed.get("settings", Settings()),
        feeds=parsed.get("feeds", FeedSettings()),
    )
    if not scenario.protocols:
        raise InvalidScenario([Issue("protocols", "must list at least one protocol")])
    if not scenario.rooms:
        raise InvalidScenario([Issue("rooms", "must list at least one room")])
    from scheduler.check import check_fixed  # the independent checker vets fixed appointments

    problems = check_fixed(scenario)
    if problems:
        raise InvalidScenario(problems)
    return scenario


def _without_bad_fields(model: Any, item: Any, error: ValidationError) -> Any:
    """The item re-validated without its broken top-level fields, or None if that fails too."""
    if not isinstance(item, dict):
        return None
    bad = {e["loc"][0] for e in error.errors() if e["loc"]}
    try:
        return TypeAdapter(model).validate_python({k: v for k, v in item.items()
                                                   if k not in bad})
    except ValidationError:
        return None


def _duplicates(section: str, items: list[tuple[int, Any]]) -> list[Issue]:
    counts = Counter(x.id for _, x in items)
    return [Issue(f"{section}[{i}].id", f"'{x.id}' is used more than once in {section}")
            for i, x in items if counts[x.id] > 1]


def cross_check(parsed: dict[str, Any]) -> list[Issue]:
    """References between sections: every id named must exist and fit."""
    issues: list[Issue] = []
    clinic = parsed.get("clinic")
    if clinic is not None:
        try:
            ZoneInfo(clinic.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            issues.append(Issue("clinic.timezone", f"'{clinic.timezone}' is not an IANA time "
                                                   "zone name such as America/New_York"))
    protocols = {p.id: p for _, p in parsed["protocols"]}
    rooms = {r.id: r for _, r in parsed["rooms"]}
    staff = {s.id: s for _, s in parsed["staff"]}
    patients = {p.id: p for _, p in parsed["patients"]}
    for section in _SECTIONS:
        issues += _duplicates(section, parsed[section])
    roles = {s.role for s in staff.values()}
    for i, p in parsed["protocols"]:
        names = [ph.name for ph in p.phases]
        where = f"protocols[{i}]"
        for j, name in enumerate(names):
            if names.count(name) > 1 and names.index(name) == j:
                issues.append(Issue(f"{where}.phases[{j}].name",
                                    f"phase '{name}' appears more than once"))
        keys = Counter(n.name for n in p.staff)
        for j, need in enumerate(p.staff):
            if keys[need.name] > 1:
                issues.append(Issue(f"{where}.staff[{j}].key", f"two staff entries share the "
                                    f"key '{need.name}'; give each a distinct key"))
            for phase in need.modes:
                if phase not in names:
                    issues.append(Issue(f"{where}.staff[{j}].modes.{phase}",
                                        f"'{phase}' is not a phase of {p.id} "
                                        f"(phases: {', '.join(names)})"))
            if staff and need.role not in roles:
                issues.append(Issue(f"{where}.staff[{j}].role",
                                    f"no staff member has the role '{need.role}'"))
        for j, rule in enumerate(p.on_site):
            for phase in rule.phases:
                if phase not in names:
                    issues.append(Issue(f"{where}.on_site[{j}].phases",
                                        f"'{phase}' is not a phase of {p.id} "
                                        f"(phases: {', '.join(names)})"))
        for j, rev in enumerate(p.revisions):
            if [ph.name for ph in rev.phases] != names:
                issues.append(Issue(f"{where}.revisions[{j}].phases", "must list the same phases "
                                    f"in the same order ({', '.join(names)}), with new minutes"))
        if p.dose_phase is not None and p.dose_phase not in names:
            issues.append(Issue(f"{where}.dose_phase", f"'{p.dose_phase}' is not a phase of "
                                                       f"{p.id}"))
        elif p.requires_rems:
            for path, phases in [(f"{where}.phases", p.phases), *(
                    (f"{where}.revisions[{j}].phases", r.phases)
                    for j, r in enumerate(p.revisions))]:
                problem = rems_problem(p, phases)
                if problem is not None:
                    issues.append(Issue(path, problem))
    for i, p in parsed["patients"]:
        where = f"patients[{i}]"
        if p.protocol not in protocols:
            issues.append(Issue(f"{where}.protocol", f"unknown protocol '{p.protocol}'"
                                f"{_choices(protocols)}"))
        for j, sid in enumerate(p.preferred_staff):
            if sid not in staff:
                issues.append(Issue(f"{where}.preferred_staff[{j}]", f"unknown staff '{sid}'"))
        if p.earliest and p.latest and p.latest < p.earliest:
            issues.append(Issue(f"{where}.latest", f"{p.latest} is before earliest "
                                                   f"{p.earliest}"))
        horizon = parsed.get("horizon")
        if horizon is not None and p.last_session and p.last_session >= horizon.start:
            issues.append(Issue(f"{where}.last_session", f"{p.last_session} is not before the "
                                f"horizon starts ({horizon.start}); list it under fixed"))
    for i, a in parsed["fixed"]:
        where = f"fixed[{i}]"
        if a.patient not in patients:
            issues.append(Issue(f"{where}.patient", f"unknown patient '{a.patient}'"))
        if a.room not in rooms:
            issues.append(Issue(f"{where}.room", f"unknown room '{a.room}'{_choices(rooms)}"))
        for key, sid in a.staff.items():
            if sid not in staff:
                issues.append(Issue(f"{where}.staff.{key}", f"unknown staff '{sid}'"))
        patient = patients.get(a.patient)
        protocol = protocols.get(patient.protocol) if patient else None
        if protocol is not None:
            wanted = {n.name for n in protocol.staff}
            for key in a.staff.keys() - wanted:
                issues.append(Issue(f"{where}.staff.{key}", f"{protocol.id} has no staff entry "
                                    f"'{key}' (entries: {', '.join(sorted(wanted)) or 'none'})"))
            for key in wanted - a.staff.keys():
                issues.append(Issue(f"{where}.staff", f"names nobody for '{key}'"))
    return issues


REMS_MONITORING_MINUTES = 120
"""Spravato REMS: patients are monitored at least 2 hours after dosing, a prescriber on site."""


def rems_problem(protocol: ProtocolSpec, phases: list[PhaseSpec]) -> str | None:
    """Why ``phases`` of a REMS protocol are unsafe, or None: at least 120 minutes of phases
    right after the dose phase, each covered by an on-site prescriber entry."""
    covered = {ph for rule in protocol.on_site if rule.role == "prescriber" for ph in rule.phases}
    names = [ph.name for ph in phases]
    if protocol.dose not in names:
        return None  # reported as an unknown dose phase
    minutes = 0
    for ph in phases[names.index(protocol.dose) + 1:]:
        if ph.name not in covered:
            break
        minutes += ph.minutes
    if minutes >= REMS_MONITORING_MINUTES:
        return None
    return (f"{protocol.id} requires the REMS, so the phases right after its dose phase "
            f"'{protocol.dose}' must keep at least {REMS_MONITORING_MINUTES} minutes with an "
            f"on-site prescriber (on_site role prescriber); they keep {minutes}")


def _choices(known: dict[str, Any]) -> str:
    if not known or len(known) > 12:
        return ""
    return f" (known: {', '.join(sorted(known))})"
