"""From replays to figures: per day and per calendar week, and the fragile sessions.

Overtime is counted per staff member: how long their last engagement ending in a shift span
runs past that span's end (the spans of one person and day add up; a lunch break eaten counts
too), and for an on-site role (the prescriber) how long the last on-site phase runs past the
end of the coverage it was booked in (someone of the role stays). A day's overtime is the
longest of these and of the minutes the last in-clinic patient leaves after closing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from scheduler.usecases.simulate.engine import Draws, Outcome
from scheduler.usecases.simulate.plan import Bools, Floats, Ints, Plan
from scheduler.usecases.simulate.settings import SimulationSettings

OVERTIME_STEPS = (15.0, 30.0)
"""The overtime the figures count beyond (minutes)."""


@dataclass(frozen=True, slots=True)
class Risk:
    """What a day (or a calendar week) looks like over the replays: probabilities (0..1) and
    expected values per replay."""

    first: date
    days: int
    sessions: int
    p_past_closing: float
    """The last patient leaves after the clinic's closing time."""
    expected_minutes_past_closing: float
    p_overtime: float
    """Someone works past the end of their shift, or the clinic runs past closing."""
    p_overtime_15: float
    p_overtime_30: float
    expected_overtime_minutes: dict[str, float]
    """Per role, summed over its staff."""
    expected_wait_minutes: float
    """All patients' waits after they were there and their time had come, summed."""
    mean_wait_minutes: float
    """Per patient who came."""
    p_chair_wait: float
    """Someone waited for a chair (a room conflict on paper)."""
    p_staff_wait: float
    """Someone waited for their nurse or therapist (a ratio conflict on paper)."""
    p_on_site_gap: float
    """An on-site phase (REMS monitoring) had nobody of the role on shift (an absence)."""
    expected_no_shows: float
    expected_idle_chair_minutes: float
    """Booked chair minutes of sessions whose patient did not come."""
    expected_cancelled: float
    """Sessions no one could stand in for an absent staff member for."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"date": self.first.isoformat(), "days": self.days,
                               "sessions": self.sessions}
        for field in fields(self)[3:]:
            name, value = field.name, getattr(self, field.name)
            places = 4 if name.startswith("p_") else 1
            out[name] = ({k: round(v, places) for k, v in value.items()}
                         if isinstance(value, dict) else round(value, places))
        return out


@dataclass(frozen=True, slots=True)
class SessionRisk:
    """One appointment over the replays (late: starting more than the threshold after its
    booked time, counted over the replays the patient came)."""

    id: str
    patient: str
    start: datetime
    p_late: float
    mean_delay_minutes: float
    mean_wait_minutes: float
    p_no_show: float
    """The patient's no-show rate the replays drew with (their own record where known)."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "patient": self.patient,
                "start": self.start.isoformat(timespec="minutes"),
                "p_late": round(self.p_late, 4),
                "mean_delay_minutes": round(self.mean_delay_minutes, 1),
                "mean_wait_minutes": round(self.mean_wait_minutes, 1),
                "p_no_show": round(self.p_no_show, 4)}


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """The replays' figures; ``overtime`` keeps each replay's longest overtime per day
    (minutes, ``(runs, len(days))``) for :func:`risk_by_day`."""

    runs: int
    seed: int
    settings: SimulationSettings
    roles: tuple[str, ...]
    days: tuple[Risk, ...]
    weeks: tuple[Risk, ...]
    sessions: tuple[SessionRisk, ...]
    overtime: Floats

    @property
    def fragile(self) -> list[SessionRisk]:
        """The sessions that most often start late, most often first (never-late ones left
        out), at most ``settings.fragile_count``."""
        late = [s for s in self.sessions if s.p_late > 0]
        late.sort(key=lambda s: (-s.p_late, -s.mean_delay_minutes, s.start, s.id))
        return late[:self.settings.fragile_count]

    def to_json(self) -> dict[str, Any]:
        """A plain dict (``json.dumps``-ready, floats rounded) for ``--json`` and the API."""
        return {"runs": self.runs, "seed": self.seed,
                "settings": self.settings.model_dump(mode="json"),
                "days": [d.to_json() for d in self.days],
                "weeks": [w.to_json() for w in self.weeks],
                "fragile": [s.to_json() for s in self.fragile]}

    def summary_lines(self) -> list[str]:
        """A plain-text table: a line per day, per week, then the fragile sessions."""
        s = self.settings
        out = [f"{self.runs:,} replays (seed {self.seed}): overrun {s.overrun.share:.1%}, "
               f"late arrival {s.late.share:.1%}, no-show {s.no_show_rate:.1%}, "
               f"staff absence {s.staff_absence_rate:.1%} per day (defaults and sources: "
               "scheduler/usecases/simulate/settings.py)"]
        roles = "/".join(self.roles)
        out.append(f"{'':13}{'sessions':>9}{'past close':>11}{'OT>0':>7}{'OT>15':>7}"
                   f"{'OT>30':>7}  {'OT min ' + roles:<26}{'wait/pt':>8}{'chair':>7}"
                   f"{'staff':>7}{'idle ch-min':>12}")
        for label, risk in ([(f"{d.first:%a %d %b}", d) for d in self.days]
                            + [(f"week {w.first:%d %b}", w) for w in self.weeks]):
            minutes = "/".join(f"{risk.expected_overtime_minutes[r]:.1f}" for r in self.roles)
            out.append(f"{label:<13}{risk.sessions:>9}{risk.p_past_closing:>11.1%}"
                       f"{risk.p_overtime:>7.1%}{risk.p_overtime_15:>7.1%}"
                       f"{risk.p_overtime_30:>7.1%}  {minutes:<26}"
                       f"{risk.mean_wait_minutes:>8.1f}{risk.p_chair_wait:>7.1%}"
                       f"{risk.p_staff_wait:>7.1%}{risk.expected_idle_chair_minutes:>12.0f}")
        fragile = self.fragile
        if fragile:
            out.append(f"Most often more than {s.late_start_minutes:g} min late:")
            out += [f"  {f.id:<8} {f.patient:<8} {f.start:%a %H:%M}  {f.p_late:6.1%}  "
                    f"mean delay {f.mean_delay_minutes:.1f} min, waiting "
                    f"{f.mean_wait_minutes:.1f}" for f in fragile]
        return out


