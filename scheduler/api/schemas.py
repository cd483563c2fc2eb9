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
from scheduler.settings import SEED_MAX
from scheduler.text import SafeText


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
Seed = Annotated[int, Field(ge=0, le=SEED_MAX, description="CP-SAT's random seed (an int32: 0 "
                                                           "to 2^31 - 1)"), NUMBER]
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
Email = Annotated[str, Field(pattern=rf"^{_PART}@{_PART}\.{_PART}$", max_length=254,
                            examples=["desk@example.org"])]
"""No control character either: a NUL was a 500 on PostgreSQL, which cannot store one."""


StaffId = Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
ClinicRole = Literal["front_desk", "manager"]
Password = Annotated[str, Field(min_length=12, max_length=1024)]
ClinicId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class UserCreate(_Body):
    email: Email
    password: Password = Field(description="At least 12 characters, not a common password")
    role: Role = Field(description="admin: the organization's admin (every clinic); otherwise "
                       "the role in each of clinic_ids")
    clinic_ids: list[ClinicId] | None = Field(
        default=None, max_length=1000, description="The clinics a front desk or manager works "
        "in; may be left out when the organization has one clinic")


class MembershipPublic(BaseModel):
    clinic_id: int
    role: ClinicRole
    staff_id: str | None = Field(default=None, description="The staff member this account is "
                                 "in the clinic (for their own feed link)")


class UserPublic(BaseModel):
    id: int
    email: str
    role: Role = Field(description="admin, or the highest role of the memberships")
    admin: bool = Field(description="The organization's admin: every role in every clinic")
    active: bool
    must_change_password: bool = Field(description="Signed in with a one-time password: "
                                       "nothing but changing it works")
    memberships: list[MembershipPublic]
    staff_id: str | None = Field(default=None, description="The staff member this account is, "
                                 "when it is a member of one clinic (see memberships)")


class StaffLink(_Body):
    staff_id: StaffId | None = Field(
        description="A staff id of the clinic's scenario (N1); null unlinks", examples=["N1"])
    clinic_id: ClinicId | None = Field(default=None, description="The clinic; may be left out "
                                       "when the account is a member of one")


class MembershipWrite(_Body):
    role: ClinicRole
    staff_id: StaffId | None = Field(default=None, description="The staff member this account "
                                     "is in the clinic; null: none")


class PasswordChange(_Body):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Password


class OneTimePassword(BaseModel):
    """An admin's reset: shown once; it must be changed at the next sign-in."""

    user_id: int
    password: str


class TokenPublic(BaseModel):
    """One of your tokens or page sessions that still works (the token itself is never
    shown again)."""

    id: int
    created_at: datetime | None
    expires_at: datetime
    current: bool = Field(description="The token this request came with")


class SignedOut(BaseModel):
    ended: int = Field(description="How many tokens and page sessions ended")


class ClinicCreate(_Body):
    slug: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$",
                               examples=["brooklyn"])]
    scenario: dict[str, Any] | None = Field(
        default=None, description="Contract v1 scenario; left out: a copy of the embedded demo "
        "clinic's rooms, staff and protocols under clinic.name, without patients")
    name: Annotated[SafeText, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The clinic's name (clinic.name of the scenario)")


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
    seed: Seed = 0


class SimulateRequest(_Body):
    runs: Annotated[int, Field(ge=100, le=100_000), NUMBER] = 2000
    seed: Seed = 0


class ReplanRequest(_Body):
    events: list[dict[str, Any]] = Field(description="Contract v1 events (cancel, staff_absent, "
                                         "room_closed, patient_unavailable, add_patient, …)")
    now: Instant | None = Field(default=None, description="Appointments before this "
                                      "never change (default: now)")
    time_limit: Seconds | None = None
    seed: Seed = 0


class FirstAnswer(BaseModel):
    """A re-plan's first answer: a draft the desk may publish while the job improves on it."""

    schedule_id: int
    url: str = Field(description="The draft (GET it like any schedule; publish it to accept)")
    placed: int
    wanted: int
    moved: int = Field(description="Known appointments it changes")
    seconds: float | None = Field(description="From the job's start to the answer")


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
    first_answer: FirstAnswer | None = Field(
        default=None, description="A re-plan's first answer, once it exists: accept it (publish "
                                  "its draft) or wait for the job's final one (result_url)")


class ScheduleSummary(BaseModel):
    id: int
    clinic_id: int
    status: Literal["draft", "published"]
    number: int | None = Field(description="Published version number")
    version: int = Field(description="Row version: name it when you change a draft")
    based_on: int | None
    made_from: int | None = Field(default=None, description="The published schedule (its id) "
                                  "this one was made from: for a draft, the latest published "
                                  "when it was made; for a published one, the one it replaced")
    superseded_by: int | None = Field(default=None, description="A draft only: the published "
                                      "schedule (its id) published after it was made. A "
                                      "superseded draft can be neither edited nor published "
                                      "(409): re-plan it onto that one")
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


class LiveBody(_Body):
    number: Version = Field(description="The published version number you read (409 if "
                              "another was published since)")


class LiveMoveRequest(LiveBody):
    start: AwareDatetime
    room: str | None = None
    staff: dict[str, str] | None = None


class LiveCancelRequest(LiveBody):
    reason: str = "cancelled by the front desk"


class BookRequest(LiveBody):
    patient: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    room: str | None = Field(default=None, description="Default: the first room that fits")
    staff: dict[str, str] | None = Field(default=None, description="Default: the first staff "
                                         "that fit, one per staff need of the protocol")


class MarkRequest(_Body):
    mark: Literal["arrived", "completed", "no_show"] | None = Field(
        description="What happened to the session; null clears its mark")


class MarkPublic(BaseModel):
    ref: str = Field(description="The appointment's id (stable across published versions)")
    patient: str
    mark: Literal["arrived", "completed", "no_show"] | None
    schedule_id: int = Field(description="The published schedule of the session's week")


class SlotPublic(BaseModel):
    start: AwareDatetime
    end: AwareDatetime
    room: str | None = Field(description="None: a video session, which takes no room")
    staff: dict[str, str] = Field(description="Staff id per staff need (role key) of the "
                                              "protocol")


class SlotsPublic(BaseModel):
    schedule_id: int
    number: int = Field(description="The published version the slots were found on: book one "
                                    "with this number")
    patient: str
    slots: list[SlotPublic]


class DiffPublic(BaseModel):
    before: int
    after: int
    changes: list[Change]


class UnplacedPublic(BaseModel):
    schedule_id: int
    unplaced: list[Unplaced]


class AuditEntryPublic(BaseModel):
    at: AwareDatetime
    by: str = Field(description="The account's e-mail; \"Chairtime\" for the service's own work")
    action: str
    entity: str = Field(description="scenario, schedule, job, feed_token, user or clinic")
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPagePublic(BaseModel):
    entries: list[AuditEntryPublic] = Field(description="Newest first")
    page: int
    pages: int
    total: int = Field(description="Entries matching the filters, on every page")
