"""What-if variants (contract v1 ``whatif`` input), each kind a class that applies itself::

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
      - {overbook: {protocol: esk-84, extra: 1}}     # a session more a day, for no-shows
      - {buffer: {minutes: 30, days: [mon, fri]}}    # bookings end 30 min before close and
                                                     # before each shift's end
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scheduler.edits.core import SECTIONS, Data, Edit, EditContext, find, unknown
from scheduler.errors import Issue
from scheduler.model import (
    WEEKDAYS,
    Id,
    Minutes,
    PatientSpec,
    PhaseSpec,
    ProtocolSpec,
    Scenario,
    Spans,
    Weekday,
    WeekHours,
    clock_minutes,
)
from scheduler.text import control_character
from scheduler.validate import issues_from, rems_problem


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Like(_Spec):
    """A copy of an existing item under a new id, any field overridden."""

    model_config = ConfigDict(extra="allow", frozen=True)
    like: Id
    id: Id

    def add(self, data: Data, kind: str) -> list[Issue]:
        """The copy added to the ``kind``'s section, or the problems (under ``add_<kind>``)."""
        section = SECTIONS[kind]
        issues = unknown(data, section, self.like, "like", kind)
        if find(data, section, self.id) is not None:
            issues.append(Issue("id", f"{kind} '{self.id}' exists already"))
        if not issues:
            original = find(data, section, self.like)
            assert original is not None
            data[section].append(_merged(copy.deepcopy(original), {"id": self.id,
                                                                   **(self.model_extra or {})}))
        return [Issue(f"add_{kind}.{i.path}", i.message) for i in issues]


class AddRoom(Edit):
    """A room like an existing one (features, chairs, hours), under a new id."""

    add_room: _Like

    def describe(self) -> str:
        return f"room {self.add_room.id} like {self.add_room.like}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        return self.add_room.add(data, "room")


class AddStaff(Edit):
    """A staff member like an existing one (role, qualifications, shifts), under a new id."""

    add_staff: _Like

    def describe(self) -> str:
        return f"staff {self.add_staff.id} like {self.add_staff.like}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        return self.add_staff.add(data, "staff")


class RemoveRoom(Edit):
    remove_room: Id

    def describe(self) -> str:
        return f"without room {self.remove_room}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        issues = unknown(data, "rooms", self.remove_room, "remove_room", "room")
        if not issues:
            data["rooms"] = [r for r in data["rooms"] if r["id"] != self.remove_room]
        return issues


class RemoveStaff(Edit):
    """The person goes, and with them every patient's preference for them."""

    remove_staff: Id

    def describe(self) -> str:
        return f"without {self.remove_staff}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        gone = self.remove_staff
        issues = unknown(data, "staff", gone, "remove_staff", "staff")
        if not issues:
            data["staff"] = [s for s in data["staff"] if s["id"] != gone]
            for p in data["patients"]:
                if gone in p.get("preferred_staff", []):
                    p["preferred_staff"] = [s for s in p["preferred_staff"] if s != gone]
        return issues


class Set(Edit):
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
        targets = [k for k in ("clinic", *SECTIONS) if k in self.set]
        if not self.target or (self.target == "clinic" and len(targets) != 1):
            raise ValueError("names exactly one of clinic, room, staff, protocol or patient")
        if self.target == "clinic" and (len(self.set) != 1 or not isinstance(self.set["clinic"],
                                                                             dict)):
            raise ValueError("clinic takes a mapping of the clinic's fields")
        return self

    def describe(self) -> str:
        return "set " + ", ".join(f"{k} {v}" for k, v in self.set.items())

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        if self.target == "clinic":
            data["clinic"] = _merged(data["clinic"], self.set["clinic"])
            return []
        kind = self.target
        section, ident = SECTIONS[kind], str(self.set[kind])
        issues = unknown(data, section, ident, f"set.{kind}", kind)
        if not issues:
            target = find(data, section, ident)
            assert target is not None
            _merged(target, {k: v for k, v in self.set.items() if k != kind})
        return issues


class ScaleDemand(Edit):
    """Wanted sessions times the factor, rounded: more by synthetic patients cloned evenly
    from the base's own (same mix of protocols, windows and priorities), fewer by leaving
    out patients evenly (never one with a fixed appointment)."""

    scale_demand: Annotated[float, Field(gt=0, le=10)]

    def describe(self) -> str:
        return f"demand ×{self.scale_demand:g}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        patients = sorted(data["patients"], key=lambda p: p["id"])
        wanted = sum(p.get("sessions", 1) for p in patients)
        target = round(wanted * self.scale_demand)
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
            step = max(1, math.floor(len(movable) / max(1, len(movable)
                                                        * (1 - self.scale_demand))))
            dropped: set[str] = set()
            for p in movable[::step]:
                if wanted <= target:
                    break
                dropped.add(p["id"])
                wanted -= p.get("sessions", 1)
            data["patients"] = [p for p in data["patients"] if p["id"] not in dropped]
        return []


