"""Differential tests: the solver against the independent checker, and against a brute-force
reference that computes the true optimum of tiny weeks.

Three implementations read contract v1 here, each on its own:

- the solver (``scheduler.compile`` -> ``solver``), which works in integer minutes;
- the independent checker (``scheduler.check``), which judges a finished schedule;
- the :class:`Reference` below, written from ``../shared/CONTRACT.md`` alone. It shares nothing
  with the solver's model: it lays every possible appointment out with zoneinfo and absolute UTC
  arithmetic, keeps the ones that satisfy the hard rules on their own, and finds the best
  combination with a plain 0/1 program (HiGHS): per-moment chair, hands-on and load capacities,
  session counts, one session a day and minimum gaps.

The generated scenarios cover the whole format (split and touching hours, room hours and
closures, staff absences and days off, hand-overs, entries with and without modes, REMS,
fixed appointments, daylight-saving weeks in several zones, 5/10/15/30-minute grids,
per-calendar-week caps and ideal spacing (``per_week``) on horizons that cross a Monday).

Where the contract is silent the reference follows the project's documented reading: a wall-clock
time that occurs twice means its first occurrence (PEP 495 ``fold=0``) but starts in the repeated
hour are on the grid too; a staff entry without modes needs its person at work (no day off, no
absence during the session); one person fills at most one entry of a session; a REMS protocol
needs ``rems_enrolled: true``; a ``per_week`` cap counts a patient's sessions (fixed ones
included) by their local date's Monday-to-Sunday week.

The default run is bounded; ``-m fuzz --hypothesis-profile=fuzz`` (or ``CHAIRTIME_FUZZ_MINUTES``)
runs the same properties for a long time and writes every disagreement's scenario to a YAML file.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import highspy
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from scheduler.check import check
from scheduler.errors import InvalidInput
from scheduler.model import (
    FixedSpec,
    Outage,
    PatientSpec,
    Scenario,
    StaffSpec,
    Weekday,
    WeekHours,
)
from scheduler.usecases import plan_week
from scheduler.validate import validate_scenario as _validate
from solver import Options

log = logging.getLogger(__name__)

FIXTURES = Path(__file__).parent / "fixtures" / "differential"
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("fuzz", max_examples=100_000, deadline=None, suppress_health_check=SLOW,
                          database=None, report_multiple_bugs=False)
FUZZ = settings.get_profile("fuzz")
"""The long run's settings. ``--hypothesis-profile=fuzz`` on the command line needs the same
registration in conftest.py (pytest loads profiles before it imports this module)."""
HYPOTHESIS_DEFAULT_EXAMPLES = 100
FAILURES_PER_CAMPAIGN = 5

FUZZ_MINUTES_ENV = "CHAIRTIME_FUZZ_MINUTES"
FUZZ_OUT_ENV = "CHAIRTIME_FUZZ_OUT"
DEFAULT_FUZZ_MINUTES = 20.0
FULL_EXAMPLES = 80
TINY_EXAMPLES = 300
JUDGED_EXAMPLES = 100
JUDGED_SCHEDULES = 40
"""Small schedules judged by both the checker and the reference, per scenario."""
OPTIMUM_SECONDS = 10.0
"""Tiny weeks prove their optimum in milliseconds; a limit hit only weakens the assertions."""
CHECK_SECONDS = 2.0
"""Weeks that are only checked: the soft-goal stage would spend any limit polishing."""

Span = tuple[datetime, datetime]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REMS_MINUTES = 120
"""A REMS protocol keeps this long after its dose phase with a prescriber on site."""


# =============================================================================== the reference
def clock_minutes(text: str) -> int:
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)


def joined(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans as one (the contract: touching intervals form one)."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def minus(spans: Iterable[Span], cuts: Iterable[Span]) -> list[Span]:
    out = list(spans)
    for lo, hi in cuts:
        out = [p for a, b in out for p in ((a, min(b, lo)), (max(a, hi), b)) if p[0] < p[1]]
    return out


def inside_one(start: datetime, end: datetime, spans: Iterable[Span]) -> bool:
    return any(a <= start and end <= b for a, b in spans)


@dataclass(frozen=True, slots=True)
class Session:
    """One appointment as the reference lays it out: UTC instants, phases back to back."""

    id: str
    patient: str
    protocol: str
    room: str
    staff: tuple[tuple[str, str], ...]
    """(entry key, staff id) pairs, in the protocol's order."""
    day: date
    phases: tuple[tuple[str, datetime, datetime], ...]
    turnover: int
    value: int

    @property
    def start(self) -> datetime:
        return self.phases[0][1]

    @property
    def end(self) -> datetime:
        return self.phases[-1][2]


Resource = tuple[str, str]
"""("room", id), ("hands", staff id) or ("load", staff id)."""


@dataclass(slots=True)
class Optimum:
    value: int
    chosen: list[Session]
    candidates: int


