"""Where each patient's session could go, before any resource is shared.

For every patient and open day this lists the start minutes that respect the clinic's hours,
the patient's windows and on-site coverage, and, per start, the rooms and staff whose own hours
allow it. Both the greedy first fit and the CP-SAT model are built on these candidates, and the
funnel counts explain why a session could not be placed at all.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from solver.problem import (
    Day,
    Interval,
    Mode,
    Patient,
    Placement,
    Problem,
    Protocol,
    Room,
    Staff,
)
from solver.rooms import RoomClass, room_classes
from solver.spans import inside, inside_many, overlap, overlaps_any, union


def need_spans(protocol: Protocol, modes: dict[str, Mode]) -> list[Interval]:
    """Offsets of the phases that have a mode, each phase on its own."""
    offsets = protocol.phase_offsets()
    return [offsets[p.name] for p in protocol.phases if p.name in modes]


@dataclass(slots=True)
class Visit:
    """One possible session of one patient on one day (of one protocol: a patient with a dose
    step has a visit of each protocol on a day, a follow-up one of the follow-up protocol)."""

    patient: Patient
    protocol: Protocol
    day: Day
    starts: list[int]
    options: DayOptions
    """What the protocol could use that day, whoever the patient (shared between visits)."""
    follow_up: bool = False
    """A follow-up session (``Patient.follow_up``), not one of the wanted ``sessions``."""
    _rooms: dict[str, set[int]] | None = field(default=None, repr=False)
    _staff: list[dict[str, set[int]]] | None = field(default=None, repr=False)

    @property
    def rooms(self) -> dict[str, set[int]]:
        """Room class id -> the starts its hours allow (classes with the features only; see
        ``solver.rooms``: interchangeable rooms form one class, rooms are assigned afterwards).
        Empty for a video session, which takes no room. Built on first use: the greedy first
        fit reads the day's masks instead, so the first schedule does not wait for these."""
        if self._rooms is None:
            ok = set(self.starts)
            self._rooms = {k: both for k, v in self.options.rooms.items() if (both := v & ok)}
        return self._rooms

    @property
    def staff(self) -> list[dict[str, set[int]]]:
        """Per staff need of the protocol: staff id -> the starts its shifts allow (built on
        first use, like ``rooms``)."""
        if self._staff is None:
            ok = set(self.starts)
            self._staff = [{k: both for k, v in sets.items() if (both := v & ok)}
                           for sets in self.options.staff]
        return self._staff

    @property
    def key(self) -> tuple[str, int, str]:
        """(patient, day, protocol): what an appointment of this visit has in common with it."""
        return self.patient.id, self.day.index, self.protocol.id

    def with_staff(self, staff: list[dict[str, set[int]]]) -> Visit:
        """A copy offering only ``staff`` (per need, some of ``self.staff``'s people)."""
        return replace(self, _staff=staff)


def follow_up_key(patient: str) -> str:
    """The funnel key of a patient's follow-up sessions (ids never hold a '/')."""
    return f"{patient}/follow-up"


@dataclass(slots=True)
class Funnel:
    """How many (day, start) options a patient keeps after each filter, for explanations."""

    days_in_window: list[Day] = field(default_factory=list)
    days_after_gaps: list[Day] = field(default_factory=list)
    patient_starts: int = 0
    covered_starts: int = 0
    room_starts: int = 0
    staffed_starts: int = 0
    missing_room_features: bool = False
    unstaffed_need: str | None = None
    short_need: str | None = None
    """The first staff need that left no start on a day where a room was open."""
    missing_on_site: str | None = None


def staff_for_need(problem: Problem, role: str, qualification: str | None,
                   has_modes: bool) -> list[Staff]:
    return [
        s for s in problem.staff
        if s.role == role
        and (qualification is None or qualification in s.qualifications)
        and (not has_modes or s.max_patients >= 1)
    ]


def fixed_days(problem: Problem) -> dict[str, list[int]]:
    """Per patient, the days of fixed sessions (follow-ups not included)."""
    out: dict[str, list[int]] = {}
    for a in problem.fixed:
        if not problem.is_follow_up(a):
            out.setdefault(a.patient, []).append(a.day)
    return out


def fixed_follow_up_days(problem: Problem) -> dict[str, list[int]]:
    """Per patient, the days of fixed follow-up sessions."""
    out: dict[str, list[int]] = {}
    for a in problem.fixed:
        if problem.is_follow_up(a):
            out.setdefault(a.patient, []).append(a.day)
    return out


