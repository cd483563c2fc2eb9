"""A schedule as the replay reads it: plain arrays in minutes since the horizon's origin.

:func:`build` turns a scenario and its schedule into a :class:`Plan`: sessions in booked order,
each with its chair columns, phase offsets, staff engagements (with the stand-in for an absent
staff member chosen ahead), on-site needs and the chances of what can go wrong
(``settings.py``), so the replay (``engine.py``) never reads a scenario.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Appointment, Schedule
from scheduler.errors import InvalidInput, Issue
from scheduler.model import ProtocolSpec, Scenario, StaffNeedSpec
from scheduler.usecases.simulate.settings import Delay, SimulationSettings
from solver import Interval, Problem, union

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class OnSiteGroup:
    """Who of an on-site role (the prescriber) is on shift on one day, and their hours."""

    role: str
    day: int
    members: tuple[int, ...]
    """Staff indices of the role on shift that day."""
    hours: tuple[tuple[Interval, ...], ...]
    """Each member's shift spans that day."""

    def coverage(self, present: int) -> tuple[Interval, ...]:
        """The spans someone of the role is on site when ``present`` (a bit per member) are."""
        return union(span for i, spans in enumerate(self.hours) if present >> i & 1
                     for span in spans)


@dataclass(frozen=True, slots=True)
class Plan:
    """A schedule as the replay reads it. Sessions (index j) in booked order; an engagement
    (index e) is one staff need of a session that has phases with a mode; an on-site need
    (index o) is one ``on_site`` entry of a session. Offsets are minutes from the session's
    start; a phase ending at or after ``pushed_from`` ends later by the session's overrun."""

    ids: tuple[str, ...]
    patients: tuple[str, ...]
    times: tuple[datetime, ...]
    """Booked starts, as the schedule gives them."""
    days: tuple[date, ...]
    booked: Floats
    length: Floats
    day: Ints
    closing: Floats
    """Per day: the end of the clinic's last open span (inf on a closed day)."""
    chair_lo: Ints
    chair_hi: Ints
    """The session's room's chairs are columns chair_lo..chair_hi-1 (none: a video session)."""
    chairs: int
    turnover: Floats
    pushed_from: Floats
    no_show: Floats
    overrun: tuple[Floats, Floats, Floats, Bools]
    """Per session: share, mean minutes, most minutes, fixed (not exponential)."""
    late: tuple[Floats, Floats, Floats, Bools]
    staff_ids: tuple[str, ...]
    roles: tuple[str, ...]
    staff_role: Ints
    max_patients: Ints
    on_shift: Bools
    """(staff, day): has a shift that day (only then can they be absent)."""
    absence: float
    e_session: Ints
    e_staff: Ints
    e_cover: Ints
    """Who takes the engagement over when its staff member is absent (-1: nobody can)."""
    e_first: Floats
    e_end: Floats
    e_hands: Floats
    """End of the hands-on block the engagement starts with (nan: it starts monitoring)."""
    e_key: Ints
    e_cover_key: Ints
    key_staff: Ints
    key_day: Ints
    key_end: Floats
    """Overtime keys: a staff member's shift span (its end) holding engagements."""
    o_session: Ints
    o_group: Ints
    o_start: Floats
    o_end: Floats
    groups: tuple[OnSiteGroup, ...]
    engagements: tuple[tuple[int, ...], ...]
    """Per session: its engagements."""

    @property
    def sessions(self) -> int:
        return len(self.ids)

    @property
    def in_room(self) -> Bools:
        return np.asarray(self.chair_hi > self.chair_lo)