class Reference:
    """Contract v1's hard rules, read from the contract's text with zoneinfo and UTC arithmetic.

    It reads the validated scenario (the input format) and nothing of the solver; a protocol's
    revision (new minutes from a date on) is in force from its date.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.tz = ZoneInfo(scenario.clinic.timezone)
        self.protocols = {p.id: p for p in scenario.protocols}
        self.rooms = {r.id: r for r in scenario.rooms}
        self.staff = {m.id: m for m in scenario.staff}
        self.patients = {p.id: p for p in scenario.patients}
        self.first = scenario.horizon.start
        self.horizon = [self.first + timedelta(days=i) for i in range(scenario.horizon.days)]

    # ------------------------------------------------------------------ wall clock -> UTC
    def at(self, day: date, clock: str) -> datetime:
        """The UTC instant of wall-clock ``clock`` on ``day`` (first occurrence, PEP 495)."""
        minutes = clock_minutes(clock)
        local = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(
            minutes=minutes)  # wall-clock addition: 24:00 is the next local midnight
        return local.astimezone(UTC)

    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def week(self, hours: WeekHours | None, day: date) -> list[Span]:
        if hours is None:
            return []
        return joined((self.at(day, a), self.at(day, b))
                      for a, b in hours.get(WEEKDAYS[day.weekday()], []))

    def outages(self, outages: Iterable[Outage], day: date) -> list[Span]:
        return [(self.at(day, o.from_ or "00:00"), self.at(day, o.to or "24:00"))
                for o in outages if o.date == day]

    def clinic(self, day: date) -> list[Span]:
        if day not in self.horizon or day in self.s.clinic.closed_dates:
            return []
        return self.week(self.s.clinic.hours, day)

    def room_open(self, room_id: str, day: date) -> list[Span]:
        room = self.rooms[room_id]
        hours = room.hours if room.hours is not None else self.s.clinic.hours
        return minus(self.week(hours, day), self.outages(room.closures, day))

    def at_work(self, m: StaffSpec, day: date) -> list[Span]:
        if day in m.time_off:
            return []
        return minus(self.week(m.shifts, day), self.outages(m.absences, day))

    def away(self, m: StaffSpec, day: date) -> list[Span]:
        if day in m.time_off:
            return [(self.at(day, "00:00"), self.at(day, "24:00"))]
        return self.outages(m.absences, day)

    def patient_window(self, p: PatientSpec, day: date) -> list[Span]:
        hours = p.availability if p.availability is not None else self.s.clinic.hours
        return minus(self.week(hours, day), self.outages(p.unavailable, day))

    # ------------------------------------------------------------------ one appointment
    def in_force(self, protocol_id: str, day: date) -> tuple[list[tuple[str, int]], int]:
        """Phase minutes and turnover on ``day``: the latest revision dated on or before it."""
        p = self.protocols[protocol_id]
        phases, turnover = [(ph.name, ph.minutes) for ph in p.phases], p.turnover_minutes
        for r in sorted(p.revisions, key=lambda r: r.from_):
            if r.from_ <= day:
                phases = [(ph.name, ph.minutes) for ph in r.phases]
                if r.turnover_minutes is not None:
                    turnover = r.turnover_minutes
        return phases, turnover

    def turnover(self, patient: str, day: date) -> int:
        return self.in_force(self.patients[patient].protocol, day)[1]

    def layout(self, patient: str, start: datetime) -> tuple[tuple[str, datetime, datetime], ...]:
        """The phases back to back from ``start``, as in force on its local date."""
        phases, _ = self.in_force(self.patients[patient].protocol, self.local(start).date())
        out = []
        t = start.astimezone(UTC)
        for name, minutes in phases:
            out.append((name, t, t + timedelta(minutes=minutes)))
            t += timedelta(minutes=minutes)
        return tuple(out)

    def on_grid(self, t: datetime) -> bool:
        local = self.local(t)
        return local.second == 0 and (local.hour * 60 + local.minute) % \
            self.s.clinic.slot_minutes == 0

    def timing_problems(self, patient: str, day: date,
                        phases: Sequence[tuple[str, datetime, datetime]]) -> list[str]:
        """Rules 1, 2 (clinic), 5 and 6 (alone): what a start breaks whatever room and staff."""
        p = self.patients[patient]
        protocol = self.protocols[p.protocol]
        start, end = phases[0][1], phases[-1][2]
        out = []
        if not self.on_grid(start):
            out.append(f"{self.local(start):%H:%M} is off the slot grid")
        if not inside_one(start, end, self.clinic(day)):
            out.append(f"{self.local(start):%a %H:%M} is not inside one interval of the "
                       "clinic's open hours")
        window = self.patient_window(p, day)
        if not inside_one(start, end, window):
            out.append(f"{patient} is not available for the whole session")
        if (p.earliest and day < p.earliest) or (p.latest and day > p.latest):
            out.append(f"{day} is outside {patient}'s date window")
        if p.last_session and (day - p.last_session).days < max(p.min_gap_days, 1):
            out.append(f"{day} is too close to {patient}'s last session {p.last_session}")
        if protocol.requires_rems and p.rems_enrolled is not True:
            out.append(f"{patient} is not known to be enrolled in the REMS")
        at = {name: (s, e) for name, s, e in phases}
        for rule in protocol.on_site:
            covered = joined(span for m in self.s.staff if m.role == rule.role
                             for span in self.at_work(m, day))
            for phase in rule.phases:
                if not inside_one(*at[phase], covered):
                    out.append(f"no {rule.role} on site for the whole {phase}")
        return out

    def room_problems(self, patient: str, room_id: str, day: date, start: datetime,
                      end: datetime) -> list[str]:
        """Rules 2 (room hours) and 3 (features)."""
        protocol = self.protocols[self.patients[patient].protocol]
        room = self.rooms[room_id]
        out = []
        if not set(protocol.room_features) <= set(room.features):
            out.append(f"room {room_id} lacks a feature of {protocol.id}")
        if not inside_one(start, end, self.room_open(room_id, day)):
            out.append(f"room {room_id} is not open for the whole session")
        return out

    def member_problems(self, patient: str, entry: int, sid: str, day: date,
                        phases: Sequence[tuple[str, datetime, datetime]]) -> list[str]:
        """Rule 4 for one entry and one person, on their own."""
        need = self.protocols[self.patients[patient].protocol].staff[entry]
        m = self.staff[sid]
        out = []
        if m.role != need.role:
            out.append(f"{sid} is not a {need.role}")
        if need.qualification and need.qualification not in m.qualifications:
            out.append(f"{sid} lacks {need.qualification}")
        if day in m.time_off:
            out.append(f"{sid} is on time off")
        at = {name: (s, e) for name, s, e in phases}
        if need.modes:
            if m.max_patients < 1:
                out.append(f"{sid} may attend nobody (max_patients 0)")
            shifts = self.at_work(m, day)
            for phase in need.modes:
                if not inside_one(*at[phase], shifts):
                    out.append(f"{sid} is not at work for the whole {phase}")
        elif any(lo < phases[-1][2] and phases[0][1] < hi for lo, hi in self.away(m, day)):
            out.append(f"{sid} is away during the session")
        return out

    def session_problems(self, x: Session) -> list[str]:
        """Every rule one appointment can break on its own (all but the shared capacities)."""
        protocol = self.protocols[self.patients[x.patient].protocol]
        out = self.timing_problems(x.patient, x.day, x.phases)
        out += self.room_problems(x.patient, x.room, x.day, x.start, x.end)
        staff = dict(x.staff)
        keys = [n.key or n.role for n in protocol.staff]
        if sorted(staff) != sorted(keys):
            out.append(f"staff keys {sorted(staff)} are not {sorted(keys)}")
        if len(set(staff.values())) < len(staff):
            out.append("one person fills two entries")
        for n, key in enumerate(keys):
            if key in staff and staff[key] in self.staff:
                out += self.member_problems(x.patient, n, staff[key], x.day, x.phases)
        if x.day not in self.horizon:
            out.append(f"{x.day} is outside the horizon")
        return out

    # ------------------------------------------------------------------ shared capacities
    def usage(self, x: Session) -> list[tuple[Resource, datetime, datetime]]:
        protocol = self.protocols[x.protocol]
        out: list[tuple[Resource, datetime, datetime]] = [
            (("room", x.room), x.start, x.end + timedelta(minutes=x.turnover))]
        at = {name: (s, e) for name, s, e in x.phases}
        staff = dict(x.staff)
        for need in protocol.staff:
            sid = staff.get(need.key or need.role)
            if sid is None:
                continue
            for phase, mode in need.modes.items():
                out.append((("load", sid), *at[phase]))
                if mode == "hands_on":
                    out.append((("hands", sid), *at[phase]))
        return out

    def capacity(self, resource: Resource) -> int:
        kind, rid = resource
        if kind == "room":
            return self.rooms[rid].chairs
        return 1 if kind == "hands" else self.staff[rid].max_patients

    def capacity_rows(self, free: Sequence[Session], held: Sequence[Session]
                      ) -> tuple[dict[frozenset[int], int], list[str]]:
        """Rows ``sum(x[i] for i in row) <= cap`` over ``free`` sessions, given ``held`` ones;
        and every moment at which the held sessions alone are over a capacity.

        Occupancy peaks where some interval starts, so those moments are the only ones checked.
        """
        items: dict[Resource, list[tuple[datetime, datetime, int]]] = defaultdict(list)
        for i, x in enumerate(free):
            for resource, s, e in self.usage(x):
                items[resource].append((s, e, i))
        for x in held:
            for resource, s, e in self.usage(x):
                items[resource].append((s, e, -1))
        rows: dict[frozenset[int], int] = {}
        over = []
        for resource, spans in items.items():
            cap = self.capacity(resource)
            for moment in sorted({s for s, _, _ in spans}):
                here = [i for s, e, i in spans if s <= moment < e]
                held_here = sum(1 for i in here if i < 0)
                row = frozenset(i for i in here if i >= 0)
                if held_here > cap:
                    over.append(f"{resource[0]} {resource[1]} holds {held_here} > {cap} at "
                                f"{self.local(moment):%a %H:%M}")
                if len(row) + held_here > cap:
                    rows[row] = min(rows.get(row, cap), cap - held_here)
        return rows, over

    def patient_problems(self, sessions: Sequence[Session]) -> list[str]:
        out = []
        by_patient: dict[str, list[Session]] = defaultdict(list)
        for x in sessions:
            by_patient[x.patient].append(x)
        for pid, items in by_patient.items():
            p = self.patients[pid]
            if len(items) > p.sessions:
                out.append(f"{pid} has {len(items)} sessions, wants {p.sessions}")
            for week, cap in self.week_caps(p).items():
                here = sum(1 for x in items if monday_of(x.day) == week)
                if here > cap:
                    out.append(f"{pid} has {here} sessions in the week of {week}, at most {cap}")
            days = sorted(x.day for x in items)
            for a, b in itertools.pairwise(days):
                if (b - a).days < max(p.min_gap_days, 1):
                    out.append(f"{pid}'s sessions on {a} and {b} are too close")
        return out

    @staticmethod
    def week_caps(p: PatientSpec) -> dict[date, int]:
        """The patient's hard per-calendar-week caps (``per_week``: Monday -> max_sessions)."""
        return {w.week: w.max_sessions for w in p.per_week}

    # ------------------------------------------------------------------ fixed appointments
    def fixed_session(self, f: FixedSpec) -> Session:
        tz_start = f.start if f.start.tzinfo is not None else f.start.replace(tzinfo=self.tz)
        start = tz_start.astimezone(UTC)
        p = self.patients[f.patient]
        protocol = self.protocols[p.protocol]
        keys = [n.key or n.role for n in protocol.staff]
        assert f.room is not None, "the generated scenarios have no video sessions"
        return Session(f.id, f.patient, p.protocol, f.room,
                       tuple((k, f.staff[k]) for k in keys if k in f.staff),
                       self.local(start).date(), self.layout(f.patient, start),
                       self.turnover(f.patient, self.local(start).date()), p.priority)

    def fixed(self) -> list[Session]:
        return [self.fixed_session(f) for f in self.s.fixed]

    # ------------------------------------------------------------------ judging a schedule
    def read(self, document: dict[str, Any]) -> tuple[list[Session], list[str]]:
        """The sessions of a schedule.json, laid out anew, and where its phases differ."""
        out, problems = [], []
        for a in document["appointments"]:
            start = datetime.fromisoformat(a["start"]).astimezone(UTC)
            pid = a["patient"]
            protocol = self.protocols[self.patients[pid].protocol]
            phases = self.layout(pid, start)
            given_phases = [(p["name"], datetime.fromisoformat(p["start"]).astimezone(UTC),
                             datetime.fromisoformat(p["end"]).astimezone(UTC))
                            for p in a["phases"]]
            if given_phases != list(phases) or \
                    datetime.fromisoformat(a["end"]).astimezone(UTC) != phases[-1][2]:
                problems.append(f"{a['id']}: phases are not {protocol.id}'s, back to back")
            if a["protocol"] != protocol.id:
                problems.append(f"{a['id']}: protocol {a['protocol']} is not {pid}'s")
            keys = [n.key or n.role for n in protocol.staff]
            staff = [(k, a["staff"][k]) for k in keys if k in a["staff"]]
            staff += [(k, v) for k, v in a["staff"].items() if k not in keys]
            out.append(Session(a["id"], pid, protocol.id, a["room"], tuple(staff),
                               self.local(start).date(), phases,
                               self.turnover(pid, self.local(start).date()),
                               self.patients[pid].priority))
        return out, problems

    def problems(self, document: dict[str, Any]) -> list[str]:
        """Every hard rule the schedule breaks, as the reference reads the contract."""
        sessions, out = self.read(document)
        for x in sessions:
            out += [f"{x.id}: {what}" for what in self.session_problems(x)]
        out += self.capacity_rows([], sessions)[1]
        out += self.patient_problems(sessions)
        by_id = {x.id: x for x in sessions}
        for f in self.fixed():
            got = by_id.get(f.id)
            if got is None or (got.patient, got.start, got.room, dict(got.staff)) != (
                    f.patient, f.start, f.room, dict(f.staff)):
                out.append(f"fixed {f.id} is missing or changed")
        return out

    # ------------------------------------------------------------------ the true optimum
    def starts(self, day: date) -> list[datetime]:
        """Every instant of ``day``'s open hours whose local wall clock is on the grid (both
        occurrences of a repeated hour)."""
        out = []
        for a, b in self.clinic(day):
            t = a
            while t < b:
                if self.local(t).date() == day and self.on_grid(t):
                    out.append(t)
                t += timedelta(minutes=5)  # every zone used here is a multiple of 5 min off UTC
        return out

    def any_session(self, rng: random.Random) -> Session:
        """A random appointment, valid or not: any patient, day (the horizon's, or one beside
        it), grid start of the whole day, room, and person of the entry's role (now and then
        of any role) for every entry."""
        p = rng.choice(self.s.patients)
        protocol = self.protocols[p.protocol]
        day = rng.choice([*self.horizon, self.first - timedelta(days=1),
                          self.horizon[-1] + timedelta(days=1)] if rng.random() < 0.1
                         else self.horizon)
        grid = []
        t, end = self.at(day, "00:00"), self.at(day, "24:00")
        while t < end:
            if self.on_grid(t):
                grid.append(t)
            t += timedelta(minutes=5)
        start = rng.choice(grid)
        staff = []
        for need in protocol.staff:
            same_role = [m.id for m in self.s.staff if m.role == need.role]
            pool = same_role if same_role and rng.random() < 0.95 else list(self.staff)
            staff.append((need.key or need.role, rng.choice(pool)))
        return Session("any", p.id, protocol.id, rng.choice(list(self.rooms)), tuple(staff), day,
                       self.layout(p.id, start), self.turnover(p.id, day), p.priority)

    def moved(self, x: Session, rng: random.Random) -> Session:
        """``x`` with one thing changed: its start by a slot or two, its date, its room, or one
        person. Near a valid appointment is where two readings of a rule part ways."""
        kind = rng.choice(["start", "start", "date", "room", "staff"])
        start, day, room, staff = x.start, x.day, x.room, list(x.staff)
        if kind == "start":
            start += timedelta(minutes=self.s.clinic.slot_minutes * rng.choice([-2, -1, 1, 2]))
        elif kind == "date":
            day += timedelta(days=rng.choice([-1, 1]))
            start = self.at(day, f"{self.local(start):%H:%M}")
        elif kind == "room":
            room = rng.choice(list(self.rooms))
        elif staff:
            k = rng.randrange(len(staff))
            staff[k] = (staff[k][0], rng.choice(list(self.staff)))
        day = self.local(start).date()
        return Session("moved", x.patient, x.protocol, room, tuple(staff), day,
                       self.layout(x.patient, start), self.turnover(x.patient, day), x.value)

    def candidates(self, held: Sequence[Session]) -> list[Session]:
        """Every appointment that satisfies, on its own and beside the held ones' dates, every
        rule but the shared capacities: patient x day x grid start x room x staff per entry."""
        out: list[Session] = []
        held_days: dict[str, list[date]] = defaultdict(list)
        for x in held:
            held_days[x.patient].append(x.day)
        for p in self.s.patients:
            if p.sessions - len(held_days[p.id]) <= 0:
                continue
            protocol = self.protocols[p.protocol]
            keys = [n.key or n.role for n in protocol.staff]
            gap = max(p.min_gap_days, 1)
            caps = self.week_caps(p)
            for day in self.horizon:
                if any(abs((day - d).days) < gap for d in held_days[p.id]):
                    continue
                week = monday_of(day)
                if week in caps and caps[week] <= sum(1 for d in held_days[p.id]
                                                      if monday_of(d) == week):
                    continue
                for start in self.starts(day):
                    phases = self.layout(p.id, start)
                    if self.timing_problems(p.id, day, phases):
                        continue
                    rooms = [r for r in self.rooms
                             if not self.room_problems(p.id, r, day, start, phases[-1][2])]
                    pools = [[sid for sid in self.staff
                              if not self.member_problems(p.id, n, sid, day, phases)]
                             for n in range(len(keys))]
                    for room in rooms:
                        for people in itertools.product(*pools):
                            if len(set(people)) < len(people):
                                continue
                            out.append(Session(f"C{len(out) + 1}", p.id, protocol.id, room,
                                               tuple(zip(keys, people, strict=True)), day,
                                               phases, self.turnover(p.id, day), p.priority))
        return out

    def optimum(self) -> Optimum:
        """The most priority-weighted sessions (fixed ones included) any valid week places."""
        held = self.fixed()
        free = self.candidates(held)
        rows, over = self.capacity_rows(free, held)
        assert not over, f"the fixed appointments alone overload a resource: {over}"
        by_patient: dict[str, list[int]] = defaultdict(list)
        for i, x in enumerate(free):
            by_patient[x.patient].append(i)
        for pid, idx in by_patient.items():
            p = self.patients[pid]
            left = p.sessions - sum(1 for x in held if x.patient == pid)
            if len(idx) > left:
                rows[frozenset(idx)] = min(rows.get(frozenset(idx), left), left)
            gap = max(p.min_gap_days, 1)
            for day in self.horizon:  # dates closer than the gap: at most one of them
                window = frozenset(i for i in idx if 0 <= (free[i].day - day).days < gap)
                if len(window) > 1:
                    rows[window] = min(rows.get(window, 1), 1)
            for week, cap in self.week_caps(p).items():  # a calendar week's cap
                room = cap - sum(1 for x in held if x.patient == pid and monday_of(x.day) == week)
                inside = frozenset(i for i in idx if monday_of(free[i].day) == week)
                if len(inside) > room:
                    rows[inside] = min(rows.get(inside, room), max(room, 0))
        chosen = [free[i] for i in best_subset([x.value for x in free], rows)]
        value = sum(x.value for x in held) + sum(x.value for x in chosen)
        return Optimum(value, [*held, *chosen], len(free))

    # ------------------------------------------------------------------ schedule.json
    def document(self, sessions: Sequence[Session]) -> dict[str, Any]:
        """A contract v1 ``schedule.json`` of the sessions (local times with their offsets)."""
        def iso(t: datetime) -> str:
            return self.local(t).isoformat(timespec="seconds")

        fixed = {f.id for f in self.s.fixed}
        appointments = []
        for n, x in enumerate(sessions, 1):
            appointments.append({
                "id": x.id if x.id in fixed else f"R-{n:04d}",
                "patient": x.patient, "protocol": x.protocol, "room": x.room,
                "staff": dict(x.staff), "start": iso(x.start), "end": iso(x.end),
                "phases": [{"name": name, "start": iso(s), "end": iso(e)}
                           for name, s, e in x.phases]})
        return {"version": 1, "scenario": self.s.clinic.name,
                "generated_at": "2026-01-01T00:00:00Z",
                "solver": {"status": "REFERENCE"}, "appointments": appointments,
                "unplaced": [], "kpis": {}}