class _Overbook(_Spec):
    protocol: Id
    extra: Annotated[int, Field(ge=1, le=20)] = 1


class Overbook(Edit):
    """Overbooking for no-shows: ``extra`` more sessions of ``protocol`` on each day the clinic
    opens, wanted by one-session patients cloned from the protocol's own (their windows,
    priorities and staff kept); a simulation tells what the no-shows leave of them."""

    overbook: _Overbook

    def describe(self) -> str:
        return f"overbook {self.overbook.protocol} by {self.overbook.extra} a day"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.overbook
        issues = unknown(data, "protocols", spec.protocol, "protocol", "protocol")
        sources = sorted((p for p in data["patients"] if p.get("protocol") == spec.protocol),
                         key=lambda p: p["id"])
        if not issues and not sources:
            issues.append(Issue("protocol", f"no patient has protocol '{spec.protocol}' to "
                                            "overbook from"))
        if issues:
            return [Issue(f"overbook.{i.path}", i.message) for i in issues]
        hours = ctx.scenario.clinic.hours
        open_days = sum(1 for d in ctx.scenario.dates() if hours.get(WEEKDAYS[d.weekday()]))
        taken = {p["id"] for p in data["patients"]}
        for n in range(spec.extra * open_days):
            source = sources[(n * 7919) % len(sources)]  # a stride spreads the windows
            clone = {**copy.deepcopy(source), "sessions": 1,
                     "id": _fresh(f"{source['id']}-ob{n + 1}", taken)}
            for derived in ("name", "course", "follow_up", "step"):
                clone.pop(derived, None)
            taken.add(clone["id"])
            data["patients"].append(clone)
        return []


class _Buffer(_Spec):
    minutes: Annotated[int, Field(ge=1, le=240)]
    days: list[Weekday] = list(WEEKDAYS)


class Buffer(Edit):
    """Room for the day to run late: on ``days``, every span of the clinic's hours and of each
    staff member's shifts ends ``minutes`` earlier for booking (a span left with nothing goes).
    The robust plan (``solve --risk``) is the week planned under such buffers."""

    buffer: _Buffer

    def describe(self) -> str:
        return f"book until {self.buffer.minutes} min before closing and shift ends " \
               f"({', '.join(self.buffer.days)})"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        def shortened(hours: dict[str, Any]) -> None:
            for day in self.buffer.days:
                if day in hours:
                    hours[day] = _ending_earlier(hours[day], self.buffer.minutes)

        shortened(data["clinic"].get("hours", {}))
        for person in data["staff"]:
            shortened(person.get("shifts", {}))
        return []


def _ending_earlier(spans: Sequence[Sequence[str]], minutes: int) -> list[list[str]]:
    out = []
    for start, end in spans:
        first, last = clock_minutes(start), clock_minutes(end) - minutes
        if last > first:
            out.append([start, f"{last // 60:02d}:{last % 60:02d}"])
    return out


class _Chairs(_Spec):
    room: Id
    chairs: int = Field(description="chairs added (negative: removed); the room keeps >= 1")


class AddChairs(Edit):
    """Chairs added to (or, negative, taken from) one room: ``{room: BAY, chairs: 1}``."""

    add_chairs: _Chairs

    def describe(self) -> str:
        n = self.add_chairs.chairs
        return f"{n:+d} chair{'s' if abs(n) != 1 else ''} in {self.add_chairs.room}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.add_chairs
        issues = unknown(data, "rooms", spec.room, "add_chairs.room", "room")
        if not issues:
            room = find(data, "rooms", spec.room)
            assert room is not None
            had = int(room.get("chairs", 1))
            if had + spec.chairs < 1:
                return [Issue("add_chairs.chairs", f"room {spec.room} has {had} chair(s), so it "
                                                   f"cannot lose {-spec.chairs}; remove_room "
                                                   "takes a whole room away")]
            room["chairs"] = had + spec.chairs
        return issues


class _Shifts(_Spec):
    staff: Id
    shifts: WeekHours = Field(min_length=1)


