"""Simulation benchmark: replays per second of a solved week, vectorised against a per-run loop.

``python -m bench simulate [--runs N] [--time-limit S]`` solves the demo week and an M week
(``bench/generate.py``), then replays each ``--runs`` times with the default random events
(``scheduler.usecases.simulate``) and, on 200 runs, with the same dispatch written as a plain
Python loop per run (:func:`dispatch_loop`, the baseline): the ratio of the two is measured in
the same run, on the same draws, so it holds on a shared machine where seconds do not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.usecases import load_input, plan_week
from scheduler.usecases.simulate import (
    Draws,
    Outcome,
    Plan,
    SimulationSettings,
    build,
    dispatch,
    draw,
    summarise,
)
from scheduler.validate import validate_scenario
from solver import Options

BASELINE_RUNS = 200
REPEAT = 3


def dispatch_loop(plan: Plan, draws: Draws) -> Outcome:
    """:func:`scheduler.usecases.simulate.dispatch` as one Python loop per run (the baseline;
    the tests hold the two to the same outcome)."""
    runs, n = draws.runs, plan.sessions
    inf = float("inf")
    start = np.full((runs, n), np.nan)
    wait = np.zeros((runs, n))
    chair_wait = np.zeros((runs, n), dtype=bool)
    staff_wait = np.zeros((runs, n), dtype=bool)
    attended = np.zeros((runs, n), dtype=bool)
    cancelled = np.zeros((runs, n), dtype=bool)
    covered = np.zeros((runs, len(plan.e_session)), dtype=bool)
    booked, length, turnover = plan.booked.tolist(), plan.length.tolist(), plan.turnover.tolist()
    lo_of, hi_of, pushed = plan.chair_lo.tolist(), plan.chair_hi.tolist(), \
        plan.pushed_from.tolist()
    first, end, hands = plan.e_first.tolist(), plan.e_end.tolist(), plan.e_hands.tolist()
    day = plan.day.tolist()
    for r in range(runs):
        absent = draws.absent[r].tolist()
        late, over = draws.late[r].tolist(), draws.overrun[r].tolist()
        who = []
        for e, (j, s, c) in enumerate(zip(plan.e_session.tolist(), plan.e_staff.tolist(),
                                          plan.e_cover.tolist(), strict=True)):
            if absent[s][day[j]]:
                if c < 0 or absent[c][day[j]]:
                    cancelled[r, j] = True
                else:
                    covered[r, e] = True
                    s = c
            who.append(s)
        chairs = [-inf] * max(plan.chairs, 1)
        slots = [[-inf] * max(1, m) for m in plan.max_patients.tolist()]
        free_hands = [-inf] * len(plan.staff_ids)
        for j in sorted(range(n), key=lambda j: (booked[j] + late[j], j)):
            here = not draws.no_show[r, j] and not cancelled[r, j]
            if not here:
                continue
            attended[r, j] = True
            came = booked[j] + late[j]
            t = came
            chair = -1
            if hi_of[j] > lo_of[j]:
                chair = min(range(lo_of[j], hi_of[j]), key=chairs.__getitem__)
                chair_wait[r, j] = chairs[chair] > came
                t = max(t, chairs[chair])
            at = -inf
            picks = []
            for e in plan.engagements[j]:
                mine = slots[who[e]]
                slot = min(range(len(mine)), key=mine.__getitem__)
                need = mine[slot] - first[e]
                if hands[e] == hands[e]:  # not nan
                    need = max(need, free_hands[who[e]] - first[e])
                at = max(at, need)
                picks.append((e, slot))
            staff_wait[r, j] = at > came
            t = max(t, at)
            start[r, j], wait[r, j] = t, t - came
            if chair >= 0:
                chairs[chair] = t + length[j] + over[j] + turnover[j]
            for e, slot in picks:
                slots[who[e]][slot] = t + end[e] + (over[j] if end[e] >= pushed[j] else 0.0)
                if hands[e] == hands[e]:
                    block = t + hands[e] + (over[j] if hands[e] >= pushed[j] else 0.0)
                    free_hands[who[e]] = max(free_hands[who[e]], block)
    return Outcome(attended, cancelled, start, wait, chair_wait, staff_wait, covered)


@dataclass(frozen=True, slots=True)
class Timing:
    week: str
    sessions: int
    runs: int
    seconds: float
    """The whole use case: plan, draws, dispatch and figures."""
    dispatch_s: float
    loop_s: float
    """The baseline's dispatch of BASELINE_RUNS runs."""
    p_overtime_week: float

    @property
    def speed_up(self) -> float:
        """Dispatch replays per second, vectorised over the per-run loop's."""
        return (self.runs / self.dispatch_s) / (BASELINE_RUNS / self.loop_s)


def measure(name: str, scenario: Scenario, schedule: Schedule, runs: int) -> Timing:
    """Seconds of the whole use case, of its dispatch alone, and of the baseline's dispatch on
    BASELINE_RUNS runs (dispatches: the best of REPEAT, the machine being shared)."""
    settings = SimulationSettings()
    began = time.perf_counter()
    plan = build(scenario, schedule, settings)
    draws = draw(plan, runs, 0)
    outcome = dispatch(plan, draws)
    result = summarise(plan, draws, outcome, settings, 0)
    seconds = time.perf_counter() - began
    few = draw(plan, BASELINE_RUNS, 0)
    return Timing(name, plan.sessions, runs, seconds, _best(lambda: dispatch(plan, draws)),
                  _best(lambda: dispatch_loop(plan, few)),
                  max((w.p_overtime for w in result.weeks), default=0.0))


def _best(job: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        job()
        times.append(time.perf_counter() - began)
    return min(times)


def simulate_bench(args: argparse.Namespace, console: Console) -> int:
    limit = args.time_limit or 10.0
    options = Options(time_limit=limit, workers=args.workers, seed=0)
    weeks = [("demo", load_input())]
    weeks.append(("M-room-1.00", validate_scenario(generate(Spec("M", "room", 1.0)))))
    runs = args.runs
    table = Table(title=f"Simulation: {runs:,} replays of a solved week (default events), "
                  f"against a Python loop per run on {BASELINE_RUNS}")
    for column in ("week", "sessions", "runs", "use case s", "replays/s", "dispatch s",
                   "loop replays/s", "dispatch speed-up", "P(overtime) in the week"):
        table.add_column(column, justify="right")
    for name, scenario in weeks:
        schedule = plan_week(scenario, options).schedule
        t = measure(name, scenario, schedule, runs)
        table.add_row(t.week, str(t.sessions), f"{t.runs:,}", f"{t.seconds:.2f}",
                      f"{t.runs / t.seconds:,.0f}", f"{t.dispatch_s:.2f}",
                      f"{BASELINE_RUNS / t.loop_s:,.0f}", f"{t.speed_up:.0f}x",
                      f"{t.p_overtime_week:.1%}")
    console.print(table)
    return 0