def best_subset(values: Sequence[int], rows: dict[frozenset[int], int]) -> list[int]:
    """Indices of a 0/1 vector maximizing ``values`` with every ``sum(row) <= cap`` (HiGHS)."""
    n = len(values)
    if n == 0:
        return []
    constraints = [(sorted(row), cap) for row, cap in rows.items()]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("time_limit", 60.0)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(constraints)
    lp.col_cost_ = np.array(values, dtype=float)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.full(len(constraints), -highspy.kHighsInf)
    lp.row_upper_ = np.array([cap for _, cap in constraints], dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(constraints)
    lp.a_matrix_.start_ = np.array([0, *itertools.accumulate(len(r) for r, _ in constraints)],
                                   dtype=np.int32)
    lp.a_matrix_.index_ = np.array([i for r, _ in constraints for i in r], dtype=np.int32)
    lp.a_matrix_.value_ = np.ones(sum(len(r) for r, _ in constraints))
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    assert status == "Optimal", f"the reference 0/1 program ended {status}"
    x = h.getSolution().col_value
    return [i for i in range(n) if x[i] > 0.5]


# =============================================================================== scenarios
@dataclass(frozen=True, slots=True)
class Size:
    """How big generated scenarios get."""

    days: tuple[int, int]
    patients: tuple[int, int]
    sessions: tuple[int, ...]
    """Sessions a patient may want, the usual first (hypothesis draws early options most)."""
    rooms: tuple[int, int]
    chairs: tuple[int, int]
    nurses: tuple[int, int]
    protocols: tuple[int, int]
    slots: tuple[int, ...]
    open_hours: tuple[int, int]


FULL = Size(days=(1, 4), patients=(1, 7), sessions=(1, 2, 3, 0), rooms=(1, 3), chairs=(1, 3),
            nurses=(1, 3), protocols=(1, 3), slots=(5, 10, 15), open_hours=(3, 10))
TINY = Size(days=(1, 3), patients=(1, 4), sessions=(1, 2), rooms=(1, 2), chairs=(1, 2),
            nurses=(1, 2), protocols=(1, 2), slots=(15, 30), open_hours=(4, 6))

WEEKS = (  # (zone, a daylight-saving change or a plain date inside the horizon)
    ("America/New_York", date(2026, 11, 1)), ("America/New_York", date(2027, 3, 14)),
    ("Europe/Berlin", date(2027, 3, 28)), ("Europe/Berlin", date(2026, 10, 25)),
    ("Australia/Sydney", date(2026, 10, 4)), ("Australia/Sydney", date(2027, 4, 4)),
    ("Australia/Adelaide", date(2027, 4, 4)), ("Asia/Kolkata", date(2026, 12, 8)),
    ("America/New_York", date(2026, 12, 8)),
)
UNSAFE = {90, 120, 150}
"""01:30, 02:00 and 02:30 are skipped or repeated on some change night: never a boundary.
(01:00 repeats in New York in the autumn: its first occurrence counts, as for every reader.)"""
SAFE = [m for m in range(0, 24 * 60 + 1, 30) if m not in UNSAFE]
Spans = list[tuple[int, int]]


def monday_of(day: date) -> date:
    """The Monday that starts ``day``'s calendar week (``per_week``'s weeks)."""
    return day - timedelta(days=day.weekday())


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def as_hours(spans: Spans) -> list[list[str]]:
    return [[hhmm(a), hhmm(b)] for a, b in spans]


def rarely(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws. Hypothesis favours a draw's simplest value (0) far beyond
    its share, so the simplest value always means the ordinary case here."""
    return draw(st.integers(0, n - 1)) == n - 1


def interior(draw: st.DrawFn, a: int, b: int) -> int | None:
    inner = [m for m in SAFE if a < m < b]
    return draw(st.sampled_from(inner)) if inner else None


@st.composite
def day_hours(draw: st.DrawFn, size: Size) -> Spans:
    """One day's open intervals: a day, a night across the change hour, or a late evening;
    sometimes split, touching (one interval by the contract) or with a break."""
    kind = draw(st.sampled_from(["day", "day", "day", "night", "late"]))
    lo_h, hi_h = size.open_hours
    if kind == "night":
        a = draw(st.sampled_from([0, 30, 60]))
        b = draw(st.sampled_from([m for m in (180, 240, 300, 360) if m - a <= hi_h * 60]))
    elif kind == "late":
        b = 24 * 60
        a = b - 30 * draw(st.integers(lo_h * 2, hi_h * 2))
    else:
        a = draw(st.sampled_from(range(7 * 60, 10 * 60 + 1, 30)))
        b = min(a + 30 * draw(st.integers(lo_h * 2, hi_h * 2)), 21 * 60)
    split = draw(st.sampled_from(["none", "none", "touch", "break"]))
    mid = interior(draw, a, b)
    if split == "touch" and mid is not None:
        return [(a, mid), (mid, b)]
    if split == "break" and mid is not None:
        resume = mid + draw(st.sampled_from([30, 60]))
        if resume < b and resume in SAFE:
            return [(a, mid), (resume, b)]
    return [(a, b)]


@st.composite
def variant(draw: st.DrawFn, spans: Spans, off: float = 0.15) -> Spans:
    """Someone's (or something's) intervals derived from the clinic's day: the same, split at a
    touching boundary, shorter, a little longer, or none."""
    if not spans or draw(st.integers(0, 99)) >= 100 - off * 100:
        return []
    kind = draw(st.sampled_from(["same", "same", "touch", "shorter", "longer"]))
    out = list(spans)
    if kind == "touch":
        k = draw(st.integers(0, len(out) - 1))
        a, b = out[k]
        mid = interior(draw, a, b)
        if mid is not None:
            out[k:k + 1] = [(a, mid), (mid, b)]
    elif kind in ("shorter", "longer"):
        sign = 1 if kind == "shorter" else -1
        a, b = out[0]
        a += sign * draw(st.sampled_from([0, 30, 60]))
        if a in SAFE and a < b:
            out[0] = (a, b)
        c, d = out[-1]
        d -= sign * draw(st.sampled_from([0, 30, 60]))
        if d in SAFE and c < d:
            out[-1] = (c, d)
    for (_, b), (c, _) in itertools.pairwise(out):  # never overlapping (validation)
        if c < b:
            return list(spans)
    return out


@st.composite
def outage(draw: st.DrawFn, dates: Sequence[date]) -> dict[str, Any]:
    """A date, or part of one (from/to optional), inside the horizon."""
    out: dict[str, Any] = {"date": draw(st.sampled_from(list(dates))).isoformat()}
    kind = draw(st.sampled_from(["part", "part", "part", "from", "to", "day"]))
    lo = draw(st.sampled_from(SAFE[:-1]))
    hi = next((m for m in SAFE if m >= lo + draw(st.sampled_from([30, 60, 120, 180]))), 1440)
    if kind in ("from", "part"):
        out["from"] = hhmm(lo)
    if kind in ("to", "part"):
        out["to"] = hhmm(hi)
    return out


NURSE_MODES = {"intake": "hands_on", "dosing": "hands_on", "monitoring": "monitor",
               "discharge": "hands_on"}


@st.composite
def protocol(draw: st.DrawFn, kind: str, dates: Sequence[date]) -> dict[str, Any]:
    """One protocol of the library, with variations; REMS ones keep 120 minutes after dosing
    with a prescriber on site. Sometimes revised (new minutes) from a date of the horizon."""
    rems = kind in ("esk", "kap") and draw(st.booleans())
    nurse_key = draw(st.sampled_from([None, "vitals"]))
    nurse: dict[str, Any] = {"role": "nurse"}
    if nurse_key:
        nurse["key"] = nurse_key
    if kind == "esk":
        monitoring = REMS_MINUTES if rems else draw(st.sampled_from([60, 90, 120]))
        phases = [("intake", 10), ("dosing", 15), ("monitoring", monitoring), ("discharge", 5)]
        nurse["modes"] = dict(NURSE_MODES)
        if draw(st.booleans()):
            nurse["qualification"] = "spravato"
        staff = [nurse]
        if rarely(draw, 5):  # a second nurse (one person per entry)
            staff.append({"role": "nurse", "key": "second", "modes": {"monitoring": "monitor"}})
        on_site = [{"role": "prescriber", "phases": ["dosing", "monitoring"]}]
        features, turnover = ["recliner"], draw(st.sampled_from([0, 10, 15]))
    elif kind == "iv":
        phases = [("intake", 15), ("infusion", 40), ("recovery", draw(st.sampled_from([30, 45])))]
        nurse["modes"] = {"intake": "hands_on", "infusion": "monitor", "recovery": "monitor"}
        nurse["qualification"] = "iv"
        staff = [nurse]
        on_site = [{"role": "prescriber", "phases": ["infusion"]}]
        features, turnover = ["recliner", "iv-pump"], 15
    elif kind == "kap":
        phases = [("intake", 15), ("dosing", 15), ("session", REMS_MINUTES if rems else 90),
                  ("integration", 15)]
        nurse["modes"] = {"intake": "hands_on", "dosing": "hands_on"}
        therapist: dict[str, Any] = {"role": "therapist"}
        if draw(st.booleans()):
            therapist["modes"] = {"session": "hands_on", "integration": "hands_on"}
        staff = [nurse, therapist]
        on_site = [{"role": "prescriber", "phases": ["dosing", "session"]}]
        features, turnover = ["private"], draw(st.sampled_from([0, 10]))
    elif kind == "im":
        phases = [("intake", 10), ("injection", 5), ("observation", draw(st.sampled_from(
            [30, 45, 60])))]
        nurse["modes"] = {"intake": "hands_on", "injection": "hands_on",
                          "observation": "monitor"}
        staff = [nurse]
        on_site = [{"role": "prescriber", "phases": ["injection"]}]
        features, turnover = [], 5
    else:  # a visit needing a room only
        phases = [("visit", draw(st.sampled_from([30, 45, 60])))]
        staff, on_site, features, turnover = [], [], [], 0
    out: dict[str, Any] = {
        "id": kind, "name": kind.upper(),
        "phases": [{"name": n, "minutes": m} for n, m in phases],
        "turnover_minutes": turnover, "room_features": features, "staff": staff,
        "on_site": [] if rarely(draw, 6) and not rems else on_site,
    }
    if rems:
        out["requires_rems"] = True
    if len(dates) > 1 and rarely(draw, 5):
        kept = {"monitoring", "session"} if rems else set()  # the REMS's 120 minutes stay
        revision: dict[str, Any] = {
            "from": draw(st.sampled_from(list(dates[1:]))).isoformat(),
            "phases": [{"name": n, "minutes": m if n in kept else max(5, m + draw(
                st.sampled_from([0, 5, 15, -5])))} for n, m in phases]}
        if draw(st.booleans()):
            revision["turnover_minutes"] = draw(st.sampled_from([0, 5, 20]))
        out["revisions"] = [revision]
    return out


@st.composite
def scenarios(draw: st.DrawFn, size: Size) -> dict[str, Any]:
    """A contract v1 scenario dict over the whole format (no fixed appointments: see
    :func:`with_fixed`)."""
    zone, change = draw(st.sampled_from(WEEKS))
    days = draw(st.integers(*size.days))
    start = change - timedelta(days=draw(st.integers(0, days - 1)))
    dates = [start + timedelta(days=i) for i in range(days)]
    weekdays = sorted({WEEKDAYS[d.weekday()] for d in dates}, key=WEEKDAYS.index)
    hours = {w: draw(day_hours(size)) for w in weekdays if not rarely(draw, 8)}
    assume(hours)

    def week(off: float = 0.15) -> dict[str, list[list[str]]]:
        out = {w: draw(variant(spans, off)) for w, spans in hours.items()}
        return {w: as_hours(s) for w, s in out.items() if s}

    kinds = draw(st.lists(st.sampled_from(["esk", "iv", "kap", "im", "plain"]),
                          min_size=size.protocols[0], max_size=size.protocols[1], unique=True))
    protocols = [draw(protocol(k, dates)) for k in kinds]
    features = sorted({f for p in protocols for f in p["room_features"]})
    rooms = []
    for i in range(draw(st.integers(*size.rooms))):
        room: dict[str, Any] = {
            "id": f"R{i + 1}", "chairs": draw(st.integers(*size.chairs)),
            "features": draw(st.lists(st.sampled_from(features), unique=True)) if features
            else []}
        if i == 0:
            room["features"] = features  # one room takes every protocol
        if rarely(draw, 4):
            room["hours"] = week(0.1)
        if rarely(draw, 4):
            room["closures"] = [draw(outage(dates))]
        rooms.append(room)

    def person(sid: str, role: str, shifts: dict[str, list[list[str]]], max_patients: int,
               qualifications: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": sid, "role": role, "max_patients": max_patients,
                               "shifts": shifts}
        if qualifications:
            out["qualifications"] = qualifications
        if rarely(draw, 8):
            out["time_off"] = [draw(st.sampled_from(dates)).isoformat()]
        if rarely(draw, 6):
            out["absences"] = [draw(outage(dates))]
        return out

    staff = [person("N1", "nurse", week(0.05), draw(st.integers(1, 4)), ["spravato", "iv"])]
    staff += [person(f"N{i + 2}", "nurse", week(), draw(st.sampled_from([1, 2, 3, 4, 1, 0])),
                     draw(st.lists(st.sampled_from(["spravato", "iv"]), unique=True)))
              for i in range(draw(st.integers(*size.nurses)) - 1)]
    if any(n["role"] == "therapist" for p in protocols for n in p["staff"]):
        staff += [person(f"T{i + 1}", "therapist", week(), draw(st.integers(1, 2)), [])
                  for i in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):  # two prescribers hand over at a boundary of each day
        early: dict[str, list[list[str]]] = {}
        late: dict[str, list[list[str]]] = {}
        for w, spans in hours.items():
            mid = interior(draw, spans[0][0], spans[-1][1])
            if mid is None:
                early[w] = as_hours(spans)
                continue
            first = [(a, min(b, mid)) for a, b in spans if a < mid]
            second = [(max(a, mid), b) for a, b in spans if b > mid]
            early[w], late[w] = as_hours(first), as_hours(second)
        staff.append(person("D1", "prescriber", early, 0, []))
        staff.append(person("D2", "prescriber", late, 0, []))
    else:
        same = {w: as_hours(spans) for w, spans in hours.items()}
        staff.append(person("D1", "prescriber", draw(st.sampled_from([same, week(0.05)])), 0, []))

    patients = []
    ids = [m["id"] for m in staff]
    for i in range(draw(st.integers(*size.patients))):
        p: dict[str, Any] = {"id": f"P{i + 1}", "protocol": draw(st.sampled_from(kinds)),
                             "sessions": draw(st.sampled_from(size.sessions)),
                             "min_gap_days": draw(st.integers(0, 3)),
                             "priority": draw(st.integers(1, 5))}
        if rarely(draw, 3):
            p["availability"] = week(0.15)
        if rarely(draw, 6):
            p["unavailable"] = [draw(outage(dates))]
        if rarely(draw, 6):
            p["earliest"] = draw(st.sampled_from(dates)).isoformat()
        if rarely(draw, 6):
            p["latest"] = max(draw(st.sampled_from(dates)).isoformat(), p.get("earliest", ""))
        if rarely(draw, 5):
            p["last_session"] = (start - timedelta(days=draw(st.integers(1, 4)))).isoformat()
        if rarely(draw, 5):
            p["preferred_staff"] = draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))
        if rarely(draw, 2):
            p["per_week"] = draw(per_week(dates))
        rems = draw(st.sampled_from([True, True, True, True, False, None]))
        if rems is not None:
            p["rems_enrolled"] = rems
        patients.append(p)
    clinic: dict[str, Any] = {"name": "Differential Clinic", "timezone": zone,
                              "slot_minutes": draw(st.sampled_from(size.slots)),
                              "hours": {w: as_hours(s) for w, s in hours.items()}}
    if rarely(draw, 7):
        clinic["closed_dates"] = [draw(st.sampled_from(dates)).isoformat()]
    out: dict[str, Any] = {"version": 1, "clinic": clinic,
                           "horizon": {"start": start.isoformat(), "days": days},
                           "protocols": protocols, "rooms": rooms, "staff": staff,
                           "patients": patients}
    if rarely(draw, 3):  # soft goals only: they must never cost a hard rule
        out["settings"] = {k: draw(st.integers(0, 5)) for k in (
            "preferred_staff_weight", "stagger_weight", "slack_weight", "compact_weight")}
        out["settings"] |= {k: draw(st.sampled_from([5, 20, 60])) for k in (
            "stagger_minutes", "slack_minutes")}
        out["settings"] |= {k: draw(st.sampled_from([0, 1, 30, 200])) for k in (
            "spacing_weight", "continuity_weight")}
    return out


@st.composite
def per_week(draw: st.DrawFn, dates: Sequence[date]) -> list[dict[str, Any]]:
    """A patient's per-calendar-week limits (the contract's extension for multi-week plans):
    for some of the weeks the horizon touches (its Mondays; a horizon across a Monday touches
    two), a hard cap of 0 to 2 sessions, and sometimes a soft ideal spacing."""
    out = []
    for week in sorted({monday_of(d) for d in dates}):
        if rarely(draw, 4):
            continue  # a week not listed has no cap
        entry: dict[str, Any] = {"week": week.isoformat(),
                                 "max_sessions": draw(st.sampled_from([1, 0, 2]))}
        if draw(st.booleans()):
            low = draw(st.integers(0, 4))
            entry["ideal_gap_days"] = [low, low + draw(st.integers(0, 3))]
        out.append(entry)
    return out


PICKS = st.none() | st.integers(0, 99)
"""Which appointment of a first solve becomes a fixed one (None: no fixed appointment)."""


# =============================================================================== the properties
@dataclass(slots=True)
class Tally:
    """What a run saw: scenarios tried, those validation rejected, disagreements by kind."""

    tried: int = 0
    rejected: int = 0
    solved: int = 0
    disagreements: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def summary(self, name: str) -> str:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.disagreements.items())) or "none"
        return (f"differential {name}: {self.tried} scenarios tried, {self.rejected} rejected "
                f"by validation, {self.solved} solved; disagreements: {kinds}")


def explain(text: str) -> None:
    """A note on the failing example (hypothesis prints it), or a debug line outside a test."""
    if currently_in_test_context():
        note(text)
    else:
        log.debug(text)


def validated(data: dict[str, Any], tally: Tally) -> Scenario:
    """The scenario, or the example is discarded (counted) when validation rejects it."""
    tally.tried += 1
    try:
        return _validate(data)
    except InvalidInput as exc:
        tally.rejected += 1
        explain(f"rejected by validation: {exc}")
        assume(False)
        raise  # unreachable: assume(False) raises


def options(seconds: float = OPTIMUM_SECONDS, soft_goals: bool = True) -> Options:
    return Options(time_limit=seconds, workers=1, seed=0, soft_goals=soft_goals)


def with_fixed(data: dict[str, Any], scenario: Scenario, document: dict[str, Any],
               pick: int) -> dict[str, Any] | None:
    """``data`` with one appointment of ``document`` (a solved schedule of it) made fixed, its
    start written as local wall-clock ``YYYY-MM-DDTHH:MM``; None when it cannot be written so
    (a start in the second occurrence of a repeated hour) or there is none."""
    fixed_ids = {f.id for f in scenario.fixed}
    appointments = [a for a in document["appointments"] if a["id"] not in fixed_ids]
    if not appointments:
        return None
    a = appointments[pick % len(appointments)]
    tz = ZoneInfo(scenario.clinic.timezone)
    start = datetime.fromisoformat(a["start"])
    wall = start.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    back = datetime.fromisoformat(wall).replace(tzinfo=tz)
    if back.astimezone(UTC) != start.astimezone(UTC):
        return None
    out = copy.deepcopy(data)
    out["fixed"] = [*out.get("fixed", []),
                    {"id": f"F-{pick:02d}", "patient": a["patient"], "start": wall,
                     "room": a["room"], "staff": dict(a["staff"])}]
    return out


def fixed_variant(data: dict[str, Any], scenario: Scenario, pick: int | None
                  ) -> tuple[Scenario, list[str]]:
    """Solve once and fix one of the appointments (if ``pick``), as a front desk would confirm
    it; the checker must then accept it as a fixed appointment too."""
    if pick is None:
        return scenario, []
    first = plan_week(scenario, options(soft_goals=False))
    if first.violations:
        return scenario, [f"check rejects the solver's schedule: {v}" for v in first.violations]
    fixed = with_fixed(data, scenario, first.schedule.to_json(), pick)
    if fixed is None:
        return scenario, []
    try:
        return _validate(fixed), []
    except InvalidInput as exc:
        return scenario, [f"validation rejects, as a fixed appointment, a session of the "
                          f"solver's checked schedule: {exc}"]


def record(tally: Tally, problems: list[str]) -> list[str]:
    for p in problems:
        tally.disagreements[p.split(":")[0]] += 1
    return problems


def solver_vs_checker(data: dict[str, Any], pick: int | None, tally: Tally) -> list[str]:
    """What goes wrong when the solver plans ``data`` (with a fixed appointment taken from a
    first solve, if ``pick``): every violation the checker finds."""
    scenario = validated(data, tally)
    scenario, problems = fixed_variant(data, scenario, pick)
    if problems:
        return record(tally, problems)
    planned = plan_week(scenario, options(CHECK_SECONDS))
    tally.solved += 1
    return record(tally, [f"check rejects the solver's schedule: {v}"
                          for v in planned.violations])


def solver_vs_reference(data: dict[str, Any], pick: int | None, tally: Tally) -> list[str]:
    """Every way the solver's week and the reference's true optimum disagree."""
    scenario = validated(data, tally)
    scenario, problems = fixed_variant(data, scenario, pick)
    if problems:
        return record(tally, problems)
    planned = plan_week(scenario, options(soft_goals=False))
    tally.solved += 1
    reference = Reference(scenario)
    best = reference.optimum()
    doc = planned.schedule.to_json()
    solver = doc["solver"]
    weights = {p.id: p.priority for p in scenario.patients}
    placed = sum(weights[a["patient"]] for a in doc["appointments"])
    explain(f"solver {solver}; reference optimum {best.value} over {best.candidates} candidates")
    out = [f"check rejects the solver's schedule: {v}" for v in planned.violations]
    out += [f"reference rejects the solver's schedule: {p}" for p in reference.problems(doc)]
    if placed != solver["objective"]:
        out.append(f"objective misreported: {solver['objective']} but the appointments weigh "
                   f"{placed}")
    if placed > best.value:
        out.append(f"solver above the true optimum: {placed} > {best.value}")
    if solver["bound"] < best.value:
        out.append(f"solver bound below the true optimum: {solver['bound']} < {best.value}")
    if solver["status"] == "OPTIMAL" and placed < best.value:
        out.append(f"solver OPTIMAL below the true optimum: {placed} < {best.value}")
    if solver["status"] != "OPTIMAL":  # a tiny week is proven in milliseconds
        out.append(f"solver did not prove a tiny week optimal: {solver}")
    mine = reference.document(best.chosen)
    out += [f"reference optimum breaks its own rules: {p}" for p in reference.problems(mine)]
    out += [f"check rejects the reference optimum: {v}" for v in check(scenario, mine)]
    return record(tally, out)


def checker_vs_reference(data: dict[str, Any], pick: int | None, rng: random.Random,
                         tally: Tally) -> list[str]:
    """Where the checker and the reference judge the same small schedule differently: the fixed
    appointments plus one to three others: the reference's valid candidates (so only the shared
    capacities, counts and gaps are in question), candidates moved a little, or anything."""
    scenario = validated(data, tally)
    scenario, problems = fixed_variant(data, scenario, pick)
    if problems:
        return record(tally, problems)
    tally.solved += 1
    reference = Reference(scenario)
    held = reference.fixed()
    good = reference.candidates(held)
    for _ in range(JUDGED_SCHEDULES):
        chosen = []
        for _ in range(rng.randint(1, 3)):
            draw = rng.random()
            if good and draw < 0.5:
                chosen.append(rng.choice(good))
            elif good and draw < 0.85:
                chosen.append(reference.moved(rng.choice(good), rng))
            else:
                chosen.append(reference.any_session(rng))
        doc = reference.document([*held, *chosen])
        theirs = [str(v) for v in check(scenario, doc)]
        mine = reference.problems(doc)
        if bool(theirs) != bool(mine):
            return record(tally, [
                f"check and reference disagree: check finds {theirs or 'nothing'}; the reference "
                f"finds {mine or 'nothing'}; schedule: {doc['appointments']}"])
    return []


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def expect_agreement(problems: list[str], data: dict[str, Any]) -> None:
    assert not problems, "\n".join(["disagreements:", *problems, "scenario:", dump(data)])


@pytest.fixture(scope="module")
def tally() -> Iterable[Tally]:
    seen = Tally()
    yield seen
    log.info(seen.summary("default run"))


# =============================================================================== the tests
@settings(max_examples=FULL_EXAMPLES, deadline=None, suppress_health_check=SLOW,
          derandomize=True, database=None)
@given(data=scenarios(FULL), pick=PICKS)
@pytest.mark.solve
@pytest.mark.slow
def test_solver_schedule_passes_check(data: dict[str, Any], pick: int | None,
                                      tally: Tally) -> None:
    """Every week the solver plans, over the whole scenario format (DST weeks, split and touching
    hours, closures, absences, hand-overs, REMS, fixed appointments), passes the independent
    checker; and an appointment of such a week, confirmed as fixed, passes validation."""
    expect_agreement(solver_vs_checker(data, pick, tally), data)


@settings(max_examples=TINY_EXAMPLES, deadline=None, suppress_health_check=SLOW,
          derandomize=True, database=None)
@given(data=scenarios(TINY), pick=PICKS)
@pytest.mark.solve
@pytest.mark.slow
def test_solver_reaches_the_true_optimum_on_tiny_instances(data: dict[str, Any],
                                                           pick: int | None,
                                                           tally: Tally) -> None:
    """On weeks small enough to enumerate every appointment, the solver's placed value never
    exceeds the true optimum (the reference's 0/1 program), equals it when the solver says
    OPTIMAL (which it must say, within seconds), and its bound is never below it; the solver's
    week satisfies the reference's rules and the reference's optimal week passes the independent
    checker (which validates the reference)."""
    expect_agreement(solver_vs_reference(data, pick, tally), data)


@settings(max_examples=JUDGED_EXAMPLES, deadline=None, suppress_health_check=SLOW,
          derandomize=True, database=None)
@given(data=scenarios(TINY), pick=PICKS, rng=st.randoms(use_true_random=False))
@pytest.mark.solve
@pytest.mark.slow
def test_checker_and_reference_judge_schedules_alike(data: dict[str, Any], pick: int | None,
                                                     rng: random.Random, tally: Tally) -> None:
    """The independent checker and the reference, two readings of the contract that share no
    code, accept and reject the same small schedules: valid candidates side by side (chairs,
    hands-on, loads, counts, gaps) and arbitrary appointments (every single-session rule)."""
    expect_agreement(checker_vs_reference(data, pick, rng, tally), data)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def solved_to(name: str, value: int) -> None:
    """The fixture's week: the reference's optimum is ``value``, and the solver places exactly
    that, proven (OPTIMAL, bound ``value``), in a schedule the checker accepts."""
    data = fixture(name)
    scenario = _validate(data)
    assert Reference(scenario).optimum().value == value
    planned = plan_week(scenario, options())
    assert planned.violations == []
    doc = planned.schedule.to_json()
    assert (doc["solver"]["status"], doc["solver"]["objective"], doc["solver"]["bound"]) == (
        "OPTIMAL", value, value)
    expect_agreement(solver_vs_reference(data, None, Tally()), data)


def test_two_interval_day_fits_two_long_sessions() -> None:
    """Regression: hours 08:00-12:00 and 13:00-17:00, one chair, two 240-minute sessions with
    15 minutes' turnover: one per interval (the first one's turnover overhangs into the break),
    both placed, proven optimal with bound 2, as the reference's optimum says."""
    solved_to("two_interval_day.yaml", 2)