class AddShift(Edit):
    """Shift intervals added to one person's week (joined with what they work already:
    overlapping or touching ones become one)."""

    add_shift: _Shifts

    def describe(self) -> str:
        week = self.add_shift.shifts
        text = "; ".join(f"{d} " + ", ".join(f"{a}–{b}" for a, b in week[d])
                         for d in WEEKDAYS if d in week)
        return f"{self.add_shift.staff} also works {text}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.add_shift
        issues = unknown(data, "staff", spec.staff, "add_shift.staff", "staff")
        if not issues:
            person = find(data, "staff", spec.staff)
            assert person is not None
            _extend(person.setdefault("shifts", {}), spec.shifts)
        return issues


class _Days(_Spec):
    staff: Id
    days: list[Weekday] = Field(min_length=1)


class RemoveShift(Edit):
    """One person no longer works on some weekdays: ``{staff: N2, days: [fri]}``."""

    remove_shift: _Days

    def describe(self) -> str:
        return f"{self.remove_shift.staff} off on {', '.join(self.remove_shift.days)}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.remove_shift
        issues = unknown(data, "staff", spec.staff, "remove_shift.staff", "staff")
        if issues:
            return issues
        person = find(data, "staff", spec.staff)
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


class _Hours(_Spec):
    days: list[Weekday] = Field(min_length=1)
    hours: Spans = Field(min_length=1)
    staff: list[Id] = []
    rooms: list[Id] = []


class AddHours(Edit):
    """The clinic opens more (Saturday mornings, evenings): the intervals are added to the
    clinic's hours on ``days``, to the shifts of the ``staff`` who work them, and to the own
    hours of the listed ``rooms`` (rooms without own hours follow the clinic anyway)."""

    add_hours: _Hours

    def describe(self) -> str:
        h = self.add_hours
        spans = ", ".join(f"{a}–{b}" for a, b in h.hours)
        who = f" with {', '.join(h.staff)}" if h.staff else ""
        return f"open {', '.join(h.days)} {spans}{who}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.add_hours
        issues: list[Issue] = []
        for j, sid in enumerate(spec.staff):
            issues += unknown(data, "staff", sid, f"add_hours.staff[{j}]", "staff")
        for j, rid in enumerate(spec.rooms):
            issues += unknown(data, "rooms", rid, f"add_hours.rooms[{j}]", "room")
        if issues:
            return issues
        week: dict[Weekday, list[tuple[str, str]]] = {d: list(spec.hours) for d in spec.days}
        _extend(data["clinic"].setdefault("hours", {}), week)
        for sid in spec.staff:
            person = find(data, "staff", sid)
            assert person is not None
            _extend(person.setdefault("shifts", {}), week)
        for rid in spec.rooms:
            room = find(data, "rooms", rid)
            assert room is not None
            if room.get("hours") is not None:  # otherwise it follows the clinic's hours
                _extend(room["hours"], week)
        return issues


class SetRole(Edit):
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

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        role = self.set_role["role"]
        members = [s for s in data["staff"] if s.get("role") == role]
        if not members:
            roles = sorted({str(s.get("role")) for s in data["staff"]})
            return [Issue("set_role.role", f"no staff member has role '{role}' (roles: "
                                           f"{', '.join(roles) or 'none'})")]
        for person in members:
            _merged(person, {k: v for k, v in self.set_role.items() if k != "role"})
        return []


class _Minutes(_Spec):
    protocol: Id | None = None
    minutes: dict[str, Annotated[int, Field(ge=1, le=24 * 60)]] = {}
    turnover_minutes: Minutes | None = None

    @model_validator(mode="after")
    def _something(self) -> _Minutes:
        if not self.minutes and self.turnover_minutes is None:
            raise ValueError("names phase minutes or turnover_minutes to change")
        return self


class SetMinutes(Edit):
    """Phase lengths and turnover of one protocol (or, without ``protocol``, of every protocol
    that has the phase): ``{protocol: esk-84, minutes: {monitoring: 150}}``, for the whole
    horizon; a REMS protocol must keep its 120 covered minutes after dosing."""

    set_minutes: _Minutes

    def describe(self) -> str:
        m = self.set_minutes
        what = [f"{k} {v} min" for k, v in m.minutes.items()]
        if m.turnover_minutes is not None:
            what.append(f"turnover {m.turnover_minutes} min")
        return f"{m.protocol or 'every protocol'}: {', '.join(what)}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.set_minutes
        if spec.protocol is not None:
            issues = unknown(data, "protocols", spec.protocol, "set_minutes.protocol",
                             "protocol")
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
                                    f"'{phase}' is not a phase of "
                                    f"{spec.protocol or 'any protocol'} ({', '.join(names)})"))
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