def build(scenario: Scenario, schedule: Schedule, settings: SimulationSettings) -> Plan:
    """The plan of ``schedule``; an appointment naming what the scenario lacks, or settings
    naming an unknown protocol or phase, raise InvalidInput."""
    _check_settings(scenario, settings)
    clock = SlotClock(scenario)
    problem = to_problem(scenario)
    staff = {m.id: i for i, m in enumerate(problem.staff)}
    dates = tuple(scenario.dates())
    day_spans = clock.whole_days(list(dates))
    closing = np.full(len(dates), np.inf)
    for d in problem.days:
        closing[d.index] = d.hours[-1][1]
    columns: dict[str, tuple[int, int]] = {}
    for r in scenario.rooms:
        taken = sum(hi - lo for lo, hi in columns.values())
        columns[r.id] = (taken, taken + r.chairs)
    on_shift = np.array([[any(a < b1 and a1 < b for a, b in m.shifts) for a1, b1 in day_spans]
                         for m in problem.staff], dtype=bool).reshape(len(problem.staff),
                                                                      len(dates))
    issues: list[Issue] = []
    ordered = sorted(schedule.appointments, key=lambda a: (clock.minute(a.start), a.id))
    load: Counter[tuple[int, int]] = Counter()
    rows: list[_Row] = []
    for a in ordered:
        row = _row(a, scenario, clock, staff, columns, settings, issues)
        if row is not None:
            rows.append(row)
            for need in row.needs:
                load[need.staff, row.day] += 1
    if issues:
        raise InvalidInput(issues)
    keys: dict[tuple[int, int, float], int] = {}
    e_rows: list[tuple[int, int, int, float, float, float, int, int]] = []
    groups: dict[tuple[str, int], int] = {}
    group_list: list[OnSiteGroup] = []
    o_rows: list[tuple[int, int, float, float]] = []
    engagements: list[tuple[int, ...]] = []
    for j, row in enumerate(rows):
        mine = []
        for need in row.needs:
            first, end = row.booked + need.first, row.booked + need.end
            key = _key(keys, need.staff, row.day, problem.staff[need.staff].shifts, first, end)
            cover = _cover(problem, need, row.day, first, end, load)
            cover_key = key if cover < 0 else _key(keys, cover, row.day,
                                                   problem.staff[cover].shifts, first, end)
            mine.append(len(e_rows))
            e_rows.append((j, need.staff, cover, need.first, need.end, need.hands, key,
                           cover_key))
        engagements.append(tuple(mine))
        for role, lo, hi in row.on_site:
            g = groups.get((role, row.day))
            if g is None:
                g = groups[role, row.day] = len(group_list)
                group_list.append(_group(problem, role, row.day, day_spans[row.day]))
            o_rows.append((j, g, lo, hi))
    roles = tuple(sorted({m.role for m in problem.staff}))
    key_list = sorted(keys, key=keys.__getitem__)
    return Plan(
        ids=tuple(r.id for r in rows), patients=tuple(r.patient for r in rows),
        times=tuple(r.time for r in rows), days=dates,
        booked=_floats([r.booked for r in rows]), length=_floats([r.length for r in rows]),
        day=_ints([r.day for r in rows]), closing=closing,
        chair_lo=_ints([r.chairs[0] for r in rows]),
        chair_hi=_ints([r.chairs[1] for r in rows]),
        chairs=sum(r.chairs for r in scenario.rooms),
        turnover=_floats([r.turnover for r in rows]),
        pushed_from=_floats([r.pushed for r in rows]),
        no_show=_floats([r.no_show for r in rows]),
        overrun=_delays([r.overrun for r in rows]), late=_delays([settings.late] * len(rows)),
        staff_ids=tuple(staff), roles=roles,
        staff_role=_ints([roles.index(m.role) for m in problem.staff]),
        max_patients=_ints([m.max_patients for m in problem.staff]),
        on_shift=on_shift, absence=settings.staff_absence_rate,
        e_session=_ints([e[0] for e in e_rows]),
        e_staff=_ints([e[1] for e in e_rows]),
        e_cover=_ints([e[2] for e in e_rows]),
        e_first=_floats([e[3] for e in e_rows]), e_end=_floats([e[4] for e in e_rows]),
        e_hands=_floats([e[5] for e in e_rows]),
        e_key=_ints([e[6] for e in e_rows]),
        e_cover_key=_ints([e[7] for e in e_rows]),
        key_staff=_ints([k[0] for k in key_list]),
        key_day=_ints([k[1] for k in key_list]),
        key_end=_floats([k[2] for k in key_list]),
        o_session=_ints([o[0] for o in o_rows]),
        o_group=_ints([o[1] for o in o_rows]),
        o_start=_floats([o[2] for o in o_rows]), o_end=_floats([o[3] for o in o_rows]),
        groups=tuple(group_list), engagements=tuple(engagements),
    )


@dataclass(frozen=True, slots=True)
class _Need:
    staff: int
    role: str
    qualification: str | None
    first: float
    end: float
    hands: float


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    patient: str
    time: datetime
    booked: float
    length: float
    day: int
    chairs: tuple[int, int]
    turnover: float
    pushed: float
    no_show: float
    overrun: Delay
    needs: tuple[_Need, ...]
    on_site: tuple[tuple[str, float, float], ...]


def _row(a: Appointment, scenario: Scenario, clock: SlotClock, staff: dict[str, int],
         columns: dict[str, tuple[int, int]], settings: SimulationSettings,
         issues: list[Issue]) -> _Row | None:
    where = f"schedule.appointments[{a.id}]"
    spec = next((p for p in scenario.protocols if p.id == a.protocol), None)
    if spec is None:
        issues.append(Issue(f"{where}.protocol", f"unknown protocol '{a.protocol}'"))
        return None
    if a.room is not None and a.room not in columns:
        issues.append(Issue(f"{where}.room", f"unknown room '{a.room}'"))
        return None
    start = clock.minute(a.start)
    phases = [(p.name, clock.minute(p.start) - start, clock.minute(p.end) - start)
              for p in a.phases]
    day = clock.day_index(a.start.astimezone(clock.tz).date())
    if not 0 <= day < scenario.horizon.days:
        issues.append(Issue(f"{where}.start", f"{a.start:%Y-%m-%d} is outside the horizon"))
        return None
    needs = []
    for need in spec.staff:
        sid = a.staff.get(need.name)
        if sid not in staff:
            issues.append(Issue(f"{where}.staff.{need.name}", "missing" if sid is None
                                else f"unknown staff member '{sid}'"))
            return None
        engaged = _engagement(need, staff[sid], phases)
        if engaged is not None:
            needs.append(engaged)
    on_site = []
    for entry in spec.on_site:
        spans = [(lo, hi) for name, lo, hi in phases if name in entry.phases]
        if spans:
            on_site.append((entry.role, float(min(lo for lo, _ in spans)),
                            float(max(hi for _, hi in spans))))
    return _Row(
        id=a.id, patient=a.patient, time=a.start, booked=float(start),
        length=float(clock.minute(a.end) - start), day=day,
        chairs=columns[a.room] if a.room is not None else (0, 0),
        turnover=float(spec.on(a.start.astimezone(clock.tz).date())[1]),
        pushed=_overrun_end(spec, settings, phases),
        no_show=settings.no_show_of(spec.id, a.patient),
        overrun=settings.overrun_of(spec.id), needs=tuple(needs), on_site=tuple(on_site))


