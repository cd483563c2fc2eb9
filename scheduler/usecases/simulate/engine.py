"""The replay: random events drawn, the day dispatched, vectorised over the runs.

:func:`draw` draws every random event of ``runs`` replays at once, and :func:`dispatch` replays
them: step k serves each run's k-th patient to be there, starting the session when its chair is
free (turnover included) and each of its staff has room for one more patient (module
``scheduler.usecases.simulate``: the rules and what they simplify).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scheduler.usecases.simulate.plan import Bools, Floats, Ints, Plan


@dataclass(frozen=True, slots=True)
class Draws:
    """The random events of ``runs`` replays: per (run, session) and per (run, staff, day)."""

    no_show: Bools
    late: Floats
    overrun: Floats
    absent: Bools

    @property
    def runs(self) -> int:
        return int(self.no_show.shape[0])


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened in each replay, per (run, session) unless said otherwise."""

    attended: Bools
    cancelled: Bools
    """No one could stand in for an absent staff member."""
    start: Floats
    """nan where the session did not take place."""
    wait: Floats
    """Minutes from the patient's being there (and the booked time) to the start."""
    chair_wait: Bools
    staff_wait: Bools
    covered: Bools
    """(run, engagement): done by the stand-in."""


def draw(plan: Plan, runs: int, seed: int) -> Draws:
    """Every random event of ``runs`` replays, from one seeded generator in a fixed order (the
    same plan, runs and seed give the same draws)."""
    rng = np.random.default_rng(seed)
    shape = (runs, plan.sessions)
    no_show = rng.random(shape) < plan.no_show
    late = _minutes(rng, shape, plan.late)
    overrun = _minutes(rng, shape, plan.overrun)
    absent = (rng.random((runs, *plan.on_shift.shape)) < plan.absence) & plan.on_shift
    return Draws(no_show, late, overrun, absent)