def test_fall_back_night_uses_the_repeated_hour() -> None:
    """Regression: open 01:00-03:00 on New York's fall-back night is three real hours whose
    hourly grid includes 01:00 EST (the repeated hour): three one-hour visits fit."""
    solved_to("fall_back_night.yaml", 3)


def test_spring_forward_night_has_two_hours() -> None:
    """Regression: open 01:00-04:00 on New York's spring-forward night is two real hours: two
    one-hour visits fit, not the three a wall-clock reading suggests."""
    solved_to("spring_forward_night.yaml", 2)


def test_reference_finds_a_known_optimum() -> None:
    """The reference itself on a week solved by hand: one chair, 08:00-11:00 on a 30-minute grid,
    three 60-minute sessions with 30 minutes' turnover (90 minutes a chair each): two fit, and the
    two of higher priority are the ones kept."""
    data: dict[str, Any] = {
        "version": 1,
        "clinic": {"name": "Hand", "timezone": "Europe/Berlin", "slot_minutes": 30,
                   "hours": {"mon": [["08:00", "11:00"]]}},
        "horizon": {"start": "2027-03-29", "days": 1},
        "protocols": [{"id": "v", "name": "V", "phases": [{"name": "visit", "minutes": 60}],
                       "turnover_minutes": 30}],
        "rooms": [{"id": "R1"}],
        "patients": [{"id": "P1", "protocol": "v", "priority": 2},
                     {"id": "P2", "protocol": "v", "priority": 5},
                     {"id": "P3", "protocol": "v", "priority": 3}],
    }
    reference = Reference(_validate(data))
    best = reference.optimum()
    assert best.value == 8
    assert sorted(x.patient for x in best.chosen) == ["P2", "P3"]
    assert reference.problems(reference.document(best.chosen)) == []