def _engagement(need: StaffNeedSpec, staff: int,
                phases: list[tuple[str, int, int]]) -> _Need | None:
    moded = [(need.modes[name], lo, hi) for name, lo, hi in phases if name in need.modes]
    if not moded:
        return None
    hands = np.nan
    if moded[0][0] == "hands_on":
        hands = float(moded[0][2])
        for mode, _, hi in moded[1:]:
            if mode != "hands_on":
                break
            hands = float(hi)
    return _Need(staff, need.role, need.qualification, float(moded[0][1]), float(moded[-1][2]),
                 hands)


def _overrun_end(spec: ProtocolSpec, settings: SimulationSettings,
                 phases: list[tuple[str, int, int]]) -> float:
    """Offset of the end of the phase that may run over (inf: none does)."""
    own = settings.protocols.get(spec.id)
    name = own.overrun_phase if own is not None else None
    if name is None:
        if spec.video:
            return np.inf
        names = [p[0] for p in phases]
        after = phases[names.index(spec.dose) + 1:] if spec.dose in names else []
        if not after:
            return np.inf
        name = max(after, key=lambda p: p[2] - p[1])[0]
    return next((float(hi) for n, _, hi in phases if n == name), np.inf)


def _key(keys: dict[tuple[int, int, float], int], staff: int, day: int,
         shifts: tuple[Interval, ...], first: float, end: float) -> int:
    """The overtime key of work from ``first`` to ``end``: the shift span holding it (or, in a
    schedule that breaks the shift rule, its own end)."""
    stop = next((float(b) for a, b in shifts if a <= first and end <= b), end)
    return keys.setdefault((staff, day, stop), len(keys))


def _cover(problem: Problem, need: _Need, day: int, first: float, end: float,
           load: Counter[tuple[int, int]]) -> int:
    """The stand-in for ``need``'s staff member: same role and qualification, on shift for the
    whole engagement, the fewest sessions that day (then the scenario's order); -1: none."""
    options = [i for i, m in enumerate(problem.staff)
               if i != need.staff and m.role == need.role and m.max_patients > 0
               and (need.qualification is None or need.qualification in m.qualifications)
               and any(a <= first and end <= b for a, b in m.shifts)]
    return min(options, key=lambda i: (load[i, day], i), default=-1)


def _group(problem: Problem, role: str, day: int, window: Interval) -> OnSiteGroup:
    members, hours = [], []
    for i, m in enumerate(problem.staff):
        spans = tuple((max(a, window[0]), min(b, window[1])) for a, b in m.shifts
                      if a < window[1] and window[0] < b)
        if m.role == role and spans:
            members.append(i)
            hours.append(spans)
    return OnSiteGroup(role, day, tuple(members), tuple(hours))


def _floats(values: list[float]) -> Floats:
    return np.array(values, dtype=np.float64)


def _ints(values: list[int]) -> Ints:
    return np.array(values, dtype=np.int64)


def _delays(delays: list[Delay]) -> tuple[Floats, Floats, Floats, Bools]:
    return (np.array([d.share for d in delays], dtype=float),
            np.array([d.mean_minutes for d in delays], dtype=float),
            np.array([d.max_minutes for d in delays], dtype=float),
            np.array([d.shape == "fixed" for d in delays], dtype=bool))


def _check_settings(scenario: Scenario, settings: SimulationSettings) -> None:
    issues = []
    for pid, own in settings.protocols.items():
        spec = next((p for p in scenario.protocols if p.id == pid), None)
        if spec is None:
            issues.append(Issue(f"settings.protocols.{pid}", f"unknown protocol '{pid}'"))
        elif own.overrun_phase is not None and own.overrun_phase not in {
                p.name for phases in (spec.phases, *(r.phases for r in spec.revisions))
                for p in phases}:
            issues.append(Issue(f"settings.protocols.{pid}.overrun_phase",
                                f"'{own.overrun_phase}' is not a phase of {pid}"))
    if issues:
        raise InvalidInput(issues)