def risk_by_day(result: SimulationResult, beyond: float = 0.0) -> dict[date, float]:
    """Per day with sessions: the probability that someone works more than ``beyond`` minutes
    past their shift or the clinic runs that long past closing (to choose slack by)."""
    return {d.first: float(np.mean(result.overtime[:, i] > beyond))
            for i, d in enumerate(result.days)}


# ------------------------------------------------------------------------------ computing


@dataclass(frozen=True, slots=True)
class _Day:
    """One day's figures per replay (arrays of length runs; ``roles`` is (roles, runs))."""

    first: date
    sessions: int
    past: Floats
    overtime: Floats
    roles: Floats
    wait: Floats
    came: Floats
    chair: Bools
    staff: Bools
    gap: Bools
    no_shows: Floats
    idle: Floats
    cancelled: Floats


def summarise(plan: Plan, draws: Draws, outcome: Outcome, settings: SimulationSettings,
              seed: int) -> SimulationResult:
    runs = draws.runs
    came = outcome.attended
    over = draws.overrun
    end = outcome.start + plan.length + over
    staff_ot = _staff_overtime(plan, draws, outcome)
    onsite_ot, onsite_day, onsite_role, gap = _onsite_overtime(plan, draws, outcome)
    room_end = np.where(came & plan.in_room, end, -np.inf)
    key_role = plan.staff_role[plan.key_staff]
    days = []
    for d in sorted(set(plan.day.tolist())):
        cols = plan.day == d
        past = np.maximum(room_end[:, cols].max(axis=1) - plan.closing[d], 0.0)
        mine, theirs = plan.key_day == d, onsite_day == d
        overtime = np.maximum.reduce([past, staff_ot[:, mine].max(axis=1, initial=0.0),
                                      onsite_ot[:, theirs].max(axis=1, initial=0.0)])
        roles = np.array([staff_ot[:, mine & (key_role == r)].sum(axis=1)
                          + onsite_ot[:, theirs & (onsite_role == r)].sum(axis=1)
                          for r in range(len(plan.roles))]).reshape(len(plan.roles), runs)
        no_show = draws.no_show[:, cols]
        days.append(_Day(
            first=plan.days[d], sessions=int(cols.sum()), past=past, overtime=overtime,
            roles=roles, wait=outcome.wait[:, cols].sum(axis=1),
            came=came[:, cols].sum(axis=1).astype(float),
            chair=np.asarray(outcome.chair_wait[:, cols].any(axis=1)),
            staff=np.asarray(outcome.staff_wait[:, cols].any(axis=1)),
            gap=np.asarray(gap[:, cols[plan.o_session]].any(axis=1)),
            no_shows=no_show.sum(axis=1).astype(float),
            idle=np.where(no_show & plan.in_room[cols], plan.length[cols], 0.0).sum(axis=1),
            cancelled=(outcome.cancelled[:, cols] & ~no_show).sum(axis=1).astype(float)))
    weeks: dict[date, list[_Day]] = {}
    for day in days:
        weeks.setdefault(day.first - timedelta(days=day.first.weekday()), []).append(day)
    return SimulationResult(
        runs=runs, seed=seed, settings=settings, roles=plan.roles,
        days=tuple(_risk(day.first, [day], plan.roles) for day in days),
        weeks=tuple(_risk(monday, group, plan.roles) for monday, group in weeks.items()),
        sessions=_sessions(plan, outcome, settings.late_start_minutes),
        overtime=(np.stack([d.overtime for d in days], axis=1) if days
                  else np.zeros((runs, 0))))


