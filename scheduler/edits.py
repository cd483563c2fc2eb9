"""Edits of a scenario: re-planning events and what-if variants, one small function per kind.

Both are "change the scenario's data, then validate it again". :func:`edit_scenario` runs a list
of edits on a scenario; every problem of every edit is reported at once, each naming its edit
(``events[2].date``, ``variants[1] (Tuesday nurse).edits[0].add_staff.like``), and nothing is
changed unless all of them apply.

Events (contract v1 ``replan`` input, plus ``add_sessions`` and ``change_protocol``)::

    events:
      - {type: cancel, appointment: A-0003}                 # the patient still wants the session
      - {type: cancel, appointment: A-0004, drop: true}     # ... or no longer wants it
      - {type: staff_absent, staff: N2, date: 2026-12-09}   # optional from/to "HH:MM"
      - {type: room_closed, room: R1, date: 2026-12-09, from: "12:00", to: "17:00"}
      - {type: patient_unavailable, patient: P004, date: 2026-12-10}
      - {type: add_patient, patient: {id: P900, protocol: esk-84, sessions: 1, priority: 5}}
      - {type: add_sessions, patient: P010, sessions: 1}
      - {type: change_protocol, protocol: esk-84, from: 2026-12-09, minutes: {monitoring: 150}}

Variants (contract v1 ``whatif`` input)::

    variants:
      - name: one more chair
        edits: [{add_room: {like: R2, id: R9}}]
      - name: ratio 1:5, Saturday open
        edits: [{set: {staff: N1, max_patients: 5}}, {set: {clinic: {hours: {sat: [...]}}}}]
      - name: demand +20%
        edits: [{scale_demand: 1.2}]

and, beyond the contract's kinds (``add_room``, ``add_staff``, ``remove_room``,
``remove_staff``, ``set``, ``scale_demand``)::

      - {add_chairs: {room: BAY, chairs: 1}}                        # negative: fewer chairs
      - {add_shift: {staff: N4, shifts: {sat: [["09:00", "14:00"]]}}}
      - {remove_shift: {staff: N7, days: [wed, fri]}}
      - {add_hours: {days: [sat], hours: [["09:00", "14:00"]], staff: [N1, D1], rooms: [R4]}}
      - {set_role: {role: nurse, max_patients: 5}}
      - {set_minutes: {protocol: esk-84, minutes: {monitoring: 150}, turnover_minutes: 15}}
      - {shift_mix: {share: 0.3, from: {protocol: esk-84, min_gap_days: 5}, every_weeks: 2}}
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from scheduler.errors import InvalidInput, Issue
from scheduler.model import (
    WEEKDAYS,
    Clock,
    Id,
    Minutes,
    Outage,
    PatientSpec,
    PhaseSpec,
    ProtocolSpec,
    Scenario,
    Spans,
    Weekday,
    WeekHours,
    clock_minutes,
)
from scheduler.validate import issues_from, rems_problem, validate_item, validate_scenario

__all__ = [
    "Edit",
    "EditContext",
    "Event",
    "Variant",
    "apply_edits",
    "edit_scenario",
    "parse_events",
    "parse_variants",
    "scenario_data",
]


# ============================================================================ the edits' shapes
class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def describe(self) -> str:
        """The edit in a clerk's words (``changes.json`` reasons, what-if tables)."""
        return type(self).__name__


class Cancel(_Edit):
    type: Literal["cancel"]
    appointment: Id
    drop: bool = False

    def describe(self) -> str:
        return (f"{self.appointment} cancelled" + (" (session no longer wanted)" if self.drop
                                                   else " (to be rebooked)"))


class _Dated(_Edit):
    date: date
    from_: Clock | None = Field(default=None, alias="from")
    to: Clock | None = None

    def outage(self) -> Outage:
        return Outage.model_validate({"date": self.date, "from": self.from_, "to": self.to})

    @model_validator(mode="after")
    def _ordered(self) -> _Dated:
        self.outage()  # raises "ends at …, not after it starts at …"
        return self

    def when(self) -> str:
        part = f" {self.from_ or '00:00'}–{self.to or '24:00'}" if self.from_ or self.to else ""
        return f"{self.date}{part}"


class StaffAbsent(_Dated):
    type: Literal["staff_absent"]
    staff: Id

    def describe(self) -> str:
        return f"{self.staff} absent {self.when()}"


class RoomClosed(_Dated):
    type: Literal["room_closed"]
    room: Id

    def describe(self) -> str:
        return f"room {self.room} out of service {self.when()}"


class PatientUnavailable(_Dated):
    type: Literal["patient_unavailable"]
    patient: Id

    def describe(self) -> str:
        return f"{self.patient} unavailable {self.when()}"


class AddPatient(_Edit):
    type: Literal["add_patient"]
    patient: PatientSpec

    def describe(self) -> str:
        return f"new patient {self.patient.id}"


class AddSessions(_Edit):
    type: Literal["add_sessions"]
    patient: Id
    sessions: Annotated[int, Field(ge=1, le=14)] = 1

    def describe(self) -> str:
        return f"{self.patient} wants {self.sessions} more session(s)"


