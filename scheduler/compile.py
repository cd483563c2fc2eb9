"""Scenario (wall-clock, time zone) -> solver Problem (integer minutes since the horizon's origin).

The origin is local midnight of the horizon's first day, as an instant; every wall-clock time is
converted with its own date's UTC offset, so a week that crosses a daylight-saving change has a
23- or 25-hour day and the solver never needs to know.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from scheduler.model import (
    WEEKDAYS,
    FixedSpec,
    Outage,
    PatientSpec,
    PhaseSpec,
    ProtocolSpec,
    Scenario,
    WeekHours,
    clock_minutes,
)
from solver import (
    Day,
    Interval,
    Mode,
    OnSite,
    Patient,
    Phase,
    Placement,
    Problem,
    Protocol,
    Room,
    Staff,
    StaffNeed,
    Weights,
    union,
)

NEVER = 10**6


class SlotClock:
    """Converts between the scenario's wall-clock world and the solver's minutes."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.tz = scenario.tz
        self.origin = self.wall(scenario.horizon.start, "00:00").astimezone(UTC)

    def wall(self, day: date, clock: str) -> datetime:
        """The aware instant of wall-clock ``clock`` (``"HH:MM"``, ``"24:00"``) on ``day``."""
        naive = datetime.combine(day, time()) + timedelta(minutes=clock_minutes(clock))
        return naive.replace(tzinfo=self.tz)

    def minute(self, instant: datetime) -> int:
        return int((instant.astimezone(UTC) - self.origin).total_seconds() // 60)

    def instant(self, minute: int) -> datetime:
        return (self.origin + timedelta(minutes=minute)).astimezone(self.tz)

    def day_index(self, day: date) -> int:
        return (day - self.scenario.horizon.start).days

    def spans(self, week: WeekHours, day: date) -> tuple[Interval, ...]:
        """The day's intervals of ``week`` in minutes; touching ones form one (contract v1)."""
        return union(
            (self.minute(self.wall(day, a)), self.minute(self.wall(day, b)))
            for a, b in week.get(WEEKDAYS[day.weekday()], [])
        )

    def whole_days(self, days: list[date]) -> list[Interval]:
        """Local midnight to local midnight of each of ``days``."""
        return [(self.minute(self.wall(d, "00:00")),
                 self.minute(self.wall(d, "24:00"))) for d in days]

    def wall_minute(self, minute: int) -> int:
        """Minutes after local midnight, on the wall clock, of solver minute ``minute``."""
        t = self.instant(minute)
        return t.hour * 60 + t.minute

    def week_spans(self, week: WeekHours,
                   skip: frozenset[date] = frozenset()) -> tuple[Interval, ...]:
        return tuple(s for d in self.scenario.dates() if d not in skip
                     for s in self.spans(week, d))

    def outages(self, outages: list[Outage]) -> list[Interval]:
        return [(self.minute(self.wall(o.date, o.span()[0])),
                 self.minute(self.wall(o.date, o.span()[1]))) for o in outages]


def subtract(spans: tuple[Interval, ...], cuts: list[Interval]) -> tuple[Interval, ...]:
    """``spans`` with every part that lies in one of ``cuts`` removed."""
    out = list(spans)
    for c0, c1 in cuts:
        out = [piece for a, b in out
               for piece in ((a, min(b, c0)), (max(a, c1), b)) if piece[0] < piece[1]]
    return tuple(out)


def fixed_protocols(patients: Mapping[str, PatientSpec], fixed: Iterable[FixedSpec],
                    tz: tzinfo) -> dict[str, str]:
    """Each fixed appointment's protocol: the patient's follow-up protocol when it names it,
    else the one its place among the patient's fixed sessions calls for (the dose step: the
    first ``after`` use ``protocol``, the rest ``step.protocol``)."""
    seen: Counter[str] = Counter()
    out: dict[str, str] = {}
    for f in sorted(fixed, key=lambda f: f.start if f.start.tzinfo else f.start.replace(
            tzinfo=tz)):
        p = patients.get(f.patient)
        if p is None:
            continue
        if p.follow_up is not None and f.protocol == p.follow_up.protocol:
            out[f.id] = f.protocol
            continue
        before = seen[f.patient]
        seen[f.patient] += 1
        out[f.id] = p.step.protocol if p.step is not None and before >= p.step.after \
            else p.protocol
    return out


def _protocol(p: ProtocolSpec, phases: list[PhaseSpec], turnover: int) -> Protocol:
    return Protocol(
        id=p.id,
        name=p.name,
        phases=tuple(Phase(ph.name, ph.minutes) for ph in phases),
        turnover=turnover,
        room_features=frozenset(p.room_features),
        staff=tuple(StaffNeed(n.name, n.role, n.qualification,
                              {k: Mode(v) for k, v in n.modes.items()}) for n in p.staff),
        on_site=tuple(OnSite(o.role, tuple(o.phases)) for o in p.on_site),
        dose_phase=p.dose,
        video=p.video,
    )


def _days(scenario: Scenario, clock: SlotClock) -> tuple[Day, ...]:
    slot = scenario.clinic.slot_minutes
    days = []
    for d in scenario.dates():
        hours = clock.spans(scenario.clinic.hours, d)
        if d in scenario.clinic.closed_dates or not hours:
            continue
        # Every instant of the open hours whose wall-clock time lies on the grid: on a
        # fall-back night the repeated hour has its own starts, a skipped hour has none.
        starts = [t for a, b in hours for t in range(a, b) if clock.wall_minute(t) % slot == 0]
        days.append(Day(clock.day_index(d), d.strftime("%a %d %b"), tuple(hours),
                        tuple(starts)))
    return tuple(days)


def to_problem(scenario: Scenario, not_before: datetime | None = None,
               previous: tuple[Placement, ...] = ()) -> Problem:
    """The solver's view of a validated scenario (and, re-planning, of the frozen past and
    the appointments patients already know)."""
    clock = SlotClock(scenario)
    protocols = {p.id: _protocol(p, p.phases, p.turnover_minutes) for p in scenario.protocols}
    revisions = {
        p.id: tuple((clock.day_index(r.from_), _protocol(p, *p.on(r.from_)))
                    for r in sorted(p.revisions, key=lambda r: r.from_))
        for p in scenario.protocols if p.revisions
    }
    clinic = clock.week_spans(scenario.clinic.hours)
    rooms = tuple(
        Room(r.id, r.name or r.id, frozenset(r.features), r.chairs,
             subtract(clock.week_spans(r.hours) if r.hours is not None else clinic,
                      clock.outages(r.closures))
             if r.closures else clock.week_spans(r.hours) if r.hours is not None else None)
        for r in scenario.rooms
    )
    staff = tuple(
        Staff(m.id, m.name or m.id, m.role, frozenset(m.qualifications), m.max_patients,
              subtract(clock.week_spans(m.shifts, frozenset(m.time_off)),
                       clock.outages(m.absences)),
              union([*clock.whole_days(m.time_off), *clock.outages(m.absences)]))
        for m in scenario.staff
    )
    patients = []
    for p in scenario.patients:
        protocol = next((scenario.protocol(x) for x in _protocols_of(p)
                         if scenario.protocol(x).requires_rems), scenario.protocol(p.protocol))
        blocked = None
        if protocol.requires_rems and p.rems_enrolled is False:
            blocked = f"{p.id} is not enrolled in the REMS program that {protocol.id} requires"
        elif protocol.requires_rems and p.rems_enrolled is None:
            blocked = f"REMS enrollment not recorded for {p.id} ({protocol.id} requires it)"
        patients.append(Patient(
            id=p.id,
            protocol=p.protocol,
            sessions=0 if discharged(p, scenario) else p.sessions,
            min_gap_days=p.min_gap_days,
            last_session_day=clock.day_index(p.last_session) if p.last_session else None,
            earliest_day=clock.day_index(p.earliest) if p.earliest else 0,
            latest_day=min(clock.day_index(p.latest) if p.latest else NEVER,
                           clock.day_index(p.discharged) - 1 if p.discharged else NEVER),
            availability=_availability(clock, p, clinic),
            priority=p.priority,
            preferred_staff=frozenset(p.preferred_staff),
            blocked=blocked,
            week_caps=tuple((clock.day_index(w.week), clock.day_index(w.week) + 6,
                             w.max_sessions) for w in p.per_week),
            ideal_gaps=tuple((clock.day_index(w.week), clock.day_index(w.week) + 6,
                              *w.ideal_gap_days) for w in p.per_week
                             if w.ideal_gap_days is not None),
            step=(p.step.after, p.step.protocol) if p.step is not None else None,
            follow_up=(p.follow_up.protocol, *p.follow_up.days)
            if p.follow_up is not None else None,
        ))
    fixed = []
    own = fixed_protocols({p.id: p for p in scenario.patients}, scenario.fixed, clock.tz)
    mains = {p.id: p.protocol for p in scenario.patients}
    for f in scenario.fixed:
        start = f.start if f.start.tzinfo else f.start.replace(tzinfo=clock.tz)
        kind = own.get(f.id)
        fixed.append(Placement(f.patient, clock.day_index(start.astimezone(clock.tz).date()),
                               clock.minute(start), f.room or None, dict(f.staff), f.id,
                               None if kind == mains.get(f.patient) else kind))
    s = scenario.settings
    weights = Weights(s.preferred_staff_weight, s.stagger_weight, s.slack_weight,
                      s.compact_weight, s.stagger_minutes, s.slack_minutes,
                      s.replan_extra_moves, s.spacing_weight, s.continuity_weight)
    return Problem(_days(scenario, clock), protocols, rooms, staff, tuple(patients),
                   tuple(fixed), weights, revisions,
                   clock.minute(not_before) if not_before is not None else None, previous)


def discharged(p: PatientSpec, scenario: Scenario) -> bool:
    """Whether ``p`` is discharged by the horizon's first day: then they want no session (their
    fixed ones stay, and they stay in the problem for a slot search or a move to find). One
    discharged later is planned until the day before (``latest_day``)."""
    return p.discharged is not None and p.discharged <= scenario.horizon.start


def _protocols_of(p: PatientSpec) -> list[str]:
    """Every protocol a patient's sessions may use: their own, the step's, the follow-up's."""
    return [p.protocol, *([p.step.protocol] if p.step else []),
            *([p.follow_up.protocol] if p.follow_up else [])]


def _availability(clock: SlotClock, p: PatientSpec, clinic: tuple[Interval, ...]
                  ) -> tuple[Interval, ...] | None:
    if p.availability is None and not p.unavailable:
        return None
    base = clock.week_spans(p.availability) if p.availability is not None else clinic
    return subtract(base, clock.outages(p.unavailable))
