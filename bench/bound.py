"""Upper bounds on priority-weighted sessions placed: a capacity count and an LP relaxation.

CP-SAT's own bound is often no better than a capacity count on staff-limited weeks, so the
benchmark also solves the LP relaxation of a time-indexed model with HiGHS. Patients with the same
options are pooled into one column family (``y[group, day, start]`` counts how many of them
start then), and rooms and staff are pooled too: for every set of rooms (or staff) some session
is confined to, and every 15-minute bucket of the day, the sessions confined to that set cannot
use more chair-minutes (attention-minutes, hands-on minutes) in the bucket than the set offers.
Every real schedule satisfies these rows, so the LP optimum is a valid upper bound.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import highspy
import numpy as np

from solver.candidates import Visit, build_visits, mode_blocks, remaining_sessions
from solver.greedy import HANDS, LOAD
from solver.problem import Interval, Problem
from solver.rooms import room_classes

log = logging.getLogger(__name__)
BUCKET = 15


def _overlap(a: int, b: int, lo: int, hi: int) -> int:
    return max(0, min(b, hi) - max(a, lo))


def _supply(spans: Iterable[Interval], lo: int, hi: int) -> int:
    return sum(_overlap(a, b, lo, hi) for a, b in spans)


@dataclass(frozen=True, slots=True)
class LpResult:
    bound: float
    columns: int
    rows: int
    nonzeros: int
    seconds: float
    status: str


def lp_bound(problem: Problem, visits: list[Visit] | None = None,
             time_limit: float = 120.0) -> LpResult:
    """The LP relaxation's optimum (an upper bound on the weighted sessions placed)."""
    if visits is None:
        visits, _ = build_visits(problem)
    remaining = remaining_sessions(problem)
    # Pool patients whose visits are alike: same protocol, priority, sessions, gap, options.
    groups: dict[tuple[object, ...], list[str]] = defaultdict(list)
    by_patient: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_patient[v.patient.id].append(v)
    for pid, vs in by_patient.items():
        p = problem.patient[pid]
        key = (p.protocol, p.priority, remaining[pid], p.min_gap_days,
               tuple((v.day.index, tuple(v.starts), tuple(sorted(v.rooms)),
                      tuple(tuple(sorted(s)) for s in v.staff)) for v in vs))
        groups[key].append(pid)
    cols_cost: list[float] = []
    cols_upper: list[float] = []
    rows_upper: list[float] = []
    entries: list[tuple[int, int, float]] = []

    def row(upper: float) -> int:
        rows_upper.append(upper)
        return len(rows_upper) - 1

    room_rows: dict[tuple[frozenset[str], int], int] = {}
    load_rows: dict[tuple[frozenset[str], int], int] = {}
    hands_rows: dict[tuple[frozenset[str], int], int] = {}
    rooms = room_classes(problem)
    staff = {s.id: s for s in problem.staff}
    turn = max((p.turnover for p in problem.protocols.values()), default=0)

    def room_row(pool: frozenset[str], bucket: int) -> int:
        if (pool, bucket) not in room_rows:
            lo, hi = bucket * BUCKET, (bucket + 1) * BUCKET
            supply = 0
            for r in pool:
                own = rooms[r].hours
                hours = own if own is not None else tuple(h for d in problem.days
                                                          for h in d.hours)
                supply += rooms[r].chairs * _supply(((a, b + turn) for a, b in hours), lo, hi)
            room_rows[pool, bucket] = row(supply)
        return room_rows[pool, bucket]

    def staff_row(table: dict[tuple[frozenset[str], int], int], pool: frozenset[str],
                  bucket: int, per_person: bool) -> int:
        if (pool, bucket) not in table:
            lo, hi = bucket * BUCKET, (bucket + 1) * BUCKET
            table[pool, bucket] = row(sum(
                (staff[s].max_patients if per_person else 1) * _supply(staff[s].shifts, lo, hi)
                for s in pool))
        return table[pool, bucket]

    for members in groups.values():
        n = len(members)
        p = problem.patient[members[0]]
        vs = by_patient[members[0]]
        total = row(n * remaining[p.id])
        per_day = {v.day.index: row(n) for v in vs}
        gap = max(1, p.min_gap_days)
        pairs = [(a.day.index, b.day.index) for a in vs for b in vs
                 if a.day.index < b.day.index and b.day.index - a.day.index < gap]
        pair_rows = {pair: row(n) for pair in pairs}
        for v in vs:
            d = v.day.index
            proto = v.protocol
            occupy = proto.minutes + proto.turnover
            room_pool = frozenset(v.rooms)
            needs = [(frozenset(pool), mode_blocks(proto, proto.staff[k].modes, LOAD),
                      mode_blocks(proto, proto.staff[k].modes, HANDS))
                     for k, pool in enumerate(v.staff)]
            for t in v.starts:
                col = len(cols_cost)
                cols_cost.append(float(p.priority))
                cols_upper.append(float(n))
                entries += [(total, col, 1.0), (per_day[d], col, 1.0)]
                entries += [(r, col, 1.0) for pair, r in pair_rows.items() if d in pair]
                for bucket in range(t // BUCKET, (t + occupy - 1) // BUCKET + 1):
                    lo = bucket * BUCKET
                    used = _overlap(t, t + occupy, lo, lo + BUCKET)
                    if used:
                        entries.append((room_row(room_pool, bucket), col, float(used)))
                for pool, load, hands in needs:
                    for blocks, table, per in ((load, load_rows, True),
                                               (hands, hands_rows, False)):
                        for a, b in blocks:
                            for bucket in range((t + a) // BUCKET, (t + b - 1) // BUCKET + 1):
                                lo = bucket * BUCKET
                                used = _overlap(t + a, t + b, lo, lo + BUCKET)
                                if used:
                                    entries.append((staff_row(table, pool, bucket, per), col,
                                                    float(used)))
    fixed_value = sum(problem.patient[a.patient].priority for a in problem.fixed)
    if not cols_cost:
        return LpResult(float(fixed_value), 0, 0, 0, 0.0, "EMPTY")
    return _solve(cols_cost, cols_upper, rows_upper, entries, fixed_value, time_limit)


def _solve(cost: list[float], upper: list[float], rows_upper: list[float],
           entries: list[tuple[int, int, float]], offset: float, time_limit: float) -> LpResult:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(rows_upper)
    lp.col_cost_ = np.array(cost)
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = np.array(upper)
    lp.row_lower_ = np.full(len(rows_upper), -highspy.kHighsInf)
    lp.row_upper_ = np.array(rows_upper, dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize
    rows = np.array([e[0] for e in entries], dtype=np.int32)
    cols = np.array([e[1] for e in entries], dtype=np.int32)
    vals = np.array([e[2] for e in entries])
    order = np.lexsort((rows, cols))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=len(cost)))))
    lp.a_matrix_.index_ = rows[order]
    lp.a_matrix_.value_ = vals[order]
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    # Only a proven LP optimum is a bound; a time-limited simplex iterate is not reported.
    value = info.objective_function_value if status == "Optimal" else float("inf")
    return LpResult(value + offset, len(cost), len(rows_upper), len(entries),
                    float(h.getRunTime()), status)