class ChangeProtocol(_Edit):
    type: Literal["change_protocol"]
    protocol: Id
    from_: date = Field(alias="from")
    minutes: dict[str, Annotated[int, Field(ge=1, le=24 * 60)]] = {}
    turnover_minutes: Minutes | None = None

    def describe(self) -> str:
        what = ", ".join(f"{k} {v} min" for k, v in self.minutes.items())
        if self.turnover_minutes is not None:
            what += (", " if what else "") + f"turnover {self.turnover_minutes} min"
        return f"{self.protocol} durations from {self.from_}: {what}"


class _Like(_Edit):
    """A copy of an existing item under a new id, any field overridden."""

    model_config = ConfigDict(extra="allow", frozen=True)
    like: Id
    id: Id

    def overrides(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AddRoom(_Edit):
    add_room: _Like

    def describe(self) -> str:
        return f"room {self.add_room.id} like {self.add_room.like}"


class AddStaff(_Edit):
    add_staff: _Like

    def describe(self) -> str:
        return f"staff {self.add_staff.id} like {self.add_staff.like}"


class RemoveRoom(_Edit):
    remove_room: Id

    def describe(self) -> str:
        return f"without room {self.remove_room}"


class RemoveStaff(_Edit):
    remove_staff: Id

    def describe(self) -> str:
        return f"without {self.remove_staff}"


class Set(_Edit):
    """Fields of the clinic (``{clinic: {...}}``), or of a room, staff member, protocol or
    patient named by id (``{staff: N1, max_patients: 5}``); mappings merge key by key (hours
    and shifts by weekday), everything else is replaced."""

    set: dict[str, Any]

    @property
    def target(self) -> str:
        """Which section it names: ``clinic``, or the key whose value is an id. A protocol's
        own ``staff`` list is a field, not a target: ``{protocol: kap, staff: [...]}``."""
        if "clinic" in self.set:
            return "clinic"
        # a patient's protocol and a protocol's staff are fields: the most specific id names
        # the target (patient, then protocol, then room or staff)
        for key in ("patient", "protocol"):
            if isinstance(self.set.get(key), str):
                return key
        named = [k for k in ("room", "staff") if isinstance(self.set.get(k), str)]
        return named[0] if len(named) == 1 else ""

    @model_validator(mode="after")
    def _one_target(self) -> Set:
        targets = [k for k in ("clinic", *_SECTIONS) if k in self.set]
        if not self.target or (self.target == "clinic" and len(targets) != 1):
            raise ValueError("names exactly one of clinic, room, staff, protocol or patient")
        if self.target == "clinic" and (len(self.set) != 1 or not isinstance(self.set["clinic"],
                                                                             dict)):
            raise ValueError("clinic takes a mapping of the clinic's fields")
        return self

    def describe(self) -> str:
        return "set " + ", ".join(f"{k} {v}" for k, v in self.set.items())


class ScaleDemand(_Edit):
    scale_demand: Annotated[float, Field(gt=0, le=10)]

    def describe(self) -> str:
        return f"demand ×{self.scale_demand:g}"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Chairs(_Spec):
    room: Id
    chairs: int = Field(description="chairs added (negative: removed); the room keeps >= 1")


class AddChairs(_Edit):
    """Chairs added to (or, negative, taken from) one room: ``{room: BAY, chairs: 1}``."""

    add_chairs: _Chairs

    def describe(self) -> str:
        n = self.add_chairs.chairs
        return f"{n:+d} chair{'s' if abs(n) != 1 else ''} in {self.add_chairs.room}"


class _Shifts(_Spec):
    staff: Id
    shifts: WeekHours = Field(min_length=1)


class AddShift(_Edit):
    """Shift intervals added to one person's week (joined with what they work already)."""

    add_shift: _Shifts

    def describe(self) -> str:
        return f"{self.add_shift.staff} also works {_week_text(self.add_shift.shifts)}"


class _Days(_Spec):
    staff: Id
    days: list[Weekday] = Field(min_length=1)


class RemoveShift(_Edit):
    """One person no longer works on some weekdays: ``{staff: N2, days: [fri]}``."""

    remove_shift: _Days

    def describe(self) -> str:
        return f"{self.remove_shift.staff} off on {', '.join(self.remove_shift.days)}"


class _Hours(_Spec):
    days: list[Weekday] = Field(min_length=1)
    hours: Spans = Field(min_length=1)
    staff: list[Id] = []
    rooms: list[Id] = []


class AddHours(_Edit):
    """The clinic opens more (Saturday mornings, evenings): the intervals are added to the
    clinic's hours on ``days``, to the shifts of the ``staff`` who work them, and to the own
    hours of the listed ``rooms`` (rooms without own hours follow the clinic anyway)."""

    add_hours: _Hours

    def describe(self) -> str:
        h = self.add_hours
        spans = ", ".join(f"{a}–{b}" for a, b in h.hours)
        who = f" with {', '.join(h.staff)}" if h.staff else ""
        return f"open {', '.join(h.days)} {spans}{who}"


class SetRole(_Edit):
    """Fields of every staff member of a role: ``{role: nurse, max_patients: 5}``."""

    set_role: dict[str, Any]

    @model_validator(mode="after")
    def _has_role(self) -> SetRole:
        if not isinstance(self.set_role.get("role"), str):
            raise ValueError("names the role whose staff change (role: nurse)")
        if len(self.set_role) < 2:
            raise ValueError("names at least one field to set besides role")
        return self

    def describe(self) -> str:
        fields = ", ".join(f"{k} {v}" for k, v in self.set_role.items() if k != "role")
        return f"every {self.set_role['role']}: {fields}"


class _Minutes(_Spec):
    protocol: Id | None = None
    minutes: dict[str, Annotated[int, Field(ge=1, le=24 * 60)]] = {}
    turnover_minutes: Minutes | None = None

    @model_validator(mode="after")
    def _something(self) -> _Minutes:
        if not self.minutes and self.turnover_minutes is None:
            raise ValueError("names phase minutes or turnover_minutes to change")
        return self


class SetMinutes(_Edit):
    """Phase lengths and turnover of one protocol (or, without ``protocol``, of every protocol
    that has the phase): ``{protocol: esk-84, minutes: {monitoring: 150}}``."""

    set_minutes: _Minutes

    def describe(self) -> str:
        m = self.set_minutes
        what = [f"{k} {v} min" for k, v in m.minutes.items()]
        if m.turnover_minutes is not None:
            what.append(f"turnover {m.turnover_minutes} min")
        return f"{m.protocol or 'every protocol'}: {', '.join(what)}"


_MATCHABLE = ("protocol", "priority", "sessions", "min_gap_days", "rems_enrolled")


class _Mix(_Spec):
    share: Annotated[float, Field(gt=0, le=1)]
    from_: dict[str, Any] = Field(alias="from", min_length=1)
    to: dict[str, Any] = {}
    every_weeks: Annotated[int, Field(ge=2, le=8)] | None = None

    @model_validator(mode="after")
    def _fields(self) -> _Mix:
        unknown = sorted(set(self.from_) - set(_MATCHABLE))
        if unknown:
            raise ValueError(f"from matches patients by {', '.join(_MATCHABLE)}; not by "
                             f"{', '.join(unknown)}")
        if not self.to and self.every_weeks is None:
            raise ValueError("says what changes: to (patient fields) or every_weeks")
        if "id" in self.to:
            raise ValueError("to cannot change a patient's id")
        return self


class ShiftMix(_Edit):
    """A share of the patients that match ``from`` change: fields set from ``to`` (another
    protocol, priority, ...) and/or a cadence of one session ``every_weeks`` weeks."""

    shift_mix: _Mix

    def describe(self) -> str:
        m = self.shift_mix
        who = ", ".join(f"{k} {v}" for k, v in m.from_.items())
        what = [f"{k} {v}" for k, v in m.to.items()]
        if m.every_weeks:
            what.append(f"every {m.every_weeks} weeks")
        return f"{m.share:.0%} of patients with {who} to {', '.join(what)}"


_SECTIONS = {"room": "rooms", "staff": "staff", "protocol": "protocols", "patient": "patients"}

Event = Annotated[
    Cancel | StaffAbsent | RoomClosed | PatientUnavailable | AddPatient | AddSessions
    | ChangeProtocol,
    Field(discriminator="type"),
]
Edit = (Event | AddRoom | AddStaff | RemoveRoom | RemoveStaff | Set | ScaleDemand | AddChairs
        | AddShift | RemoveShift | AddHours | SetRole | SetMinutes | ShiftMix)
_EVENT_TAGS = ("cancel", "staff_absent", "room_closed", "patient_unavailable", "add_patient",
               "add_sessions", "change_protocol")
_VARIANT_KINDS: dict[str, type[_Edit]] = {
    "add_room": AddRoom, "add_staff": AddStaff, "remove_room": RemoveRoom,
    "remove_staff": RemoveStaff, "set": Set, "scale_demand": ScaleDemand,
    "add_chairs": AddChairs, "add_shift": AddShift, "remove_shift": RemoveShift,
    "add_hours": AddHours, "set_role": SetRole, "set_minutes": SetMinutes,
    "shift_mix": ShiftMix,
}


@dataclass(frozen=True)
class Variant:
    name: str
    edits: list[Any]
    path: str = ""
    """Where it stands in its file, for messages: ``variants[1] (Tuesday nurse)``."""
    positions: tuple[int, ...] = ()
    """Each edit's index in the file's list (an edit that did not parse leaves a gap)."""

    def located(self) -> list[tuple[str, Any]]:
        """The edits, each with its path (``variants[1] (Tuesday nurse).edits[0]``)."""
        where = self.positions or range(len(self.edits))
        return [(f"{self.path}.edits[{j}]", e) for j, e in zip(where, self.edits, strict=True)]


# ============================================================================ parsing
def _event_issues(exc: ValidationError, where: str) -> list[Issue]:
    issues = []
    for issue in issues_from(exc, where):
        for tag in _EVENT_TAGS:  # pydantic names the union member; the user did not
            issue = Issue(issue.path.replace(f"{where}.{tag}", where), issue.message)
        issues.append(issue)
    return issues


def _parse_event(raw: Any, where: str) -> tuple[Any, list[Issue]]:
    """One event; an ``add_patient`` whose patient is broken still has its references checked
    (an unknown protocol and negative sessions are both reported)."""
    try:
        return TypeAdapter(Event).validate_python(raw), []
    except ValidationError as exc:
        issues = _event_issues(exc, where)
    if isinstance(raw, dict) and raw.get("type") == "add_patient":
        partial, _ = validate_item(PatientSpec, raw.get("patient"), f"{where}.patient")
        if partial is not None:
            return AddPatient.model_construct(type="add_patient", patient=partial), issues
    return None, issues


def parse_events(data: Any) -> tuple[list[Any], list[Issue]]:
    """The events of an events document, and the problems of those that do not parse."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return [], [Issue("events", "must be a mapping with an 'events' list")]
    events, issues = [], []
    for i, raw in enumerate(data["events"]):
        event, problems = _parse_event(raw, f"events[{i}]")
        events.append(event)
        issues += problems
    return events, issues


def parse_variants(data: Any) -> tuple[list[Variant], list[Issue]]:
    """The variants of a variants document (each a name and its edits), and every problem."""
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        return [], [Issue("variants", "must be a mapping with a 'variants' list")]
    variants, issues = [], []
    names: set[str] = set()
    for k, raw in enumerate(data["variants"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            issues.append(Issue(f"variants[{k}].name", "every variant needs a name"))
            continue
        name = raw["name"]
        where = variant_path(k, name)
        if name in names or name == "base":
            issues.append(Issue(f"{where}.name", "is used already (base names the scenario "
                                                 "itself)"))
        names.add(name)
        unknown = set(raw) - {"name", "edits"}
        issues += [Issue(f"{where}.{key}", "is not a field of a variant (name, edits)")
                   for key in sorted(unknown)]
        edits, positions = [], []
        for j, edit in enumerate(raw.get("edits") or []):
            kind = next(iter(edit)) if isinstance(edit, dict) and len(edit) == 1 else None
            if kind not in _VARIANT_KINDS:
                issues.append(Issue(f"{where}.edits[{j}]", "must be one of "
                                    f"{', '.join(_VARIANT_KINDS)} (a mapping with one key)"))
                continue
            try:
                edits.append(_VARIANT_KINDS[kind].model_validate(edit))
                positions.append(j)
            except ValidationError as exc:
                issues += issues_from(exc, f"{where}.edits[{j}]")
        variants.append(Variant(name, edits, where, tuple(positions)))
    return variants, issues


def variant_path(k: int, name: str) -> str:
    return f"variants[{k}] ({name})"


# ============================================================================ applying
@dataclass
class EditContext:
    """What edits may need besides the scenario: the schedule patients know (re-planning)."""

    scenario: Scenario
    known: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)
    """Appointment id -> (patient, start, end) of the previous schedule."""
    now: datetime | None = None
    cancelled: set[str] = field(default_factory=set)


Data = dict[str, Any]
EditFn = Callable[[Data, Any, EditContext], list[Issue]]


def _find(data: Data, section: str, ident: str) -> Data | None:
    return next((x for x in data[section] if x.get("id") == ident), None)


def _unknown(data: Data, section: str, ident: str, path: str, what: str) -> list[Issue]:
    if _find(data, section, ident) is not None:
        return []
    known = sorted(x["id"] for x in data[section])
    hint = f" (known: {', '.join(known)})" if 0 < len(known) <= 12 else ""
    return [Issue(path, f"unknown {what} '{ident}'{hint}")]


def _in_horizon(day: date, ctx: EditContext, path: str) -> list[Issue]:
    first = ctx.scenario.horizon.start
    last = first + timedelta(days=ctx.scenario.horizon.days - 1)
    if first <= day <= last:
        return []
    return [Issue(path, f"{day} is outside the horizon ({first} to {last}); check the year")]


def _cancel(data: Data, e: Cancel, ctx: EditContext) -> list[Issue]:
    """The appointment is freed; its patient still wants the session unless ``drop``."""
    if e.appointment not in ctx.known:
        return [Issue("appointment", f"no appointment '{e.appointment}' in the previous "
                                     "schedule")]
    patient, start, end = ctx.known[e.appointment]
    if ctx.now is not None and start < ctx.now:
        return [Issue("appointment", f"{e.appointment} started before --now and cannot "
                                     "change")]
    ctx.cancelled.add(e.appointment)
    p = _find(data, "patients", patient)
    if p is None:
        return []
    if e.drop:
        p["sessions"] = max(0, p.get("sessions", 1) - 1)
    else:  # still wanted, but not at that time
        tz = ZoneInfo(ctx.scenario.clinic.timezone)
        lo, hi = start.astimezone(tz), end.astimezone(tz)
        p.setdefault("unavailable", []).append(
            {"date": str(lo.date()), "from": f"{lo:%H:%M}",
             "to": f"{hi:%H:%M}" if hi.date() == lo.date() else "24:00"})
    return []


def _staff_absent(data: Data, e: StaffAbsent, ctx: EditContext) -> list[Issue]:
    """A whole day becomes ``time_off``; part of one an ``absences`` entry."""
    issues = _unknown(data, "staff", e.staff, "staff", "staff") + _in_horizon(e.date, ctx,
                                                                               "date")
    if not issues:
        person = _find(data, "staff", e.staff)
        assert person is not None
        if e.from_ is None and e.to is None:
            person.setdefault("time_off", []).append(str(e.date))
        else:
            person.setdefault("absences", []).append(
                e.outage().model_dump(mode="json", by_alias=True))
    return issues


def _room_closed(data: Data, e: RoomClosed, ctx: EditContext) -> list[Issue]:
    issues = _unknown(data, "rooms", e.room, "room", "room") + _in_horizon(e.date, ctx, "date")
    if not issues:
        room = _find(data, "rooms", e.room)
        assert room is not None
        room.setdefault("closures", []).append(e.outage().model_dump(mode="json", by_alias=True))
    return issues


def _patient_unavailable(data: Data, e: PatientUnavailable, ctx: EditContext) -> list[Issue]:
    issues = (_unknown(data, "patients", e.patient, "patient", "patient")
              + _in_horizon(e.date, ctx, "date"))
    if not issues:
        p = _find(data, "patients", e.patient)
        assert p is not None
        p.setdefault("unavailable", []).append(e.outage().model_dump(mode="json", by_alias=True))
    return issues


def _add_patient(data: Data, e: AddPatient, ctx: EditContext) -> list[Issue]:
    issues = []
    if _find(data, "patients", e.patient.id) is not None:
        issues.append(Issue("patient.id", f"patient '{e.patient.id}' exists already; use "
                                          "add_sessions"))
    issues += _unknown(data, "protocols", e.patient.protocol, "patient.protocol", "protocol")
    for j, sid in enumerate(e.patient.preferred_staff):
        issues += _unknown(data, "staff", sid, f"patient.preferred_staff[{j}]", "staff")
    if not issues:
        data["patients"].append(e.patient.model_dump(mode="json", by_alias=True,
                                                     exclude_defaults=True))
    return issues


def _add_sessions(data: Data, e: AddSessions, ctx: EditContext) -> list[Issue]:
    issues = _unknown(data, "patients", e.patient, "patient", "patient")
    if not issues:
        p = _find(data, "patients", e.patient)
        assert p is not None
        p["sessions"] = p.get("sessions", 1) + e.sessions
    return issues


def _change_protocol(data: Data, e: ChangeProtocol, ctx: EditContext) -> list[Issue]:
    """New durations from a date on, as a ``revisions`` entry of the protocol."""
    issues = _unknown(data, "protocols", e.protocol, "protocol", "protocol")
    if issues:
        return issues
    raw = _find(data, "protocols", e.protocol)
    assert raw is not None
    protocol = ProtocolSpec.model_validate(raw)
    names = [ph.name for ph in protocol.phases]
    issues += [Issue(f"minutes.{phase}", f"'{phase}' is not a phase of {protocol.id} "
                                         f"({', '.join(names)})")
               for phase in sorted(e.minutes.keys() - set(names))]
    last = ctx.scenario.horizon.start + timedelta(days=ctx.scenario.horizon.days - 1)
    if e.from_ > last:
        issues.append(Issue("from", f"{e.from_} is after the horizon ends ({last}); check "
                                    "the year"))
    if ctx.now is not None:
        today = ctx.now.astimezone(ZoneInfo(ctx.scenario.clinic.timezone)).date()
        if e.from_ <= today:
            issues.append(Issue("from", f"{e.from_} is not after --now's date ({today}): "
                                        "sessions that started keep their durations; use "
                                        f"{today + timedelta(days=1)} or later"))
    in_force, turnover = protocol.on(e.from_)  # earlier revisions stay in force
    phases = [PhaseSpec(name=ph.name, minutes=e.minutes.get(ph.name, ph.minutes))
              for ph in in_force]
    if protocol.requires_rems and (problem := rems_problem(protocol, phases)) is not None:
        issues.append(Issue("minutes", problem))
    if not issues:
        raw.setdefault("revisions", []).append(
            {"from": str(e.from_), "phases": [p.model_dump() for p in phases],
             "turnover_minutes": (e.turnover_minutes if e.turnover_minutes is not None
                                  else turnover)})
    return issues


def _like(data: Data, section: str, spec: _Like, what: str) -> list[Issue]:
    issues = _unknown(data, section, spec.like, "like", what)
    if _find(data, section, spec.id) is not None:
        issues.append(Issue("id", f"{what} '{spec.id}' exists already"))
    if not issues:
        original = _find(data, section, spec.like)
        assert original is not None
        data[section].append(_merged(copy.deepcopy(original), {"id": spec.id,
                                                               **spec.overrides()}))
    return issues


def _add_room(data: Data, e: AddRoom, ctx: EditContext) -> list[Issue]:
    """A room like an existing one (features, chairs, hours), under a new id."""
    return [_under("add_room", i) for i in _like(data, "rooms", e.add_room, "room")]


def _add_staff(data: Data, e: AddStaff, ctx: EditContext) -> list[Issue]:
    """A staff member like an existing one (role, qualifications, shifts), under a new id."""
    return [_under("add_staff", i) for i in _like(data, "staff", e.add_staff, "staff")]


def _remove_room(data: Data, e: RemoveRoom, ctx: EditContext) -> list[Issue]:
    issues = _unknown(data, "rooms", e.remove_room, "remove_room", "room")
    if not issues:
        data["rooms"] = [r for r in data["rooms"] if r["id"] != e.remove_room]
    return issues


def _remove_staff(data: Data, e: RemoveStaff, ctx: EditContext) -> list[Issue]:
    """The person goes, and with them every patient's preference for them."""
    issues = _unknown(data, "staff", e.remove_staff, "remove_staff", "staff")
    if not issues:
        data["staff"] = [s for s in data["staff"] if s["id"] != e.remove_staff]
        for p in data["patients"]:
            if e.remove_staff in p.get("preferred_staff", []):
                p["preferred_staff"] = [s for s in p["preferred_staff"] if s != e.remove_staff]
    return issues


def _set(data: Data, e: Set, ctx: EditContext) -> list[Issue]:
    if e.target == "clinic":
        data["clinic"] = _merged(data["clinic"], e.set["clinic"])
        return []
    kind = e.target
    section, ident = _SECTIONS[kind], str(e.set[kind])
    issues = _unknown(data, section, ident, f"set.{kind}", kind)
    if not issues:
        target = _find(data, section, ident)
        assert target is not None
        _merged(target, {k: v for k, v in e.set.items() if k != kind})
    return issues


def _scale_demand(data: Data, e: ScaleDemand, ctx: EditContext) -> list[Issue]:
    """Wanted sessions times the factor, rounded: more by synthetic patients cloned evenly
    from the base's own (same mix of protocols, windows and priorities), fewer by leaving
    out patients evenly (never one with a fixed appointment)."""
    patients = sorted(data["patients"], key=lambda p: p["id"])
    wanted = sum(p.get("sessions", 1) for p in patients)
    target = round(wanted * e.scale_demand)
    if target > wanted and patients:
        taken = {p["id"] for p in patients}
        n = 0
        while wanted < target:
            source = patients[(n * 7919) % len(patients)]  # a stride spreads the mix
            n += 1
            clone = {**copy.deepcopy(source), "id": _fresh(f"{source['id']}-x{n}", taken)}
            clone.pop("name", None)
            taken.add(clone["id"])
            data["patients"].append(clone)
            wanted += clone.get("sessions", 1)
    elif target < wanted:
        pinned = {f["patient"] for f in data.get("fixed", [])}
        movable = [p for p in patients if p["id"] not in pinned]
        step = max(1, math.floor(len(movable) / max(1, len(movable) * (1 - e.scale_demand))))
        dropped: set[str] = set()
        for p in movable[::step]:
            if wanted <= target:
                break
            dropped.add(p["id"])
            wanted -= p.get("sessions", 1)
        data["patients"] = [p for p in data["patients"] if p["id"] not in dropped]
    return []


def _add_chairs(data: Data, e: AddChairs, ctx: EditContext) -> list[Issue]:
    spec = e.add_chairs
    issues = _unknown(data, "rooms", spec.room, "add_chairs.room", "room")
    if not issues:
        room = _find(data, "rooms", spec.room)
        assert room is not None
        had = int(room.get("chairs", 1))
        if had + spec.chairs < 1:
            return [Issue("add_chairs.chairs", f"room {spec.room} has {had} chair(s), so it "
                                               f"cannot lose {-spec.chairs}; remove_room "
                                               "takes a whole room away")]
        room["chairs"] = had + spec.chairs
    return issues


def _add_shift(data: Data, e: AddShift, ctx: EditContext) -> list[Issue]:
    """Intervals joined with the person's own (overlapping or touching ones become one)."""
    spec = e.add_shift
    issues = _unknown(data, "staff", spec.staff, "add_shift.staff", "staff")
    if not issues:
        person = _find(data, "staff", spec.staff)
        assert person is not None
        _extend(person.setdefault("shifts", {}), spec.shifts)
    return issues


def _remove_shift(data: Data, e: RemoveShift, ctx: EditContext) -> list[Issue]:
    spec = e.remove_shift
    issues = _unknown(data, "staff", spec.staff, "remove_shift.staff", "staff")
    if issues:
        return issues
    person = _find(data, "staff", spec.staff)
    assert person is not None
    shifts = person.setdefault("shifts", {})
    for j, day in enumerate(spec.days):
        if day not in shifts:
            worked = ", ".join(d for d in WEEKDAYS if d in shifts) or "no day"
            issues.append(Issue(f"remove_shift.days[{j}]", f"{spec.staff} has no shift on "
                                                           f"{day} (works {worked})"))
    if not issues:
        for day in spec.days:
            del shifts[day]
    return issues


def _add_hours(data: Data, e: AddHours, ctx: EditContext) -> list[Issue]:
    """Clinic hours, the listed staff's shifts and the listed rooms' own hours grow."""
    spec = e.add_hours
    issues: list[Issue] = []
    for j, sid in enumerate(spec.staff):
        issues += _unknown(data, "staff", sid, f"add_hours.staff[{j}]", "staff")
    for j, rid in enumerate(spec.rooms):
        issues += _unknown(data, "rooms", rid, f"add_hours.rooms[{j}]", "room")
    if issues:
        return issues
    week: dict[Weekday, list[tuple[str, str]]] = {d: list(spec.hours) for d in spec.days}
    _extend(data["clinic"].setdefault("hours", {}), week)
    for sid in spec.staff:
        person = _find(data, "staff", sid)
        assert person is not None
        _extend(person.setdefault("shifts", {}), week)
    for rid in spec.rooms:
        room = _find(data, "rooms", rid)
        assert room is not None
        if room.get("hours") is not None:  # otherwise it follows the clinic's hours
            _extend(room["hours"], week)
    return issues


def _set_role(data: Data, e: SetRole, ctx: EditContext) -> list[Issue]:
    role = e.set_role["role"]
    members = [s for s in data["staff"] if s.get("role") == role]
    if not members:
        roles = sorted({str(s.get("role")) for s in data["staff"]})
        return [Issue("set_role.role", f"no staff member has role '{role}' (roles: "
                                       f"{', '.join(roles) or 'none'})")]
    for person in members:
        _merged(person, {k: v for k, v in e.set_role.items() if k != "role"})
    return []


def _set_minutes(data: Data, e: SetMinutes, ctx: EditContext) -> list[Issue]:
    """New phase lengths (and turnover) for the whole horizon; a REMS protocol must keep its
    120 covered minutes after dosing."""
    spec = e.set_minutes
    if spec.protocol is not None:
        issues = _unknown(data, "protocols", spec.protocol, "set_minutes.protocol", "protocol")
        if issues:
            return issues
        targets = [p for p in data["protocols"] if p["id"] == spec.protocol]
    else:
        targets = list(data["protocols"])
    issues = []
    for phase in spec.minutes:
        if not any(ph["name"] == phase for p in targets for ph in p["phases"]):
            names = sorted({ph["name"] for p in targets for ph in p["phases"]})
            issues.append(Issue(f"set_minutes.minutes.{phase}",
                                f"'{phase}' is not a phase of {spec.protocol or 'any protocol'}"
                                f" ({', '.join(names)})"))
    changed = []
    for raw in targets:
        protocol = ProtocolSpec.model_validate(raw)
        phases = [PhaseSpec(name=ph.name, minutes=spec.minutes.get(ph.name, ph.minutes))
                  for ph in protocol.phases]
        if protocol.requires_rems and (problem := rems_problem(protocol, phases)) is not None:
            issues.append(Issue("set_minutes.minutes", problem))
        changed.append((raw, phases))
    if not issues:
        for raw, phases in changed:
            raw["phases"] = [p.model_dump() for p in phases]
            for revision in raw.get("revisions", []):  # the whole horizon, revised days too
                revision["phases"] = [{**ph, "minutes": spec.minutes.get(ph["name"],
                                                                         ph["minutes"])}
                                      for ph in revision["phases"]]
                if spec.turnover_minutes is not None:
                    revision["turnover_minutes"] = spec.turnover_minutes
            if spec.turnover_minutes is not None:
                raw["turnover_minutes"] = spec.turnover_minutes
    return issues


def _shift_mix(data: Data, e: ShiftMix, ctx: EditContext) -> list[Issue]:
    """A share of the matching patients, spread evenly over them (never one with a fixed
    appointment), take the fields of ``to``; with ``every_weeks`` they come once every that
    many weeks: ``min_gap_days`` becomes 7 × weeks, and the sessions wanted in the horizon
    follow from the last session (patients without one are spread evenly over the weeks of
    the cycle, so only some of them are due in a one-week horizon)."""
    spec = e.shift_mix
    issues = [Issue(f"shift_mix.to.{k}", "is not a field of a patient")
              for k in sorted(set(spec.to) - set(PatientSpec.model_fields))]
    if "protocol" in spec.to:
        issues += _unknown(data, "protocols", str(spec.to["protocol"]), "shift_mix.to.protocol",
                           "protocol")
    if "protocol" in spec.from_:
        issues += _unknown(data, "protocols", str(spec.from_["protocol"]),
                           "shift_mix.from.protocol", "protocol")
    if issues:
        return issues
    pinned = {f["patient"] for f in data.get("fixed", [])}
    matched = [p for p in sorted(data["patients"], key=lambda p: p["id"])
               if p["id"] not in pinned
               and all(_patient_field(p, k) == v for k, v in spec.from_.items())]
    n = round(len(matched) * spec.share)
    if n == 0:
        who = ", ".join(f"{k} {v}" for k, v in spec.from_.items())
        return [Issue("shift_mix.share", f"{spec.share:.0%} of the {len(matched)} patient(s) "
                                         f"with {who} (none with a fixed appointment) is "
                                         "nobody")]
    chosen = [matched[math.floor((i + 0.5) * len(matched) / n)] for i in range(n)]
    for cohort, p in enumerate(chosen):
        _merged(p, spec.to)
        if spec.every_weeks is not None:
            _cadence(p, spec.every_weeks, cohort, ctx.scenario)
    return []


def _patient_field(p: Data, key: str) -> Any:
    return p[key] if key in p else PatientSpec.model_fields[key].default


def _cadence(p: Data, weeks: int, cohort: int, scenario: Scenario) -> None:
    """One session every ``weeks`` weeks from the patient's last session on."""
    start = scenario.horizon.start
    end = start + timedelta(days=scenario.horizon.days)
    gap = 7 * weeks
    last = (date.fromisoformat(p["last_session"]) if p.get("last_session")
            else start - timedelta(days=7 * (weeks - cohort % weeks)))
    due = max(last + timedelta(days=gap), start)
    sessions = 0 if due >= end else 1 + (end - timedelta(days=1) - due).days // gap
    p.update(min_gap_days=gap, last_session=str(last),
             sessions=min(int(_patient_field(p, "sessions")), sessions))


def _extend(week: Data, more: Mapping[Weekday, Sequence[tuple[str, str]]]) -> None:
    """``week`` (weekday -> intervals) with ``more`` joined in, overlapping or touching
    intervals made one."""
    for day, spans in more.items():
        joined: list[list[str]] = []
        for a, b in sorted([*week.get(day, []), *spans], key=lambda s: clock_minutes(s[0])):
            if joined and clock_minutes(a) <= clock_minutes(joined[-1][1]):
                if clock_minutes(b) > clock_minutes(joined[-1][1]):
                    joined[-1][1] = b
            else:
                joined.append([a, b])
        week[day] = joined


def _week_text(week: WeekHours) -> str:
    return "; ".join(f"{d} " + ", ".join(f"{a}–{b}" for a, b in week[d])
                     for d in WEEKDAYS if d in week)


def _fresh(ident: str, taken: set[str]) -> str:
    while ident in taken:
        ident += "x"
    return ident


def _merged(target: Data, changes: Data) -> Data:
    """``target`` with ``changes`` merged in place: mappings key by key, the rest replaced."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merged(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _under(prefix: str, issue: Issue) -> Issue:
    return Issue(f"{prefix}.{issue.path}", issue.message)


_APPLY: dict[type, EditFn] = {
    Cancel: _cancel, StaffAbsent: _staff_absent, RoomClosed: _room_closed,
    PatientUnavailable: _patient_unavailable, AddPatient: _add_patient,
    AddSessions: _add_sessions, ChangeProtocol: _change_protocol,
    AddRoom: _add_room, AddStaff: _add_staff, RemoveRoom: _remove_room,
    RemoveStaff: _remove_staff, Set: _set, ScaleDemand: _scale_demand,
    AddChairs: _add_chairs, AddShift: _add_shift, RemoveShift: _remove_shift,
    AddHours: _add_hours, SetRole: _set_role, SetMinutes: _set_minutes, ShiftMix: _shift_mix,
}


def apply_edits(data: Data, edits: list[tuple[str, Any]], ctx: EditContext) -> list[Issue]:
    """Apply each ``(path, edit)`` to ``data`` in order; every problem, each under its path.
    An edit with a problem changes nothing (the caller discards ``data`` on any problem)."""
    issues: list[Issue] = []
    for path, edit in edits:
        issues += [Issue(f"{path}.{i.path}" if i.path else path, i.message)
                   for i in _APPLY[type(edit)](data, edit, ctx)]
    return issues


def scenario_data(scenario: Scenario) -> Data:
    """A scenario as the plain data edits work on (every section present)."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for section in ("rooms", "staff", "patients", "protocols", "fixed"):
        data.setdefault(section, [])
    return data


def edit_scenario(scenario: Scenario, edits: list[tuple[str, Any]],
                  ctx: EditContext | None = None) -> Scenario:
    """The scenario after ``edits`` (each ``(path, edit)``), validated again.

    Raises :class:`InvalidInput` with every problem of every edit, or, when the edits apply but
    leave an invalid scenario, the problems of that scenario introduced by ``after the edits``.
    """
    data = scenario_data(scenario)
    issues = apply_edits(data, edits, ctx or EditContext(scenario))
    if issues:
        raise InvalidInput(issues)
    try:
        return validate_scenario(data)
    except InvalidInput as exc:
        where = ", ".join(path for path, _ in edits) or "the edits"
        raise InvalidInput([Issue(f"after {where}: {i.path}", i.message)
                            for i in exc.issues]) from exc

