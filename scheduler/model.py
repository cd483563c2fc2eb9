"""Chairtime's domain model: contract v1 scenarios as plain, frozen pydantic types.

A leaf module: it imports nothing of the rest of the application, and validation
(``scheduler.validate``), the independent checker (``scheduler.check``), the compiler
(``scheduler.compile``) and the use cases all import it. Field-level rules (a clock time's
format, an interval's order) live on the fields; everything that compares sections lives in
``scheduler.validate``.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from scheduler.text import SafeLines, SafeText

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):[0-5]\d|24:00)$")
"""Anchored for the JSON Schema document (a pattern there searches); read with ``fullmatch``
(``$`` alone would let a trailing line break through)."""


def clock_minutes(text: str) -> int:
    """Minutes after local midnight of ``"HH:MM"`` (``"24:00"`` is 1440)."""
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)


def _clock(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise ValueError(f"{value!r} is not a time of day written HH:MM (00:00 to 24:00)")
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


Clock = Annotated[str, AfterValidator(_clock),
                  WithJsonSchema({"type": "string", "pattern": _CLOCK.pattern})]
Span = Annotated[tuple[Clock, Clock], AfterValidator(_span)]
Spans = Annotated[list[Span], AfterValidator(_spans)]
WeekHours = dict[Weekday, Spans]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Minutes = Annotated[int, Field(ge=0, le=24 * 60)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


SELF_SERVICE_ACTIONS = ("confirm", "cancel", "reschedule")
"""What a patient may do through their self-service link, in the order pages list them."""


class SelfService(_Model):
    """What the clinic lets its patients do through their self-service link (``/me/...``).
    The service's ``CHAIRTIME_SELF_SERVICE`` is the operator's ceiling: an action is offered
    only when both allow it."""

    confirm: bool = Field(default=True, description="Patients may confirm a session.")
    cancel: bool = Field(default=True, description="Patients may cancel a session (up to "
                         "late_cancel_hours before it).")
    reschedule: bool = Field(default=True, description="Patients may move a session to a "
                             "time the slot finder offers (up to late_cancel_hours before).")
    late_cancel_hours: Annotated[float, Field(ge=0, le=14 * 24)] | None = Field(
        default=None, description="Hours before a session after which a patient cannot "
        "cancel or move it here (the page says: please call); default the service's "
        "CHAIRTIME_LATE_CANCEL_HOURS.")

    def allows(self, action: str) -> bool:
        """Whether the clinic lets patients ``action`` (one of SELF_SERVICE_ACTIONS)."""
        return bool(getattr(self, action)) if action in SELF_SERVICE_ACTIONS else False


class Clinic(_Model):
    name: SafeText = Field(min_length=1)
    timezone: SafeText = Field(description="IANA time zone name, e.g. America/New_York")
    slot_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    hours: WeekHours
    closed_dates: list[date] = []
    address: SafeLines | None = None
    arrival_instructions: SafeLines | None = None
    date_format: Literal["iso", "us", "eu"] | None = Field(
        default=None, description="How the clinic writes dates in files it imports (a "
        "patients CSV): us 12/04/2026 is 4 Dec, eu 12/04/2026 is 12 Apr; iso (the default) "
        "reads only 2026-12-04, and a slashed date either way could be read is a problem.")
    self_service: SelfService = Field(
        default_factory=SelfService, description="What patients may do through their "
        "self-service link (confirm, cancel, reschedule; the late-cancellation window); "
        "default: every action the service allows, its window.")


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
    modes: dict[SafeText, Literal["hands_on", "monitor"]] = {}

    @property
    def name(self) -> str:
        return self.key or self.role


class OnSiteSpec(_Model):
    role: Id
    phases: list[SafeText] = Field(min_length=1)


class ProtocolSpec(_Model):
    id: Id
    name: SafeText = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    turnover_minutes: Minutes = 0
    room_features: list[SafeText] = []
    staff: list[StaffNeedSpec] = []
    on_site: list[OnSiteSpec] = []
    revisions: list[Revision] = Field(default=[], description="Phase durations from a date on.")
    requires_rems: bool = Field(
        default=False,
        description="Only patients enrolled in the Spravato REMS may be booked (rems_enrolled).")
    dose_phase: SafeText | None = Field(
        default=None,
        description="Phase whose start is the dosing moment (for staggering); default: a phase "
        "named dosing, infusion or injection, else the second phase.")
    video: bool = Field(
        default=False,
        description="A video session: it takes no room (room_features must be empty; the "
        "appointment's room is null) and needs only the clinic's hours and its staff.")

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
    name: SafeText | None = None
    features: list[SafeText] = []
    chairs: Annotated[int, Field(ge=1, le=100)] = 1
    hours: WeekHours | None = None
    closures: list[Outage] = Field(default=[], description="Out of service on a date or part.")


class StaffSpec(_Model):
    id: Id
    name: SafeText | None = None
    role: Id
    qualifications: list[SafeText] = []
    max_patients: Annotated[int, Field(ge=0, le=100)] = 1
    shifts: WeekHours = {}
    time_off: list[date] = []
    absences: list[Outage] = Field(default=[], description="Absent on a date, or part of it.")


class WeekLimit(_Model):
    """A calendar week's limit for one patient (contract extension for multi-week plans)."""

    week: date = Field(description="The Monday that starts the calendar week (Mon-Sun).")
    max_sessions: Annotated[int, Field(ge=0, le=7)] = Field(
        description="At most this many of the patient's appointments (fixed ones included) "
        "fall in the week: a hard rule check verifies.")
    ideal_gap_days: tuple[Annotated[int, Field(ge=0, le=365)],
                          Annotated[int, Field(ge=0, le=365)]] | None = Field(
        default=None, description="Soft: days from the previous session to a session of this "
        "week ideally lie in [low, high]; each day outside costs settings.spacing_weight.")

    @model_validator(mode="after")
    def _monday(self) -> WeekLimit:
        if self.week.weekday() != 0:
            raise ValueError(f"week {self.week} is a {self.week:%A}; name the Monday that "
                             "starts the calendar week")
        if self.ideal_gap_days is not None and self.ideal_gap_days[1] < self.ideal_gap_days[0]:
            raise ValueError(f"ideal_gap_days {list(self.ideal_gap_days)}: the high end is "
                             "below the low end")
        return self