def follow_ups_wanted(problem: Problem) -> dict[str, int]:
    """Per patient with follow-ups, how many the horizon could want: one per wanted session of
    the protocol they follow (after a dose step, the step's), and one for the last session
    before the horizon when it was of that protocol and its follow-up days reach into it."""
    out: dict[str, int] = {}
    for p in problem.patients:
        if p.follow_up is None:
            continue
        last = p.last_session_day if p.protocol == p.follows else None
        sessions = p.sessions - min(p.step[0], p.sessions) if p.step is not None else p.sessions
        out[p.id] = sessions + (1 if last is not None and last + p.follow_up[2] >= 0 else 0)
    return out


def step_protocol(problem: Problem, patient: Patient, day: int, placed: list[int]) -> str:
    """The protocol of a session of ``patient`` on ``day`` given their other sessions'
    days ``placed`` (fixed ones included): the dose step counts the sessions before it."""
    return patient.main_protocol(sum(1 for d in placed if d < day))


def remaining_sessions(problem: Problem) -> dict[str, int]:
    fixed = fixed_days(problem)
    return {p.id: max(0, p.sessions - len(fixed.get(p.id, []))) for p in problem.patients}


def _gap_ok(day: int, others: Sequence[int], gap: int) -> bool:
    return all(abs(day - o) >= max(gap, 1) for o in others)


def room_allows(room: Room | RoomClass, day: Day, start: int, end: int) -> bool:
    return inside(start, end, room.hours if room.hours is not None else day.hours)


@dataclass(slots=True, eq=False)
class DayOptions:
    """What a protocol's session could use on a day, whoever the patient (computed once;
    compared by identity: it holds numpy matrices)."""

    in_hours: list[int]
    """Starts whose whole session lies in one interval of the clinic's hours (not in the past)."""
    covered: set[int]
    """Those of ``in_hours`` with on-site coverage for every listed phase."""
    by_rule: list[tuple[str, set[int]]]
    """Per on-site rule: its role and the starts it covers."""
    rooms: dict[str, set[int]]
    staff: list[dict[str, set[int]]]
    room_union: set[int] = field(default_factory=set)
    """Starts some room class allows."""
    staff_unions: list[set[int]] = field(default_factory=list)
    """Per staff need, the starts someone's shifts allow."""
    base: int = 0
    """The minute column 0 of the masks stands for."""
    room_ids: list[str] = field(default_factory=list)
    room_allow: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    """``rooms`` as a boolean matrix: row per ``room_ids``, column per minute from ``base``."""
    staff_ids: list[list[str]] = field(default_factory=list)
    """Per staff need, the ids of ``staff`` sorted."""
    staff_allow: list[np.ndarray] = field(default_factory=list)
    """Per staff need, ``staff`` as a matrix like ``room_allow`` (rows per ``staff_ids``)."""

    def masks(self) -> None:
        """Fill the unions and matrices (numpy: the greedy reads a visit's starts off them)."""
        starts = sorted(self.covered)
        self.base = starts[0] if starts else 0
        width = starts[-1] - self.base + 1 if starts else 0

        def matrix(sets: list[set[int]]) -> np.ndarray:
            out = np.zeros((len(sets), width), bool)
            for row, ok in zip(out, sets, strict=True):
                row[np.fromiter(ok, np.int64, len(ok)) - self.base] = True
            return out

        self.room_union = set().union(*self.rooms.values())
        self.room_ids = list(self.rooms)  # the order the greedy tries them in
        self.room_allow = matrix([self.rooms[r] for r in self.room_ids])
        self.staff_unions = [set().union(*sets.values()) for sets in self.staff]
        self.staff_ids = [sorted(sets) for sets in self.staff]
        self.staff_allow = [matrix([sets[k] for k in ids])
                            for sets, ids in zip(self.staff, self.staff_ids, strict=True)]