def dispatch(plan: Plan, draws: Draws) -> Outcome:
    """Replay every run at once: patients served in the order they are there (booked time or
    arrival, whichever is later; the booked order breaks ties), each session in its booked
    room (any free chair of it) with its booked staff (a stand-in for an absent one),
    starting when patient, chair and staff are ready."""
    runs, n = draws.runs, plan.sessions
    rows = np.arange(runs)
    who, covered, cancelled = _staffing(plan, draws)
    attended = ~draws.no_show & ~cancelled
    ready = plan.booked + draws.late
    order = np.argsort(ready, axis=1, kind="stable")

    def in_order(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """(sessions, runs) -> per step k, each run's k-th session's value (contiguous)."""
        return np.ascontiguousarray(np.take_along_axis(values, order, axis=1).T)

    chairs, engagements = _choices(plan)
    here_k, came_k, over_k = in_order(attended), in_order(ready), in_order(draws.overrun)
    j_k = np.ascontiguousarray(order.T)
    # state, flat per run: chairs' free times, each staff member's places' free times (a
    # padded place is never free) and the end of their last opening hands-on block
    width, n_staff = plan.chairs + 2, len(plan.staff_ids)
    depth = max(1, int(plan.max_patients.max(initial=1)))
    chair_grid = np.full((runs, width), -np.inf)
    chair_grid[:, plan.chairs] = np.inf  # padding of a room's chairs; the next: video's
    slot_grid = np.full((runs, n_staff, depth), np.inf)
    for s, most in enumerate(plan.max_patients):
        slot_grid[:, s, :max(1, int(most))] = -np.inf
    chair_free, slot_free = chair_grid.ravel(), slot_grid.ravel()
    hands_free = np.full(runs * n_staff, -np.inf)
    chair_row, staff_row = rows * width, rows * n_staff
    places = np.arange(depth)
    who_flat, n_eng = who.ravel(), who.shape[1]
    start_k = np.empty((n, runs))
    chair_k = np.zeros((n, runs), dtype=bool)
    staff_k = np.zeros((n, runs), dtype=bool)
    for k in range(n):
        j, here, came, over = j_k[k], here_k[k], came_k[k], over_k[k]
        chair, chair_at = _first_free(chair_free, chair_row[:, None] + chairs[j])
        t = np.maximum(came, chair_at)
        write = here & plan.in_room[j]
        chair_k[k] = write & (chair_at > came)
        staff_at = np.full(runs, -np.inf)
        taken = []
        for e in engagements[j].T:
            valid = e >= 0
            if not valid.any():
                continue
            e = np.maximum(e, 0)
            person = staff_row + who_flat[rows * n_eng + e]
            slot, slot_at = _first_free(slot_free, person[:, None] * depth + places)
            first, hands = plan.e_first[e], plan.e_hands[e]
            opens = ~np.isnan(hands)
            need = np.where(opens, np.fmax(slot_at, hands_free[person]), slot_at) - first
            staff_at = np.where(valid, np.maximum(staff_at, need), staff_at)
            taken.append((e, here & valid, person, slot, hands, opens))
        staff_k[k] = here & (staff_at > came)
        t = np.maximum(t, staff_at)
        start_k[k] = t
        pushed = plan.pushed_from[j]
        chair_free[chair] = np.where(write, t + plan.length[j] + over + plan.turnover[j],
                                     chair_at)
        for e, ok, person, slot, hands, opens in taken:
            ends = t + plan.e_end[e] + np.where(plan.e_end[e] >= pushed, over, 0.0)
            slot_free[slot] = np.where(ok, ends, slot_free[slot])
            block = t + hands + np.where(hands >= pushed, over, 0.0)
            busy = hands_free[person]
            hands_free[person] = np.where(ok & opens, np.fmax(busy, block), busy)
    start = np.empty((runs, n))
    chair_wait = np.empty((runs, n), dtype=bool)
    staff_wait = np.empty((runs, n), dtype=bool)
    for out, steps in ((start, start_k), (chair_wait, chair_k), (staff_wait, staff_k)):
        np.put_along_axis(out, order, steps.T, axis=1)
    wait = np.where(attended, start - ready, 0.0)
    return Outcome(attended, cancelled, np.where(attended, start, np.nan), wait, chair_wait,
                   staff_wait, covered)


def _first_free(free: Floats, options: Ints) -> tuple[Ints, Floats]:
    """Per run, the option (a flat index into ``free``) free first, and when."""
    if options.shape[1] == 1:
        return options[:, 0], free[options[:, 0]]
    values = free[options]
    pick = values.argmin(axis=1)[:, None]
    return (np.take_along_axis(options, pick, axis=1)[:, 0],
            np.take_along_axis(values, pick, axis=1)[:, 0])


def _staffing(plan: Plan, draws: Draws) -> tuple[Ints, Bools, Bools]:
    """Per (run, engagement): who does it and whether a stand-in does; per (run, session):
    cancelled for want of a stand-in."""
    day = plan.day[plan.e_session]
    absent = draws.absent[:, plan.e_staff, day]
    lost = absent & ((plan.e_cover < 0) | draws.absent[:, np.maximum(plan.e_cover, 0), day])
    covered = absent & ~lost
    cancelled = np.zeros((draws.runs, plan.sessions), dtype=bool)
    for e, j in enumerate(plan.e_session):
        cancelled[:, j] |= lost[:, e]
    return np.where(covered, plan.e_cover, plan.e_staff), covered, cancelled


def _choices(plan: Plan) -> tuple[Ints, Ints]:
    """Per session: the chair columns it may take (padded with column ``chairs``, never free;
    a video session has only column ``chairs + 1``, always free), and its engagements (padded
    with -1)."""
    width = max(1, int((plan.chair_hi - plan.chair_lo).max(initial=1)))
    chairs = np.full((plan.sessions, width), plan.chairs, dtype=np.int64)
    depth = max(1, max((len(e) for e in plan.engagements), default=1))
    engagements = np.full((plan.sessions, depth), -1, dtype=np.int64)
    for j in range(plan.sessions):
        lo, hi = int(plan.chair_lo[j]), int(plan.chair_hi[j])
        chairs[j, :max(1, hi - lo)] = np.arange(lo, hi) if hi > lo else plan.chairs + 1
        engagements[j, :len(plan.engagements[j])] = plan.engagements[j]
    return chairs, engagements


def _minutes(rng: np.random.Generator, shape: tuple[int, int],
             delay: tuple[Floats, Floats, Floats, Bools]) -> Floats:
    share, mean, most, fixed = delay
    happens = rng.random(shape) < share
    minutes = np.where(fixed, mean, rng.standard_exponential(shape) * mean)
    return np.where(happens, np.minimum(minutes, most), 0.0)