class DoseStep(_Model):
    """A dose step inside the horizon: the patient's first ``after`` sessions use the
    patient's ``protocol``, the rest this ``protocol``."""

    after: Annotated[int, Field(ge=0, le=62)] = Field(
        description="Sessions in the horizon (by date, fixed ones counted, history not) "
        "before the step.")
    protocol: Id = Field(description="The protocol of the sessions after the step.")


class FollowUp(_Model):
    """Each session of the patient wants one follow-up session of ``protocol`` ``days``
    after it (e.g. KAP integration 1-3 days after each dosing)."""

    protocol: Id = Field(description="The follow-up's protocol (e.g. kap-integration).")
    days: tuple[Annotated[int, Field(ge=1, le=30)], Annotated[int, Field(ge=1, le=30)]] = Field(
        description="[low, high]: days from the session to its follow-up.")

    @model_validator(mode="after")
    def _ordered(self) -> FollowUp:
        if self.days[1] < self.days[0]:
            raise ValueError(f"days {list(self.days)}: the high end is below the low end")
        return self


class CourseState(_Model):
    """Where a patient stands in a treatment course; the plan's sessions derive from it
    (``scheduler.courses``)."""

    id: Id = Field(description="A course of the library (scheduler/data/courses.yaml) or of "
                   "the scenario's own courses.")
    history: list[date] = Field(default=[], description="Dates of the course's sessions done "
                                "before the horizon (missed ones are simply absent).")
    started: date | None = Field(default=None, description="First session's date, when the "
                                 "history is not listed in full; default the first in history.")
    done: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="Sessions done, when the history is not listed in full; "
        "default len(history).")
    dose: Annotated[int, Field(ge=1, le=10000)] | None = Field(
        default=None, description="Current dose step (mg): picks the protocol; default the "
        "course's first dose for a new patient, else the patient's protocol.")
    every_weeks: Annotated[int, Field(ge=1, le=12)] | None = Field(
        default=None, description="Maintenance interval chosen for this patient (weeks).")
    worsening: bool = Field(default=False, description="A maintenance patient getting worse "
                            "returns to the previous stage's frequency.")


