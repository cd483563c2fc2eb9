"""Where a week's capacity goes: room and nurse use by weekday and hour, prescriber cover.

Computed from the solver's view of a scenario (minutes since the horizon's origin) and the
appointments placed in it, then laid out on the clinic's wall clock (each minute's own UTC
offset, so a daylight-saving week is right). Several weeks add up by weekday.

>>> usage(problem, SlotClock(scenario), placed).rooms[0][9]  # Monday 09-10  # doctest: +SKIP
0.75
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import numpy as np
import pandas as pd

from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Schedule, placed_of
from scheduler.model import Scenario
from solver import Interval, Placement, Problem

__all__ = ["LOADS", "WEEKDAY_NAMES", "Load", "Usage", "booked", "load", "usage"]

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NURSE = "nurse"
"""The role whose attention the nurse heat map shows (as the schedule's KPIs count it)."""

Grid = tuple[tuple[float | None, ...], ...]
"""Seven weekdays (Monday first) by 24 local hours; None where nothing is open."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Utilization by weekday and hour (0..1, None when closed) and prescriber cover."""

    rooms: Grid
    """Chair-minutes used (sessions and their turnover) over chair-minutes open."""
    nurses: Grid
    """Patient-minutes nurses attend or monitor over their ``max_patients`` x shift minutes,
    inside the clinic's hours."""
    coverage_hours: tuple[float, ...]
    """Per weekday: hours someone of an ``on_site`` role (the prescriber) is on shift while
    the clinic is open."""
    open_hours: tuple[float, ...]
    """Per weekday: hours the clinic is open."""
    coverage_roles: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"rooms": [list(r) for r in self.rooms], "nurses": [list(r) for r in self.nurses],
                "coverage_hours": list(self.coverage_hours),
                "open_hours": list(self.open_hours), "coverage_roles": list(self.coverage_roles)}

    def hot(self, grid: str, at_least: float = 0.9) -> str:
        """Where ``grid`` ("rooms" or "nurses") is at least ``at_least`` used, in a clerk's
        words: ``Tue, Thu 09:00–13:00``; empty when nowhere."""
        cells = getattr(self, grid)
        days = [d for d in range(7) if any(v is not None and v >= at_least for v in cells[d])]
        if not days:
            return ""
        hours = [h for d in days for h, v in enumerate(cells[d])
                 if v is not None and v >= at_least]
        return (f"{', '.join(WEEKDAY_NAMES[d] for d in days)} "
                f"{min(hours):02d}:00–{max(hours) + 1:02d}:00")


def booked(schedule: Schedule, clock: SlotClock) -> list[Placement]:
    """A schedule's appointments as the solver's (minutes since the horizon's origin)."""
    return [placed_of(a, clock) for a in schedule.appointments]


def _add(array: np.ndarray[Any, np.dtype[np.int64]], spans: Iterable[Interval],
         amount: int = 1) -> None:
    for a, b in spans:
        array[max(a, 0):max(b, 0)] += amount