_MATCHABLE = ("protocol", "priority", "sessions", "min_gap_days", "rems_enrolled")


class _Mix(_Spec):
    share: Annotated[float, Field(gt=0, le=1)]
    from_: dict[str, Any] = Field(alias="from", min_length=1)
    to: dict[str, Any] = {}
    every_weeks: Annotated[int, Field(ge=2, le=8)] | None = None

    @model_validator(mode="after")
    def _fields(self) -> _Mix:
        others = sorted(set(self.from_) - set(_MATCHABLE))
        if others:
            raise ValueError(f"from matches patients by {', '.join(_MATCHABLE)}; not by "
                             f"{', '.join(others)}")
        if not self.to and self.every_weeks is None:
            raise ValueError("says what changes: to (patient fields) or every_weeks")
        if "id" in self.to:
            raise ValueError("to cannot change a patient's id")
        return self


class ShiftMix(Edit):
    """A share of the matching patients, spread evenly over them (never one with a fixed
    appointment), take the fields of ``to`` (another protocol, priority, ...); with
    ``every_weeks`` they come once every that many weeks: ``min_gap_days`` becomes 7 × weeks,
    and the sessions wanted in the horizon follow from the last session (patients without one
    are spread evenly over the weeks of the cycle, so only some of them are due in a one-week
    horizon)."""

    shift_mix: _Mix

    def describe(self) -> str:
        m = self.shift_mix
        who = ", ".join(f"{k} {v}" for k, v in m.from_.items())
        what = [f"{k} {v}" for k, v in m.to.items()]
        if m.every_weeks:
            what.append(f"every {m.every_weeks} weeks")
        return f"{m.share:.0%} of patients with {who} to {', '.join(what)}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        spec = self.shift_mix
        issues = [Issue(f"shift_mix.to.{k}", "is not a field of a patient")
                  for k in sorted(set(spec.to) - set(PatientSpec.model_fields))]
        if "protocol" in spec.to:
            issues += unknown(data, "protocols", str(spec.to["protocol"]),
                              "shift_mix.to.protocol", "protocol")
        if "protocol" in spec.from_:
            issues += unknown(data, "protocols", str(spec.from_["protocol"]),
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
            return [Issue("shift_mix.share", f"{spec.share:.0%} of the {len(matched)} "
                                             f"patient(s) with {who} (none with a fixed "
                                             "appointment) is nobody")]
        chosen = [matched[math.floor((i + 0.5) * len(matched) / n)] for i in range(n)]
        for cohort, p in enumerate(chosen):
            _merged(p, spec.to)
            if spec.every_weeks is not None:
                _cadence(p, spec.every_weeks, cohort, ctx.scenario)
        return []


_KINDS: dict[str, type[Edit]] = {
    next(iter(kind.model_fields)): kind  # a kind's one field is its name
    for kind in (AddRoom, AddStaff, RemoveRoom, RemoveStaff, Set, ScaleDemand, AddChairs,
                 AddShift, RemoveShift, AddHours, SetRole, SetMinutes, ShiftMix, Overbook,
                 Buffer)
}
"""Every kind of variant edit: a new kind is a class listed here."""


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
        where = f"variants[{k}] ({name})"
        problem = control_character(name)  # the name goes into comparison.csv and the report
        if problem is not None:
            where = f"variants[{k}]"
            issues.append(Issue(f"{where}.name", problem))
        if name in names or name == "base":
            issues.append(Issue(f"{where}.name", "is used already (base names the scenario "
                                                 "itself)"))
        names.add(name)
        issues += [Issue(f"{where}.{key}", "is not a field of a variant (name, edits)")
                   for key in sorted(set(raw) - {"name", "edits"})]
        edits, positions = [], []
        for j, edit in enumerate(raw.get("edits") or []):
            kind = next(iter(edit)) if isinstance(edit, dict) and len(edit) == 1 else None
            if kind not in _KINDS:
                issues.append(Issue(f"{where}.edits[{j}]", "must be one of "
                                    f"{', '.join(_KINDS)} (a mapping with one key)"))
                continue
            try:
                edits.append(_KINDS[kind].model_validate(edit))
                positions.append(j)
            except ValidationError as exc:
                issues += issues_from(exc, f"{where}.edits[{j}]")
        variants.append(Variant(name, edits, where, tuple(positions)))
    return variants, issues


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
