"""Plain problem and solution types: the only thing the solver and its callers share.

Time is integer minutes since the horizon's origin (local midnight of its first day, as an
instant), so the solver knows nothing of time zones: the application converts wall-clock
hours to these minutes (daylight-saving changes included) and converts the answer back.
Every tuple of spans (hours, shifts, availability) is sorted, and spans neither overlap nor
touch (touching intervals are one interval, as in contract v1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

Interval = tuple[int, int]
"""A half-open span ``[start, end)`` in minutes since the horizon's origin."""


class Mode(StrEnum):
    """How a staff member is engaged in one phase of a session."""

    HANDS_ON = "hands_on"
    MONITOR = "monitor"


HANDS = frozenset({Mode.HANDS_ON})
"""Modes in which a staff member attends one patient at a time."""
LOAD = frozenset({Mode.HANDS_ON, Mode.MONITOR})
"""Modes in which a patient counts toward a staff member's ``max_patients``."""


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    minutes: int


@dataclass(frozen=True, slots=True)
class StaffNeed:
    """One staff member assigned for a whole session, engaged in the phases of ``modes``."""

    key: str
    role: str
    qualification: str | None
    modes: dict[str, Mode]


@dataclass(frozen=True, slots=True)
class OnSite:
    """Someone of ``role`` must be on shift during each of ``phases`` (coverage, not assigned)."""

    role: str
    phases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Protocol:
    id: str
    name: str
    phases: tuple[Phase, ...]
    turnover: int
    room_features: frozenset[str]
    staff: tuple[StaffNeed, ...]
    on_site: tuple[OnSite, ...] = ()
    dose_phase: str = ""
    """The phase whose start is the moment of dosing (for staggering); default the first."""
    video: bool = False
    """A video session: it takes no room (``room_features`` is empty), only staff time within
    the clinic's hours."""

    minutes: int = field(init=False)
    """The whole session, first phase's start to last phase's end."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "minutes", sum(p.minutes for p in self.phases))

    @property
    def dose(self) -> str:
        return self.dose_phase or self.phases[0].name

    def phase_offsets(self) -> dict[str, Interval]:
        """Each phase's ``[start, end)`` relative to the session start."""
        out: dict[str, Interval] = {}
        t = 0
        for p in self.phases:
            out[p.name] = (t, t + p.minutes)
            t += p.minutes
        return out


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str
    features: frozenset[str]
    chairs: int
    hours: tuple[Interval, ...] | None = None
    """Open spans; ``None`` means the clinic's hours."""


@dataclass(frozen=True, slots=True)
class Staff:
    id: str
    name: str
    role: str
    qualifications: frozenset[str]
    max_patients: int
    shifts: tuple[Interval, ...]
    """Shift spans over the whole horizon, days off and absences already removed."""
    away: tuple[Interval, ...] = ()
    """Days off (local midnight to midnight) and absences: a staff entry without modes needs
    no shift, but never someone away at any moment of the session."""


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    protocol: str
    sessions: int
    """Sessions wanted in the horizon, fixed appointments included."""
    min_gap_days: int = 1
    last_session_day: int | None = None
    """Day index (may be negative) of the last session before the horizon."""
    earliest_day: int = 0
    latest_day: int = 10**6
    availability: tuple[Interval, ...] | None = None
    """Spans the patient can be here; ``None`` means whenever the clinic is open."""
    priority: int = 1
    preferred_staff: frozenset[str] = frozenset()
    blocked: str | None = None
    """Why this patient cannot be booked at all (e.g. not enrolled in a required programme)."""
    week_caps: tuple[tuple[int, int, int], ...] = ()
    """(first day, last day, most sessions): at most that many sessions, fixed ones included,
    on the days first..last (a calendar week; day indices, inclusive)."""
    ideal_gaps: tuple[tuple[int, int, int, int], ...] = ()
    """(first day, last day, low, high): soft, a session on those days ideally comes low..high
    days after the patient's previous one."""

    step: tuple[int, str] | None = None
    """(after, protocol): the patient's first ``after`` sessions in the horizon (fixed ones
    included, follow-ups not) use ``protocol`` above, the rest this protocol (a dose step)."""
    follow_up: tuple[str, int, int] | None = None
    """(protocol, low, high): each session wants one follow-up session of this protocol low..high
    days after it (matched one to one; not counted in ``sessions``, gaps or week caps)."""

    def main_protocol(self, before: int) -> str:
        """The protocol of a session with ``before`` of the patient's sessions before it in the
        horizon (the dose step)."""
        if self.step is not None and before >= self.step[0]:
            return self.step[1]
        return self.protocol

    @property
    def follows(self) -> str:
        """The protocol whose sessions follow-ups follow: the step's when there is one (a KAP
        patient's dosing after their preparation sessions), else the patient's own."""
        return self.step[1] if self.step is not None else self.protocol

    def follow_up_sources(self, days: list[int]) -> list[int]:
        """Of the patient's session days ``days`` in the horizon (placed and fixed, follow-ups
        not), those a follow-up may follow (sessions of :attr:`follows`, by their place), with
        ``last_session_day`` first when it was one (no step, or a step to the same protocol),
        in date order."""
        ordered = sorted(days)
        out = [d for n, d in enumerate(ordered) if self.main_protocol(n) == self.follows]
        if self.last_session_day is not None and self.protocol == self.follows:
            out.insert(0, self.last_session_day)
        return out

    def cap_allows(self, day: int, taken: list[int]) -> bool:
        """Whether one more session on ``day`` keeps the week cap, with sessions on ``taken``."""
        return all(sum(1 for t in taken if first <= t <= last) < most
                   for first, last, most in self.week_caps if first <= day <= last)

    def ideal_gap(self, day: int) -> tuple[int, int] | None:
        """The ideal days since the previous session for a session on ``day``, if any."""
        return next(((lo, hi) for first, last, lo, hi in self.ideal_gaps
                     if first <= day <= last), None)