def _clip(spans: Iterable[Interval], window: Sequence[Interval]) -> list[Interval]:
    return [(max(a, x), min(b, y)) for a, b in spans for x, y in window
            if max(a, x) < min(b, y)]


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Per minute of the horizon: its weekday-hour cell and what is used and available."""

    cell: np.ndarray[Any, np.dtype[np.int64]]
    is_open: np.ndarray[Any, np.dtype[np.int64]]
    chairs: np.ndarray[Any, np.dtype[np.int64]]
    seated: np.ndarray[Any, np.dtype[np.int64]]
    minds: np.ndarray[Any, np.dtype[np.int64]]
    attention: np.ndarray[Any, np.dtype[np.int64]]
    covered: np.ndarray[Any, np.dtype[np.int64]]
    """1 where someone of an ``on_site`` role is on shift while the clinic is open."""
    needed: np.ndarray[Any, np.dtype[np.int64]]
    """1 where some session is in a phase that needs someone of an ``on_site`` role."""
    roles: tuple[str, ...]


def _timeline(problem: Problem, clock: SlotClock, appointments: Sequence[Placement]) -> _Timeline:
    dates = clock.scenario.dates()
    n = clock.minute(clock.wall(dates[-1] + timedelta(days=1), "00:00"))
    local = pd.date_range(clock.origin, periods=n, freq="min", tz=UTC).tz_convert(clock.tz)
    cell = np.asarray(local.day_of_week * 24 + local.hour, dtype=np.int64)
    open_spans = [span for d in problem.days for span in d.hours]
    is_open = np.zeros(n, dtype=np.int64)
    _add(is_open, open_spans)

    chairs = np.zeros(n, dtype=np.int64)
    for r in problem.rooms:
        _add(chairs, r.hours if r.hours is not None else open_spans, r.chairs)
    seated = np.zeros(n, dtype=np.int64)
    attention = np.zeros(n, dtype=np.int64)
    needed = np.zeros(n, dtype=np.int64)
    nurses = {s.id for s in problem.staff if s.role == NURSE and s.max_patients > 0}
    for a in appointments:
        protocol = problem.appointment_protocol(a)
        if a.room is not None:  # a video session takes no chair
            _add(seated, [(a.start, a.start + protocol.minutes + protocol.turnover)])
        offsets = protocol.phase_offsets()
        for need in protocol.staff:
            if a.staff.get(need.key) in nurses:
                _add(attention, [(a.start + offsets[ph][0], a.start + offsets[ph][1])
                                 for ph in need.modes])
        _add(needed, [(a.start + offsets[ph][0], a.start + offsets[ph][1])
                      for rule in protocol.on_site for ph in rule.phases if ph in offsets])
    minds = np.zeros(n, dtype=np.int64)
    for s in problem.staff:
        if s.id in nurses:
            _add(minds, _clip(s.shifts, open_spans), s.max_patients)

    roles = sorted({rule.role for p in problem.protocols.values() for rule in p.on_site})
    covered = np.zeros(n, dtype=np.int64)
    _add(covered, _clip([span for s in problem.staff if s.role in roles for span in s.shifts],
                        open_spans))
    covered = np.minimum(covered, 1) * is_open
    return _Timeline(cell, is_open, chairs, seated, minds, attention, covered,
                     np.minimum(needed, 1), tuple(roles))


def usage(problem: Problem, clock: SlotClock, appointments: Sequence[Placement]) -> Usage:
    """Room and nurse utilization by weekday and hour, and prescriber cover, of a schedule."""
    t = _timeline(problem, clock, appointments)
    cell = t.cell

    def grid(used: np.ndarray[Any, np.dtype[np.int64]],
             capacity: np.ndarray[Any, np.dtype[np.int64]]) -> Grid:
        top = np.bincount(cell, weights=np.minimum(used, capacity), minlength=168)
        bottom = np.bincount(cell, weights=capacity, minlength=168)
        return tuple(tuple(round(float(top[d * 24 + h] / bottom[d * 24 + h]), 3)
                           if bottom[d * 24 + h] > 0 else None for h in range(24))
                     for d in range(7))

    def by_weekday(minutes: np.ndarray[Any, np.dtype[np.int64]]) -> tuple[float, ...]:
        per_cell = np.bincount(cell, weights=minutes, minlength=168)
        return tuple(round(float(per_cell[d * 24:(d + 1) * 24].sum()) / 60, 2)
                     for d in range(7))

    return Usage(rooms=grid(t.seated, t.chairs), nurses=grid(t.attention, t.minds),
                 coverage_hours=by_weekday(t.covered), open_hours=by_weekday(t.is_open),
                 coverage_roles=t.roles)


LOADS = ("chairs", "nurses", "prescribers")
"""The resources a :class:`Load` counts, in the order pages show them."""


@dataclass(frozen=True, slots=True)
class Load:
    """Minutes used and minutes available in each weekday-hour cell (``[day * 24 + hour]``,
    Monday 00:00 first), summed over the weeks added together, so that several weeks' use is
    their minutes' ratio, never an average of ratios.

    - chairs: chair-minutes seated (sessions and turnover) / chair-minutes open;
    - nurses: patient-minutes attended or monitored / ``max_patients`` x shift minutes while
      the clinic is open;
    - prescribers: minutes some session needs someone of an ``on_site`` role / minutes one is
      on shift while the clinic is open.

    >>> week_1, week_2 = load(problem, clock, placed), load(problem_2, clock_2, placed_2)
    >>> (week_1 + week_2).grid("chairs")[0][9]  # Monday 09-10        # doctest: +SKIP
    0.8
    """

    used: dict[str, tuple[int, ...]]
    capacity: dict[str, tuple[int, ...]]
    weeks: int = 1

    def __add__(self, other: Load) -> Load:
        return Load({k: tuple(a + b for a, b in zip(self.used[k], other.used[k], strict=True))
                     for k in LOADS},
                    {k: tuple(a + b for a, b in zip(self.capacity[k], other.capacity[k],
                                                    strict=True)) for k in LOADS},
                    self.weeks + other.weeks)

    def grid(self, kind: str) -> Grid:
        """``kind``'s use (0..1) by weekday and hour; None where nothing was available."""
        used, capacity = self.used[kind], self.capacity[kind]
        return tuple(tuple(round(used[d * 24 + h] / capacity[d * 24 + h], 3)
                           if capacity[d * 24 + h] > 0 else None for h in range(24))
                     for d in range(7))


def week_load(scenario: Scenario, schedule: Schedule) -> Load:
    """The minutes behind the utilization of one week's schedule."""
    clock = SlotClock(scenario)
    return load(to_problem(scenario), clock, booked(schedule, clock))


def load(problem: Problem, clock: SlotClock, appointments: Sequence[Placement]) -> Load:
    """The minutes behind the utilization of one schedule (see :class:`Load`)."""
    t = _timeline(problem, clock, appointments)

    def minutes(values: np.ndarray[Any, np.dtype[np.int64]]) -> tuple[int, ...]:
        return tuple(int(v) for v in np.bincount(t.cell, weights=values, minlength=168))

    pairs = {"chairs": (t.seated, t.chairs), "nurses": (t.attention, t.minds),
             "prescribers": (t.needed, t.covered)}
    return Load({k: minutes(np.minimum(u, c)) for k, (u, c) in pairs.items()},
                {k: minutes(c) for k, (u, c) in pairs.items()})