class CourseStage(_Model):
    """One stage of a course: how many sessions, at what cadence."""

    name: Id
    sessions: Annotated[int, Field(ge=1, le=200)] | None = Field(
        default=None, description="Sessions in the stage; absent: open-ended (maintenance).")
    per_week: Annotated[int, Field(ge=1, le=7)] = 1
    every_weeks: Annotated[int, Field(ge=1, le=12)] = 1
    min_gap_days: Annotated[int, Field(ge=1, le=90)] = 2
    ideal_gap_days: tuple[Annotated[int, Field(ge=1, le=90)],
                          Annotated[int, Field(ge=1, le=90)]]
    priority: Annotated[int, Field(ge=1, le=5)] = 1
    protocol: Id | None = Field(
        default=None, description="The protocol of this stage's sessions (e.g. KAP "
        "preparation), instead of the course's protocol or dose step; a library stage whose "
        "protocol the scenario lacks is left out of the course.")


class CourseSpec(_Model):
    """A treatment course: stages in order, and the dose steps that pick the protocol."""

    id: Id
    name: SafeText = Field(min_length=1)
    protocol: Id | None = Field(default=None, description="The protocol of every session, "
                                "unless doses name one per dose step.")
    doses: dict[int, Id] = Field(default={}, description="Dose step (mg) -> protocol id.")
    first_dose: int | None = Field(default=None, description="A new patient's first dose.")
    deadline_days: Annotated[int, Field(ge=1, le=365)] | None = Field(
        default=None, description="The first stage should be complete within this many days "
        "of the first session; falling behind raises priority.")
    stages: list[CourseStage] = Field(min_length=1)
    follow_up: FollowUp | None = Field(
        default=None, description="Each session wants a follow-up session (e.g. KAP "
        "integration by video 1-3 days after each dosing); emitted as the patient's follow_up "
        "when the scenario has the follow-up's protocol.")
    source: SafeText | None = None


_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,30}(?: ?(?:x|ext\.?) ?[0-9]{1,6})?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 6:
        raise ValueError(f"{value!r} is not a phone number: digits, with spaces, '+', '-', "
                         "'(' ')' or '.' if wanted")
    return value


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address such as name@example.org")
    return value


class Contact(_Model):
    """How the clinic reaches a patient (the front desk's notices show it)."""

    phone: Annotated[SafeText, AfterValidator(_phone)] | None = None
    email: Annotated[SafeText, AfterValidator(_email)] | None = None


class RemsEnrollment(_Model):
    """A patient's Spravato REMS enrollment: the number the REMS gave and the date."""

    number: SafeText = Field(min_length=1, max_length=64)
    enrolled_on: date | None = None


def patient_email(spec: PatientSpec | None) -> str | None:
    """The e-mail address of a patient, None when none is on file: the one place it is read."""
    if spec is None or spec.contact is None:
        return None
    return spec.contact.email


class PatientSpec(_Model):
    id: Id
    name: SafeText | None = None
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
    per_week: list[WeekLimit] = Field(
        default=[], description="Per calendar week: at most max_sessions (hard), ideal spacing "
        "(soft). Written by course expansion; may be given by hand.")
    course: CourseState | None = Field(
        default=None, description="Treatment course state: sessions, gaps, per-week limits and "
        "priority are derived from it (and replace the plain fields).")
    step: DoseStep | None = Field(
        default=None, description="A dose step in the horizon: the first `after` sessions use "
        "`protocol`, the rest `step.protocol`.")
    follow_up: FollowUp | None = Field(
        default=None, description="Each session wants one follow-up session of this protocol "
        "days[0]..days[1] days after it; follow-ups do not count toward sessions, gaps or "
        "per_week.")
    contact: Contact | None = Field(default=None, description="Phone and e-mail.")
    date_of_birth: date | None = None
    rems: RemsEnrollment | None = Field(
        default=None, description="The REMS enrollment's number and date; implies "
        "rems_enrolled (which may then be left out, and may not be false).")
    notes: SafeLines | None = Field(default=None, max_length=4000)
    discharged: date | None = Field(
        default=None, description="Discharged on this date (archived): left out of planning; "
        "no session on or after it; kept with their history. Remove it to re-admit.")

    @model_validator(mode="after")
    def _enrolled(self) -> PatientSpec:
        """A REMS enrollment recorded with its number means enrolled. (After validation, not
        before: a "before" validator hands the fields on as Python values, and the API's strict
        JSON check then refused every date and list of every patient.)"""
        if self.rems is not None and self.rems_enrolled is None:
            object.__setattr__(self, "rems_enrolled", True)  # frozen: set once, here
        return self