def _day_options(problem: Problem, protocol: Protocol, day: Day,
                 needs: list[list[Staff]]) -> DayOptions:
    offsets = protocol.phase_offsets()
    length = protocol.minutes
    earliest = problem.not_before if problem.not_before is not None else -(10**9)
    opened = [s for s in day.starts if s >= earliest and inside(s, s + length, day.hours)]
    starts = opened
    by_rule = []
    for rule in protocol.on_site:
        covered = union([span for s in problem.staff if s.role == rule.role for span in s.shifts])
        kept = [s for s in starts
                if all(inside(s + offsets[ph][0], s + offsets[ph][1], covered)
                       for ph in rule.phases)]
        by_rule.append((rule.role, set(kept)))
        starts = kept
    rooms = {c.id: set(starts) if c.hours is None  # the day's hours: every start fits them
             else {s for s in starts if room_allows(c, day, s, s + length)}
             for c in room_classes(problem).values()
             if protocol.room_features <= c.features and not protocol.video}
    staff = []
    for need, pool in zip(protocol.staff, needs, strict=True):
        spans = need_spans(protocol, need.modes)
        if spans:  # on shift for every phase with a mode (days off are not in the shifts)
            array = np.asarray(starts, dtype=np.int64)
            sets = {}
            for m in pool:
                ok = np.ones(len(array), bool)
                for a, b in spans:
                    ok &= inside_many(array, a, b, m.shifts)
                sets[m.id] = set(array[ok].tolist())
            staff.append(sets)
        else:  # no mode, so no shift needed: only never on a day off or absent
            staff.append({m.id: {s for s in starts if not overlaps_any(s, s + length, m.away)}
                          for m in pool})
    options = DayOptions(opened, set(starts), by_rule,
                          {k: v for k, v in rooms.items() if v},
                          [{k: v for k, v in sets.items() if v} for sets in staff])
    options.masks()
    return options


def build_visits(problem: Problem) -> tuple[list[Visit], dict[str, Funnel]]:
    """All viable visits, and for every patient the funnel that led to them (follow-ups have
    their own funnel, under ``follow_up_key``)."""
    remaining = remaining_sessions(problem)
    fixed = fixed_days(problem)
    fixed_follow = fixed_follow_up_days(problem)
    visits: list[Visit] = []
    funnels: dict[str, Funnel] = {}
    cache: dict[tuple[int, int], DayOptions] = {}
    for patient in problem.patients:
        funnel = Funnel()
        funnels[patient.id] = funnel
        if patient.blocked is not None:
            continue
        mine: list[Visit] = []
        if remaining[patient.id] > 0:
            ids = [patient.protocol]
            if patient.step is not None and patient.step[1] != patient.protocol:
                ids.append(patient.step[1])
            history = list(fixed.get(patient.id, []))
            if patient.last_session_day is not None:
                history.append(patient.last_session_day)
            for day in problem.days:
                if not patient.earliest_day <= day.index <= patient.latest_day:
                    continue
                if not patient.cap_allows(day.index, fixed.get(patient.id, [])):
                    continue  # a calendar week whose sessions are all booked (or none wanted)
                funnel.days_in_window.append(day)
                if (not _gap_ok(day.index, history, patient.min_gap_days)
                        or day.index in fixed_follow.get(patient.id, [])):
                    continue
                funnel.days_after_gaps.append(day)
                for pid in ids:
                    visit = _visit(problem, patient, pid, day, funnel, cache)
                    if visit is not None:
                        mine.append(visit)
        visits += mine
        if patient.follow_up is None:
            continue
        follow = Funnel()
        funnels[follow_up_key(patient.id)] = follow
        sources = {v.day.index for v in mine if v.protocol.id == patient.follows} | {
            a.day for a in problem.fixed if a.patient == patient.id
            and not problem.is_follow_up(a) and problem.protocol_id(a) == patient.follows}
        if patient.last_session_day is not None and patient.protocol == patient.follows:
            sources.add(patient.last_session_day)
        taken = {a.day for a in problem.fixed if a.patient == patient.id}
        _, lo, hi = patient.follow_up
        for day in problem.days:
            if not patient.earliest_day <= day.index <= patient.latest_day:
                continue
            follow.days_in_window.append(day)
            if day.index in taken or not any(lo <= day.index - s <= hi for s in sources):
                continue
            follow.days_after_gaps.append(day)
            visit = _visit(problem, patient, patient.follow_up[0], day, follow, cache)
            if visit is not None:
                visit.follow_up = True
                visits.append(visit)
    return visits, funnels