# =============================================================================== long fuzzing
class Disagreement(AssertionError):
    """The property found the solver, the checker and the reference at odds."""


def fuzz_requested(config: pytest.Config) -> bool:
    """``-m fuzz`` (or an expression naming it) was given, or the run has a length set."""
    return FUZZ_MINUTES_ENV in os.environ or "fuzz" in str(config.option.markexpr or "")


@dataclass(slots=True)
class Campaign:
    """One property fuzzed in batches until the clock or the example budget runs out."""

    name: str
    prop: Callable[[dict[str, Any], int | None, random.Random, Tally], list[str]]
    size: Size
    batch_size: int
    """Examples per hypothesis run: about half a minute each while nothing fails."""
    tally: Tally = field(default_factory=Tally)
    failures: list[Path] = field(default_factory=list)

    def active(self, budget: int) -> bool:
        """Still fuzzing: examples left, and not yet retired by repeated disagreements (likely
        the same bug again; the other campaigns get the time)."""
        return self.tally.tried < budget and len(self.failures) < FAILURES_PER_CAMPAIGN

    def batch(self, examples: int, out: Path) -> None:
        last: list[tuple[dict[str, Any], int | None, list[str]]] = []

        @settings(FUZZ, max_examples=examples)
        @given(data=scenarios(self.size), pick=PICKS, rng=st.randoms(use_true_random=False))
        def run(data: dict[str, Any], pick: int | None, rng: random.Random) -> None:
            problems = self.prop(data, pick, rng, self.tally)
            if problems:
                last.append((data, pick, problems))
                raise Disagreement("\n".join(problems))

        try:
            run()
        except Exception as exc:  # a disagreement (shrunk), or the test code itself failing
            data, pick, problems = last[-1] if last else ({}, None, [repr(exc)])
            path = out / f"{self.name}-{len(self.failures) + 1:03d}.yaml"
            path.write_text(f"# pick: {pick}\n# " + "\n# ".join(problems) + "\n" + dump(data),
                            encoding="utf-8")
            self.failures.append(path)
            log.warning("differential %s: disagreement written to %s: %s", self.name, path,
                        problems[0])


