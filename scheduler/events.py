"""Re-planning events (contract v1 ``replan`` input, extended): what changed since a schedule.

```yaml
events:
  - {type: cancel, appointment: A-0003}                 # the patient still wants the session
  - {type: cancel, appointment: A-0004, drop: true}     # ... or no longer wants it
  - {type: staff_absent, staff: N2, date: 2026-12-09}   # optional from/to "HH:MM"
  - {type: room_closed, room: R1, date: 2026-12-09, from: "12:00", to: "17:00"}
  - {type: patient_unavailable, patient: P004, date: 2026-12-10}
  - {type: add_patient, patient: {id: P900, protocol: esk-84, sessions: 1, priority: 5}}
  - {type: add_sessions, patient: P010, sessions: 1}     # extension: more sessions this week
  - {type: change_protocol, protocol: esk-84, from: 2026-12-09,   # extension: new durations
     minutes: {monitoring: 90}, turnover_minutes: 15}
```
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from scheduler.errors import InvalidScenario, Issue
from scheduler.scenario import Clock, Id, Minutes, Outage, PatientSpec, issues_from


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Cancel(_Event):
    type: Literal["cancel"]
    appointment: Id
    drop: bool = False

    def describe(self) -> str:
        return (f"{self.appointment} cancelled" + (" (session no longer wanted)" if self.drop
                                                   else " (to be rebooked)"))


class _Outage(_Event):
    date: date
    from_: Clock | None = Field(default=None, alias="from")
    to: Clock | None = None

    def outage(self) -> Outage:
        return Outage.model_validate({"date": self.date, "from": self.from_, "to": self.to})

    @model_validator(mode="after")
    def _ordered(self) -> _Outage:
        self.outage()  # raises "ends at …, not after it starts at …"
        return self

    def when(self) -> str:
        part = f" {self.from_ or '00:00'}–{self.to or '24:00'}" if self.from_ or self.to else ""
        return f"{self.date}{part}"


class StaffAbsent(_Outage):
    type: Literal["staff_absent"]
    staff: Id

    def describe(self) -> str:
        return f"{self.staff} absent {self.when()}"


class RoomClosed(_Outage):
    type: Literal["room_closed"]
    room: Id

    def describe(self) -> str:
        return f"room {self.room} out of service {self.when()}"


class PatientUnavailable(_Outage):
    type: Literal["patient_unavailable"]
    patient: Id

    def describe(self) -> str:
        return f"{self.patient} unavailable {self.when()}"


class AddPatient(_Event):
    type: Literal["add_patient"]
    patient: PatientSpec

    def describe(self) -> str:
        return f"new patient {self.patient.id}"


class AddSessions(_Event):
    type: Literal["add_sessions"]
    patient: Id
    sessions: Annotated[int, Field(ge=1, le=14)] = 1

    def describe(self) -> str:
        return f"{self.patient} wants {self.sessions} more session(s)"


class ChangeProtocol(_Event):
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


Event = Annotated[
    Cancel | StaffAbsent | RoomClosed | PatientUnavailable | AddPatient | AddSessions
    | ChangeProtocol,
    Field(discriminator="type"),
]


_TAGS = ("cancel", "staff_absent", "room_closed", "patient_unavailable", "add_patient",
         "add_sessions", "change_protocol")


def parse_events(data: Any) -> list[Any]:
    """Validate an events document; every problem at once, with ``events[i].field`` paths."""
    events, issues = read_events(data)
    if issues:
        raise InvalidScenario(issues)
    return [e for _, e in events]


def read_events(data: Any) -> tuple[list[tuple[int, Any]], list[Issue]]:
    """The events that parse (with their index) and the problems of those that do not."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return [], [Issue("events", "must be a mapping with an 'events' list")]
    issues: list[Issue] = []
    events: list[tuple[int, Any]] = []
    adapter: TypeAdapter[Any] = TypeAdapter(Event)
    for i, raw in enumerate(data["events"]):
        try:
            events.append((i, adapter.validate_python(raw)))
        except ValidationError as exc:
            for issue in issues_from(exc, f"events[{i}]"):
                for tag in _TAGS:  # pydantic names the union member; the user did not
                    issue = Issue(issue.path.replace(f"events[{i}].{tag}", f"events[{i}]"),
                                  issue.message)
                issues.append(issue)
    return events, issues