def _risk(first: date, days: list[_Day], roles: tuple[str, ...]) -> Risk:
    def any_of(values: list[Bools]) -> float:
        return float(np.mean(np.logical_or.reduce(values)))

    def total(values: list[Floats]) -> Floats:
        return np.asarray(np.sum(values, axis=0))

    came = float(total([d.came for d in days]).sum())
    return Risk(
        first=first, days=len(days), sessions=sum(d.sessions for d in days),
        p_past_closing=any_of([d.past > 0 for d in days]),
        expected_minutes_past_closing=float(total([d.past for d in days]).mean()),
        p_overtime=any_of([d.overtime > 0 for d in days]),
        p_overtime_15=any_of([d.overtime > OVERTIME_STEPS[0] for d in days]),
        p_overtime_30=any_of([d.overtime > OVERTIME_STEPS[1] for d in days]),
        expected_overtime_minutes={r: float(total([d.roles[i] for d in days]).mean())
                                   for i, r in enumerate(roles)},
        expected_wait_minutes=float(total([d.wait for d in days]).mean()),
        mean_wait_minutes=float(total([d.wait for d in days]).sum() / came) if came else 0.0,
        p_chair_wait=any_of([d.chair for d in days]),
        p_staff_wait=any_of([d.staff for d in days]),
        p_on_site_gap=any_of([d.gap for d in days]),
        expected_no_shows=float(total([d.no_shows for d in days]).mean()),
        expected_idle_chair_minutes=float(total([d.idle for d in days]).mean()),
        expected_cancelled=float(total([d.cancelled for d in days]).mean()))