@pytest.mark.fuzz
def test_fuzz_differential(request: pytest.FixtureRequest, tmp_path: Path,
                           caplog: pytest.LogCaptureFixture) -> None:
    """The three properties above for a long time: until ``CHAIRTIME_FUZZ_MINUTES`` (default 20)
    pass, or a loaded profile's ``max_examples`` (when above hypothesis's default) are spent on
    each. Every disagreement (shrunk) is written to ``CHAIRTIME_FUZZ_OUT`` (default a temporary
    directory) and the run goes on; it fails at the end if there was any. Skipped unless
    ``-m fuzz`` or the variable is given."""
    if not fuzz_requested(request.config):
        pytest.skip(f"long fuzzing: run with -m fuzz (minutes: {FUZZ_MINUTES_ENV})")
    for noisy in ("solver", "scheduler"):  # a line per solve would bury the progress lines
        caplog.set_level(logging.WARNING, logger=noisy)
    caplog.set_level(logging.INFO, logger=__name__)
    minutes = float(os.environ.get(FUZZ_MINUTES_ENV, DEFAULT_FUZZ_MINUTES))
    loaded = settings().max_examples
    budget = loaded if loaded > HYPOTHESIS_DEFAULT_EXAMPLES else 10**12  # else the clock alone
    out = Path(os.environ.get(FUZZ_OUT_ENV) or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    campaigns = [
        Campaign("checker", lambda d, p, _, t: solver_vs_checker(d, p, t), FULL, 50),
        Campaign("optimum", lambda d, p, _, t: solver_vs_reference(d, p, t), TINY, 300),
        Campaign("judges", checker_vs_reference, TINY, 150),
    ]
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline and any(c.active(budget) for c in campaigns):
        for c in campaigns:
            if c.active(budget) and time.monotonic() < deadline:
                c.batch(min(c.batch_size, budget - c.tally.tried), out)
        log.info("; ".join(c.tally.summary(c.name) for c in campaigns))
    summaries = [c.tally.summary(c.name) for c in campaigns]
    for line in summaries:
        log.warning(line)
    failures = [str(p) for c in campaigns for p in c.failures]
    assert not failures, "\n".join([*summaries, "scenarios that disagree:", *failures])