def _visit(problem: Problem, patient: Patient, protocol_id: str, day: Day, funnel: Funnel,
           cache: dict[tuple[int, int], DayOptions]) -> Visit | None:
    """The visit of ``patient`` on ``day`` with protocol ``protocol_id``, or None when no
    start keeps every rule that holds whatever else is booked (counted in ``funnel``)."""
    protocol = problem.protocol_for(protocol_id, day.index)
    needs = [staff_for_need(problem, n.role, n.qualification, bool(n.modes))
             for n in protocol.staff]
    if not protocol.video and not any(protocol.room_features <= r.features
                                      for r in problem.rooms):
        funnel.missing_room_features = True
    for need, pool in zip(protocol.staff, needs, strict=True):
        if not pool and funnel.unstaffed_need is None:
            funnel.unstaffed_need = need.key
    key = (id(protocol), day.index)
    if key not in cache:
        cache[key] = _day_options(problem, protocol, day, needs)
    options = cache[key]
    length = protocol.minutes
    if patient.availability is None:
        mine = options.in_hours
    else:
        hours = np.asarray(options.in_hours, dtype=np.int64)
        mine = hours[inside_many(hours, 0, length, patient.availability)].tolist()
    funnel.patient_starts += len(mine)
    starts = options.covered.intersection(mine)
    if mine and not starts and funnel.missing_on_site is None:
        funnel.missing_on_site = next(
            (role for role, ok in options.by_rule if not ok.intersection(mine)), None)
    funnel.covered_starts += len(starts)
    # a video session takes no room: only the clinic's hours and the staff
    roomed = set(starts) if protocol.video else starts & options.room_union
    funnel.room_starts += len(roomed)
    ok = set(roomed)
    for need, anyone in zip(protocol.staff, options.staff_unions, strict=True):
        before = bool(ok)
        ok &= anyone
        if before and not ok and funnel.short_need is None:
            funnel.short_need = need.key
    funnel.staffed_starts += len(ok)
    if not ok:
        return None
    return Visit(patient=patient, protocol=protocol, day=day, starts=sorted(ok), options=options)


NARROW_CHOICES = 8_000
"""New weeks whose sessions have more (session, staff member) choices than this search a
narrower model (``narrow``): on the full model of a big week CP-SAT's search barely leaves the
greedy schedule (figures in bench/README.md, "A narrower model for big weeks")."""
STAFF_CHOICES = 3
"""People a session of a narrowed week may get per staff need, nurses to spare."""
STAFF_CHOICES_TIGHT = 5
"""People per staff need when a week's people are scarce (``people_per_need``): there the
choice of person is the problem itself, and three people a need held the search back (L-staff
at 60 s: 692 with 3, 700 with 5, 695 with everyone; issue 26)."""
SCARCE_STAFF = 1.5
"""Staff are scarce when their patient-minutes (``max_patients`` times shift minutes in the
clinic's hours) are under this many times the chair-minutes the rooms offer."""


def choices(visits: list[Visit]) -> int:
    """(Session, staff member) choices: how many staff literals the full model would have."""
    return sum(len(pool) for v in visits for pool in v.staff)


def people_per_need(problem: Problem) -> int:
    """People a narrowed week's sessions keep per staff need: ``STAFF_CHOICES`` when staff
    are to spare, ``STAFF_CHOICES_TIGHT`` when they are scarce (``staff_scarce``)."""
    return STAFF_CHOICES_TIGHT if staff_scarce(problem) else STAFF_CHOICES


def staff_scarce(problem: Problem) -> bool:
    """Whether the week's staff bind rather than its rooms: their patient-minutes
    (``max_patients`` times shift minutes in the clinic's hours) under ``SCARCE_STAFF`` times
    the chair-minutes the rooms offer."""
    chairs = attention = 0
    for d in problem.days:
        chairs += sum(r.chairs * overlap(d.hours if r.hours is None else r.hours, d.hours)
                      for r in problem.rooms)
        attention += sum(s.max_patients * overlap(s.shifts, d.hours) for s in problem.staff
                         if s.max_patients > 0)
    return attention < SCARCE_STAFF * chairs


def narrow(problem: Problem, visits: list[Visit], first: list[Placement],
           people: int = STAFF_CHOICES) -> list[Visit]:
    """Copies of ``visits`` whose staff needs offer at most ``people`` people each: the
    person the greedy schedule ``first`` gave the session (so it stays a solution), the
    patient's preferred staff, then a deterministic spread (a hash of patient, day, need and
    person, so that each person keeps a share of every day's sessions and two needs drawing on
    the same people keep different ones)."""
    given = {(a.patient, a.day, problem.protocol_id(a)): a for a in first}
    out = []
    for v in visits:
        a = given.get(v.key)
        pools = []
        for n, pool in enumerate(v.staff):
            if len(pool) <= people:
                pools.append(pool)
                continue
            key = v.protocol.staff[n].key
            mine = a.staff.get(key) if a is not None else None
            ranked = sorted(pool, key=lambda s: (
                s != mine, s not in v.patient.preferred_staff,
                zlib.crc32(f"{v.patient.id}/{v.day.index}/{n}/{s}".encode())))
            pools.append({s: pool[s] for s in ranked[:people]})
        out.append(v.with_staff(pools))
    return out