class FixedSpec(_Model):
    id: Id
    patient: Id
    start: datetime = Field(description="Local wall-clock time of the clinic, YYYY-MM-DDTHH:MM")
    room: Annotated[str, Field(max_length=64, pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9_.\-]*$")] = \
        Field(default="", description="Required, except for a video session, which has none "
              "(left out, or empty).")
    staff: dict[SafeText, Id] = {}
    protocol: Id | None = Field(
        default=None, description="The patient's follow_up protocol for a fixed follow-up; "
        "otherwise the session's protocol by its place (the dose step), which is the default.")


class SoftGoals(_Model):
    """Soft-goal weights (per minute of penalty) and their parameters."""

    preferred_staff_weight: Annotated[int, Field(ge=0, le=1000)] = 1
    stagger_weight: Annotated[int, Field(ge=0, le=1000)] = 2
    slack_weight: Annotated[int, Field(ge=0, le=1000)] = 2
    compact_weight: Annotated[int, Field(ge=0, le=1000)] = 1
    spacing_weight: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=30, description="Per day a session lies outside its week's ideal_gap_days.")
    continuity_weight: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=1, description="Per minute a patient's session starts away from the time of "
        "day of their other sessions (same time week to week).")
    stagger_minutes: Annotated[int, Field(ge=1, le=240)] = 20
    slack_minutes: Annotated[int, Field(ge=1, le=240)] = 15
    replan_extra_moves: Annotated[int, Field(ge=0, le=100)] = Field(
        default=2, description="Re-planning may move this many appointments no event touched, "
        "to save touched patients' sessions.")


class FeedSettings(_Model):
    """What calendar feeds show. Patient, room and clinic feeds name no treatment and no
    patient unless opted in; a staff member's own feed shows what their work needs."""

    name: SafeText | None = Field(default=None, description="The clinic's name in patients' "
                                  "calendars; default clinic.name (avoid one that names a "
                                  "drug).")
    cancelled_days: Annotated[int, Field(ge=0, le=365)] = 14
    patient_reminder: Clock | None = Field(default="18:00", description="Reminder the evening "
                                           "before, local time; null for none.")
    patient_detail: bool = Field(default=False, description="Patient feeds show the protocol.")
    staff_detail: bool = Field(default=True, description="Staff feeds show the protocol, "
                               "patient initials, the room and each phase's times.")
    room_detail: bool = Field(default=False, description="Room feeds show the protocol, "
                              "patient initials and each phase's times (default: the room is "
                              "busy, nothing more).")
    clinic_detail: bool = Field(default=False, description="The clinic feed shows the "
                                "protocol, patient initials and each phase's times (default: "
                                "a session in a room, nothing more).")
    room_initials: bool = Field(default=False, description="Room feeds name the patient by "
                                "initials, without the protocol (room_detail shows both).")
    clinic_initials: bool = Field(default=False, description="The clinic feed names the "
                                  "patient by initials, without the protocol (clinic_detail "
                                  "shows both).")
    video_location: SafeText = Field(
        default="Video call", min_length=1, description="LOCATION of a video session's event "
        "(it has no room); keep it free of treatment names.")


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
    courses: list[CourseSpec] = Field(default=[], description="The clinic's own courses, added "
                                      "to (or replacing by id) the library's.")
    settings: SoftGoals = SoftGoals()
    feeds: FeedSettings = FeedSettings()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def dates(self) -> list[date]:
        return [self.horizon.start + timedelta(days=i) for i in range(self.horizon.days)]

    def protocol(self, pid: str) -> ProtocolSpec:
        return next(p for p in self.protocols if p.id == pid)