@dataclass(frozen=True, slots=True)
class Day:
    index: int
    """Days since the horizon's first day."""
    label: str
    """A human name for messages, e.g. ``Mon 07 Dec``."""
    hours: tuple[Interval, ...]
    """Clinic open spans on this day."""
    starts: tuple[int, ...]
    """Every allowed appointment start: the slot grid inside the clinic's hours."""


@dataclass(frozen=True, slots=True)
class Placement:
    """One session at a minute, with its room and staff: a fixed, previous or placed
    appointment."""

    patient: str
    day: int
    start: int
    room: str | None
    """``None`` for a video session."""
    staff: dict[str, str]
    id: str | None = None
    protocol: str | None = None
    """The session's protocol when it is not the patient's ``protocol`` (a dose step or a
    follow-up); ``None`` means the patient's."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Soft-goal weights (per minute of penalty) and their parameters."""

    preferred_staff: int = 1
    stagger: int = 2
    slack: int = 2
    compact: int = 1
    stagger_minutes: int = 20
    slack_minutes: int = 15
    extra_moves: int = 2
    """Re-planning: untouched appointments that may move to save a touched patient's session."""
    spacing: int = 30
    """Per day a session lies outside its ideal gap from the patient's previous one."""
    continuity: int = 1
    """Per minute a patient's session starts away from their usual time of day."""


@dataclass(frozen=True)
class Problem:
    days: tuple[Day, ...]
    protocols: dict[str, Protocol]
    rooms: tuple[Room, ...]
    staff: tuple[Staff, ...]
    patients: tuple[Patient, ...]
    fixed: tuple[Placement, ...] = ()
    weights: Weights = field(default_factory=Weights)
    revisions: dict[str, tuple[tuple[int, Protocol], ...]] = field(default_factory=dict)
    """Protocol id -> (first day index, protocol in force from then on), in day order."""
    not_before: int | None = None
    """No new session may start before this minute (re-planning: the past is frozen)."""
    previous: tuple[Placement, ...] = ()
    """Appointments patients already know of: kept exactly where possible (re-planning)."""
    touched: frozenset[str] = frozenset()
    """Ids among ``previous`` that an event touched: they may have to move; the others move
    only to rebook a touched patient's session."""

    @cached_property
    def patient(self) -> dict[str, Patient]:
        return {p.id: p for p in self.patients}

    def protocol_for(self, protocol: str, day: int) -> Protocol:
        """The protocol ``protocol`` as in force on day ``day`` (durations may be revised)."""
        current = self.protocols[protocol]
        for first, revised in self.revisions.get(protocol, ()):
            if first <= day:
                current = revised
        return current

    def protocol_id(self, a: Placement) -> str:
        """The protocol id of appointment ``a``."""
        return a.protocol or self.patient[a.patient].protocol

    def appointment_protocol(self, a: Placement) -> Protocol:
        """The protocol of appointment ``a`` as in force on its day."""
        return self.protocol_for(self.protocol_id(a), a.day)

    def is_follow_up(self, a: Placement) -> bool:
        """Whether ``a`` is a follow-up session of its patient (``Patient.follow_up``)."""
        follow = self.patient[a.patient].follow_up
        return follow is not None and a.protocol == follow[0]


@dataclass(frozen=True, slots=True)
class Options:
    time_limit: float = 20.0
    workers: int = 2
    seed: int = 0
    use_hint: bool = True
    soft_goals: bool = True
    """Run the second stage that optimizes soft goals with the placements held."""
    lns: float = 0.0
    """Share of the placement stage's time given to large-neighbourhood search (``solver.lns``)
    when CP-SAT's first pass ends short of the bound; 0 leaves it out."""
    deterministic: bool = False
    """Limit each search by CP-SAT's deterministic time (work counted) rather than seconds:
    with ``workers=1`` and a seed, the same schedule on every machine."""
    lp_share: float = 0.2
    """Share of the time limit the LP bound (``solver.bound``) may take before the search, for
    a new week; 0 leaves it out. Its bound proves schedules optimal that CP-SAT alone cannot."""
    pooled: bool | None = None
    """Search a new week with staff pooled by qualification and people assigned afterwards
    (``solver.people``): True always, False never, None (the default) as ``solver.solve``
    decides from the week (see ``POOLED_DEFAULT`` there)."""


@dataclass(frozen=True, slots=True)
class Progress:
    stage: str
    seconds: float
    objective: float
    bound: float


@dataclass(frozen=True, slots=True)
class Unplaced:
    patient: str
    sessions: int
    reason: str


@dataclass(slots=True)
class Solution:
    status: str
    """OPTIMAL, FEASIBLE (time limit hit) or GREEDY (no better schedule found in time)."""
    seconds: float
    objective: int
    """Priority-weighted sessions placed (fixed ones included)."""
    bound: int
    """Best proven upper bound on ``objective``."""
    appointments: list[Placement]
    unplaced: list[Unplaced]
    penalties: dict[str, int] = field(default_factory=dict)
    """Soft-goal penalty minutes by goal name (unweighted)."""
    greedy_objective: int = 0
    model_size: dict[str, int] = field(default_factory=dict)
    """Candidate visits, CP-SAT variables and constraints (for benchmarks)."""