def _staff_overtime(plan: Plan, draws: Draws, outcome: Outcome) -> Floats:
    """(runs, keys): per shift span that held engagements, the longest overrun past its end."""
    runs = draws.runs
    j = plan.e_session
    ends = outcome.start[:, j] + _pushed_end(plan, draws, j, plan.e_end)
    key = np.where(outcome.covered, plan.e_cover_key, plan.e_key)
    late = np.where(outcome.attended[:, j], np.maximum(ends - plan.key_end[key], 0.0), 0.0)
    out = np.zeros((runs, len(plan.key_end)))
    np.maximum.at(out, (np.arange(runs)[:, None], key), late)
    return out


def _onsite_overtime(plan: Plan, draws: Draws, outcome: Outcome
                     ) -> tuple[Floats, Ints, Ints, Bools]:
    """(runs, coverage keys) overtime of on-site roles, each key's day and role, and (runs,
    on-site needs) whether nobody of the role was there when booked (an absence)."""
    runs, needs = draws.runs, len(plan.o_session)
    cover = np.full((runs, needs), np.nan)
    key = np.zeros((runs, needs), dtype=np.int64)
    keys: dict[tuple[int, float], int] = {}
    for g, group in enumerate(plan.groups):
        present = np.zeros(runs, dtype=np.int64)
        for i, s in enumerate(group.members[:62]):
            present |= (~draws.absent[:, s, group.day]).astype(np.int64) << i
        present |= np.int64(-1) << min(len(group.members), 62)  # beyond 62: always there
        masks, inverse = np.unique(present, return_inverse=True)
        spans = [group.coverage(int(m)) for m in masks]
        for o in np.flatnonzero(plan.o_group == g):
            lo = plan.booked[plan.o_session[o]] + plan.o_start[o]
            hi = plan.booked[plan.o_session[o]] + plan.o_end[o]
            ends = np.array([next((float(b) for a, b in s if a <= lo and hi <= b), np.nan)
                             for s in spans])
            ids = np.array([-1 if np.isnan(e) else keys.setdefault((g, float(e)), len(keys))
                            for e in ends], dtype=np.int64)
            cover[:, o] = ends[inverse.ravel()]
            key[:, o] = np.maximum(ids[inverse.ravel()], 0)
    j = plan.o_session
    came = outcome.attended[:, j]
    gap = came & np.isnan(cover)
    ends = outcome.start[:, j] + _pushed_end(plan, draws, j, plan.o_end)
    late = np.where(came & ~gap, np.maximum(ends - cover, 0.0), 0.0)
    out = np.zeros((runs, max(len(keys), 1)))
    np.maximum.at(out, (np.arange(runs)[:, None], key), late)
    listed = sorted(keys, key=keys.__getitem__)
    day = np.array([plan.groups[g].day for g, _ in listed] or [-1], dtype=np.int64)
    role = np.array([plan.roles.index(plan.groups[g].role) for g, _ in listed] or [-1],
                    dtype=np.int64)
    return out, day, role, gap


def _pushed_end(plan: Plan, draws: Draws, sessions: Ints, offsets: Floats) -> Floats:
    """Offsets of phase ends (one per column), later by the overrun where it pushes them."""
    pushed = offsets >= plan.pushed_from[sessions]
    return np.asarray(offsets + np.where(pushed, draws.overrun[:, sessions], 0.0))


def _sessions(plan: Plan, outcome: Outcome, threshold: float) -> tuple[SessionRisk, ...]:
    came = outcome.attended
    n = came.sum(axis=0)
    delay = np.where(came, outcome.start - plan.booked, 0.0)
    late = (came & (delay > threshold)).sum(axis=0)
    delays, wait = delay.sum(axis=0), outcome.wait.sum(axis=0)
    share = np.divide(1.0, n, out=np.zeros(len(n)), where=n > 0)
    return tuple(SessionRisk(plan.ids[j], plan.patients[j], plan.times[j],
                             float(late[j] * share[j]), float(delays[j] * share[j]),
                             float(wait[j] * share[j]), float(plan.no_show[j]))
                 for j in range(plan.sessions))
