"""Request and response bodies of the HTTP API, one per use (``…Create``, ``…Public``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    Strict,
)

from scheduler.documents import Change, Schedule, Unplaced
from scheduler.model import Scenario


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Seconds = Annotated[float, Strict(), Field(gt=0, le=3600)]


def _number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a whole number")
    return value


NUMBER = BeforeValidator(_number)
Whole = Annotated[int, NUMBER]
"""A JSON body's integer, as JSON Schema has it: ``3`` or ``3.0``, never ``true`` nor ``"3"``
(which pydantic would take; StrictInt would refuse ``3.0``). With bounds, name them before
``NUMBER`` (``Annotated[int, Field(ge=0), NUMBER]``): after it, the document would show them as
``ge``/``le``, which JSON Schema does not know."""


Version = Annotated[int, Field(ge=1, le=2_147_483_647), NUMBER]
"""A version you read: within the databases' INTEGER (a larger one was a 500 on PostgreSQL,
"integer out of range", and on SQLite past 2**63)."""


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a date and time written as text (ISO 8601 with its offset)")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_text)]
"""A JSON body's date and time: text with an offset, as the document says (pydantic would also
take a number of seconds)."""


class IssueOut(BaseModel):
    path: str = Field(examples=["rooms[2].chairs"])
    message: str = Field(examples=["input should be greater than or equal to 1"])


class ValidationProblem(BaseModel):
    """422: every problem of the input at once, each naming its field."""

    detail: list[IssueOut]


class Message(BaseModel):
    detail: str


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


Role = Literal["front_desk", "manager", "admin"]


_PART = r"[^@\s\x00-\x1f\x7f]+"
Email = Annotated[str, Field(pattern=f"^{_PART}@{_PART}\\.{_PART}$", max_length=254,
                            examples=["desk@example.org"])]
"""No control character either: a NUL was a 500 on PostgreSQL, which cannot store one."""


class UserCreate(_Body):
    email: Email
    password: Annotated[str, Field(min_length=12, max_length=256)]
    role: Role


class UserPublic(BaseModel):
    id: int
    email: str
    role: Role
    active: bool
    staff_id: str | None = Field(default=None, description="The staff member this account is "
                                 "(for their own feed link)")


class StaffLink(_Body):
    staff_id: Annotated[str, Field(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")] | None = Field(
        description="A staff id of the clinics' scenarios (N1); null unlinks", examples=["N1"])


class ClinicPublic(BaseModel):
    id: int
    slug: str
    name: str
    scenario_version: int


class ScenarioPublic(BaseModel):
    clinic_id: int
    version: int
    scenario: dict[str, Any] = Field(description="Contract v1 scenario")


class ScenarioWrite(_Body):
    # Described as the Scenario model, validated by the scenario's own validation (every
    # problem at once, each named by its place in the scenario), as a file would be.
    scenario: Annotated[Scenario, SkipValidation()] = Field(
        description="Contract v1 scenario, replacing the current")
    version: Version | None = Field(default=None, description="The version you read: a change "
                                  "in between is a 409 instead of an overwrite")


class SolveRequest(_Body):
    time_limit: Seconds | None = None
    seed: Whole = 0


class SimulateRequest(_Body):
    runs: Annotated[int, Field(ge=100, le=100_000), NUMBER] = 2000
    seed: Annotated[int, Field(ge=0, le=2**31 - 1), NUMBER] = 0


class ReplanRequest(_Body):
    events: list[dict[str, Any]] = Field(description="Contract v1 events (cancel, staff_absent, "
                                         "room_closed, patient_unavailable, add_patient, …)")
    now: Instant | None = Field(default=None, description="Appointments before this "
                                      "never change (default: now)")
    time_limit: Seconds | None = None
    seed: Whole = 0


class JobPublic(BaseModel):
    id: str
    clinic_id: int
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: dict[str, Any] | None
    result_schedule_id: int | None
    result: dict[str, Any] | None = Field(default=None, description="A result that is data: a "
                                          "simulation's figures (POST /schedules/{id}/simulate)")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str
    result_url: str | None


class ScheduleSummary(BaseModel):
    id: int
    clinic_id: int
    status: Literal["draft", "published"]
    number: int | None = Field(description="Published version number")
    version: int = Field(description="Row version: name it when you change a draft")
    based_on: int | None
    created_at: datetime
    published_at: datetime | None
    placed: int
    wanted: int


class SchedulePublic(ScheduleSummary):
    schedule: Schedule
    changes: list[Change] | None = None


class VersionBody(_Body):
    version: Version = Field(description="The schedule's version you read (409 if it "
                             "changed)")


class MoveRequest(VersionBody):
    start: Instant
    room: str | None = None
    staff: dict[str, str] | None = None


class CancelRequest(VersionBody):
    reason: str = "cancelled by the front desk"


class DiffPublic(BaseModel):
    before: int
    after: int
    changes: list[Change]


class UnplacedPublic(BaseModel):
    schedule_id: int
    unplaced: list[Unplaced]
