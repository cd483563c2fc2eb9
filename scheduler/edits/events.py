"""Re-planning events (contract v1 ``replan`` input, plus ``add_sessions`` and
``change_protocol``), each a class that applies itself::

    events:
      - {type: cancel, appointment: A-0003}                 # the patient still wants the session
      - {type: cancel, appointment: A-0004, drop: true}     # ... or no longer wants it
      - {type: staff_absent, staff: N2, date: 2026-12-09}   # optional from/to "HH:MM"
      - {type: room_closed, room: R1, date: 2026-12-09, from: "12:00", to: "17:00"}
      - {type: patient_unavailable, patient: P004, date: 2026-12-10}
      - {type: add_patient, patient: {id: P900, protocol: esk-84, sessions: 1, priority: 5}}
      - {type: add_sessions, patient: P010, sessions: 1}
      - {type: change_protocol, protocol: esk-84, from: 2026-12-09, minutes: {monitoring: 150}}
      - {type: clinic_closed, date: 2026-12-24}             # a holiday: a closed date
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, ClassVar, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from scheduler.edits.core import SECTIONS, Data, Edit, EditContext, find, unknown
from scheduler.errors import Issue
from scheduler.model import Clock, Id, Minutes, Outage, PatientSpec, PhaseSpec, ProtocolSpec
from scheduler.validate import issues_from, rems_problem, validate_item


class Cancel(Edit):
    """The appointment is freed; its patient still wants the session unless ``drop``."""

    type: Literal["cancel"]
    appointment: Id
    drop: bool = False

    def describe(self) -> str:
        return (f"{self.appointment} cancelled" + (" (session no longer wanted)" if self.drop
                                                   else " (to be rebooked)"))

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        if self.appointment not in ctx.known:
            return [Issue("appointment", f"no appointment '{self.appointment}' in the previous "
                                         "schedule")]
        patient, start, end = ctx.known[self.appointment]
        if ctx.now is not None and start < ctx.now:
            return [Issue("appointment", f"{self.appointment} started before --now and cannot "
                                         "change")]
        ctx.cancelled.add(self.appointment)
        p = find(data, "patients", patient)
        if p is None:
            return []
        if self.drop:
            p["sessions"] = max(0, p.get("sessions", 1) - 1)
        else:  # still wanted, but not at that time
            tz = ZoneInfo(ctx.scenario.clinic.timezone)
            lo, hi = start.astimezone(tz), end.astimezone(tz)
            p.setdefault("unavailable", []).append(
                {"date": str(lo.date()), "from": f"{lo:%H:%M}",
                 "to": f"{hi:%H:%M}" if hi.date() == lo.date() else "24:00"})
        return []


class _Dated(Edit):
    """A staff member, room or patient out on a date (or part of it): an :class:`Outage` added
    to the item's list ``into`` (a staff member's whole day: a ``time_off`` date instead)."""

    item: ClassVar[str]
    """The field naming the item by id (``staff``, ``room``, ``patient``)."""
    into: ClassVar[str]
    whole_day: ClassVar[str | None] = None
    """Where a whole day goes instead, if not ``into``."""
    says: ClassVar[str]
    """The clerk's words, ``{}`` the item's id."""

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

    def describe(self) -> str:
        return f"{self.says.format(getattr(self, self.item))} {self.when()}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        section, ident = SECTIONS[self.item], str(getattr(self, self.item))
        issues = unknown(data, section, ident, self.item, self.item) + _in_horizon(self.date,
                                                                                    ctx, "date")
        if not issues:
            target = find(data, section, ident)
            assert target is not None
            if self.whole_day is not None and self.from_ is None and self.to is None:
                target.setdefault(self.whole_day, []).append(str(self.date))
            else:
                target.setdefault(self.into, []).append(
                    self.outage().model_dump(mode="json", by_alias=True))
        return issues


class StaffAbsent(_Dated):
    item, into, whole_day, says = "staff", "absences", "time_off", "{} absent"
    type: Literal["staff_absent"]
    staff: Id


class RoomClosed(_Dated):
    item, into, says = "room", "closures", "room {} out of service"
    type: Literal["room_closed"]
    room: Id


class PatientUnavailable(_Dated):
    item, into, says = "patient", "unavailable", "{} unavailable"
    type: Literal["patient_unavailable"]
    patient: Id


class ClinicClosed(Edit):
    """The whole clinic is closed on a date (a holiday): one of ``clinic.closed_dates``."""

    type: Literal["clinic_closed"]
    date: date

    def describe(self) -> str:
        return f"clinic closed {self.date}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        issues = _in_horizon(self.date, ctx, "date")
        closed = data["clinic"].setdefault("closed_dates", [])
        if not issues and str(self.date) not in map(str, closed):
            closed.append(str(self.date))
        return issues


class AddPatient(Edit):
    type: Literal["add_patient"]
    patient: PatientSpec

    def describe(self) -> str:
        return f"new patient {self.patient.id}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        issues = []
        if find(data, "patients", self.patient.id) is not None:
            issues.append(Issue("patient.id", f"patient '{self.patient.id}' exists already; use "
                                              "add_sessions"))
        issues += unknown(data, "protocols", self.patient.protocol, "patient.protocol",
                          "protocol")
        for j, sid in enumerate(self.patient.preferred_staff):
            issues += unknown(data, "staff", sid, f"patient.preferred_staff[{j}]", "staff")
        if not issues:
            data["patients"].append(self.patient.model_dump(mode="json", by_alias=True,
                                                            exclude_defaults=True))
        return issues


class AddSessions(Edit):
    type: Literal["add_sessions"]
    patient: Id
    sessions: Annotated[int, Field(ge=1, le=14)] = 1

    def describe(self) -> str:
        return f"{self.patient} wants {self.sessions} more session(s)"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        issues = unknown(data, "patients", self.patient, "patient", "patient")
        if not issues:
            p = find(data, "patients", self.patient)
            assert p is not None
            p["sessions"] = p.get("sessions", 1) + self.sessions
        return issues


class ChangeProtocol(Edit):
    """New durations from a date on, as a ``revisions`` entry of the protocol."""

    type: Literal["change_protocol"]
    protocol: Id
    from_: date = Field(alias="from")
    minutes: dict[str, Annotated[int, Field(ge=1, le=24 * 60)]] = Field(default={})
    turnover_minutes: Minutes | None = None

    def describe(self) -> str:
        what = ", ".join(f"{k} {v} min" for k, v in self.minutes.items())
        if self.turnover_minutes is not None:
            what += (", " if what else "") + f"turnover {self.turnover_minutes} min"
        return f"{self.protocol} durations from {self.from_}: {what}"

    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        issues = unknown(data, "protocols", self.protocol, "protocol", "protocol")
        if issues:
            return issues
        raw = find(data, "protocols", self.protocol)
        assert raw is not None
        protocol = ProtocolSpec.model_validate(raw)
        names = [ph.name for ph in protocol.phases]
        issues += [Issue(f"minutes.{phase}", f"'{phase}' is not a phase of {protocol.id} "
                                             f"({', '.join(names)})")
                   for phase in sorted(self.minutes.keys() - set(names))]
        last = ctx.scenario.horizon.start + timedelta(days=ctx.scenario.horizon.days - 1)
        if self.from_ > last:
            issues.append(Issue("from", f"{self.from_} is after the horizon ends ({last}); check "
                                        "the year"))
        if ctx.now is not None:
            today = ctx.now.astimezone(ZoneInfo(ctx.scenario.clinic.timezone)).date()
            if self.from_ <= today:
                issues.append(Issue("from", f"{self.from_} is not after --now's date ({today}): "
                                            "sessions that started keep their durations; use "
                                            f"{today + timedelta(days=1)} or later"))
        in_force, turnover = protocol.on(self.from_)  # earlier revisions stay in force
        phases = [PhaseSpec(name=ph.name, minutes=self.minutes.get(ph.name, ph.minutes))
                  for ph in in_force]
        if protocol.requires_rems and (problem := rems_problem(protocol, phases)) is not None:
            issues.append(Issue("minutes", problem))
        if not issues:
            raw.setdefault("revisions", []).append(
                {"from": str(self.from_), "phases": [p.model_dump() for p in phases],
                 "turnover_minutes": (self.turnover_minutes if self.turnover_minutes is not None
                                      else turnover)})
        return issues


Event = Annotated[
    Cancel | StaffAbsent | RoomClosed | PatientUnavailable | ClinicClosed | AddPatient
    | AddSessions | ChangeProtocol,
    Field(discriminator="type"),
]
"""Every kind of event: a new kind is a class listed here."""
_EVENTS: TypeAdapter[Edit] = TypeAdapter(Event)
_TAGS = [get_args(kind.model_fields["type"].annotation)[0]
         for kind in get_args(get_args(Event)[0])]


def _in_horizon(day: date, ctx: EditContext, path: str) -> list[Issue]:
    first = ctx.scenario.horizon.start
    last = first + timedelta(days=ctx.scenario.horizon.days - 1)
    if first <= day <= last:
        return []
    return [Issue(path, f"{day} is outside the horizon ({first} to {last}); check the year")]


def _parse_event(raw: Any, where: str) -> tuple[Any, list[Issue]]:
    """One event; an ``add_patient`` whose patient is broken still has its references checked
    (an unknown protocol and negative sessions are both reported)."""
    try:
        return _EVENTS.validate_python(raw), []
    except ValidationError as exc:
        issues = []
        for issue in issues_from(exc, where):
            for tag in _TAGS:  # pydantic names the union member; the user did not
                issue = Issue(issue.path.replace(f"{where}.{tag}", where), issue.message)
            issues.append(issue)
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
