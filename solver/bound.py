"""An upper bound on the sessions a week can hold, the LP relaxation of a time-indexed model,
and the shadow prices of its resources.

CP-SAT's own bound is often no better than "every wanted session placed" on staff-limited
weeks, so this module solves the LP relaxation of a time-indexed model with HiGHS:

- **Columns.** Patients with the same options are pooled into one column family: how many of a
  group start on a day at a minute (with ``per_person``, also which staff member fills the
  protocol's first staff need that has modes: a session keeps that person throughout, and only
  someone whose shifts allow that start can take it). Confirmed (fixed) appointments are
  columns held at one: what they take is not there for anyone else.
- **Demand rows.** A group's sessions, at most one a day, the minimum gap, the per-week caps.
- **Capacity rows**, per 15-minute bucket, for every set of rooms (of staff) some session is
  confined to: the sessions confined to it (and, for the largest such sets, to any part of it)
  use at most the chair-minutes (attention-minutes, hands-on minutes) it offers; with
  ``per_person``, per staff member. A chair's last session may overhang the close by its
  turnover (the longest of any protocol, revisions included).
- **Packing rows.** In one open span, ``k`` chairs (a nurse's ``max_patients``) are ``k`` lanes
  of disjoint sessions, so the minutes rounded down to whole sessions bound their number: a
  600-minute day holds three 155-minute sessions per chair, not 3.9.

On large staff-limited weeks the per-person LP is solved by column generation
(``method="colgen"``: the per-person columns at the pooled optimum's start times, then those the
duals price in). Every schedule satisfies every row, so the optimum is an upper bound on what any
schedule places (tests hold it against weeks solved to optimality). The dual values of the
capacity rows price each resource (:func:`prices`: one more chair, a nurse taking one more
patient), which the what-if analysis sets beside its relaxation re-solves.
"""

from __future__ import annotations

import logging
import math
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import highspy
import numpy as np

from solver.candidates import (
    Visit,
    build_visits,
    fixed_days,
    fixed_follow_up_days,
    follow_ups_wanted,
    remaining_sessions,
)
from solver.problem import HANDS, LOAD, Interval, Problem, Protocol
from solver.rooms import room_classes
from solver.spans import mode_blocks

__all__ = ["LpBound", "Prices", "lp_bound", "prices"]
log = logging.getLogger(__name__)

BUCKET = 15
"""Minutes per bucket of the capacity rows: 5, the usual slot grid, would be exact; 15 makes a
much smaller LP with nearly the same bound (bench/README.md, "Variants tried")."""


PER_GROUP = 8
"""Columns a pricing round adds per group of patients alike, at most."""
PRICE_TOL = 1e-7
"""A reduced cost above this prices a column in (HiGHS's dual feasibility tolerance)."""


def _overlap(a: int, b: int, lo: int, hi: int) -> int:
    return max(0, min(b, hi) - max(a, lo))


def _supply(spans: Iterable[Interval], lo: int, hi: int) -> int:
    return sum(_overlap(a, b, lo, hi) for a, b in spans)


RowKey = tuple[str, object, int, int, int]
"""(kind, owner, lo, hi, q): kind is rooms, monitoring, hands_on (or demand); owner a pool of
room classes or staff (a frozenset) or one person (a staff id); ``[lo, hi)`` the bucket, or for
a packing row (``q`` > 0, the divisor) the span its lanes are open."""

Slot = tuple[int, int, str, bool, int]
"""A column's (group, day, protocol, follow-up, start): its person apart, the same in the
pooled LP and the per-person one."""


@dataclass(frozen=True, slots=True)
class LpBound:
    bound: float
    """The LP optimum plus the fixed appointments' value (``inf`` when not proven optimal;
    column generation stopped early: its least Lagrangian bound, status ``LAGRANGIAN``)."""
    status: str
    columns: int
    """Columns HiGHS saw (column generation: the master's at the end)."""
    rows: int
    nonzeros: int
    seconds: float
    per_person: bool
    """Whether staff were disaggregated by person (False: pooled, the looser bound)."""
    duals: dict[RowKey, float] = field(default_factory=dict, repr=False)
    """Each capacity row's dual value (sessions, or weighted sessions, per minute), nonzero
    ones only."""
    support: frozenset[Slot] = field(default_factory=frozenset, repr=False)
    """The slots of the columns positive in the optimum (a pooled one seeds column
    generation)."""


def lp_bound(problem: Problem, visits: list[Visit] | None = None, *,
             time_limit: float = 120.0, weighted: bool = True,
             per_person: bool = False, bucket: int = BUCKET, integral: bool = False,
             method: Literal["simplex", "colgen"] = "simplex",
             start: LpBound | None = None) -> LpBound:
    """The LP relaxation's optimum: an upper bound on the (priority-weighted, unless
    ``weighted`` is False) sessions any schedule of ``problem`` places, fixed ones included.

    ``inf`` when HiGHS does not prove the LP optimal within ``time_limit`` seconds (an
    unfinished simplex is no bound). ``per_person`` is tighter on staff-limited weeks, and slower
    (bench/README.md); on a room-limited week with many interchangeable nurses it can take minutes.

    ``integral`` asks for whole sessions in every column (HiGHS's branch and bound): the same
    relaxation as a MIP, so its optimum, or when ``time_limit`` stops it first the best bound
    branch and bound proved (status ``TIME_LIMIT``), is still an upper bound, tighter than the
    LP's where fractions of a session fit. No duals then.

    ``method="colgen"`` (with ``per_person``) finds the same optimum by column generation
    (:meth:`_Builder.colgen`): HiGHS solves LPs of the columns at the start times the pooled
    LP's optimum uses (``start``, the pooled :class:`LpBound` when the caller has it; solved
    here otherwise), then of those the duals price in, which on large staff-limited weeks (L
    and XL) takes a fraction of the whole LP's time. When ``time_limit`` (the pricing rounds',
    the pooled LP's own apart) stops it first, its bound is still valid (a Lagrangian bound,
    status ``LAGRANGIAN``, no duals), only looser.
    """
    if integral and method != "simplex":
        raise ValueError("integral takes the whole matrix (method='simplex')")
    if method == "colgen" and per_person and (start is None or start.per_person):
        start = lp_bound(problem, visits, time_limit=time_limit, weighted=weighted,
                         bucket=bucket)
    t0 = time.perf_counter()
    if visits is None:
        visits, _ = build_visits(problem)
    builder = _Builder(problem, weighted, bucket)
    builder.build(visits, per_person)
    fixed = sum(problem.patient[a.patient].priority if weighted else 1 for a in problem.fixed)
    if not builder.cost:
        return LpBound(float(fixed), "EMPTY", 0, 0, 0, time.perf_counter() - t0, per_person)
    if method == "colgen" and per_person:
        assert start is not None
        seed = [c for c, slot in enumerate(builder.slot) if slot in start.support]
        return builder.colgen(fixed, time_limit, per_person, t0, seed)
    return builder.solve(fixed, time_limit, per_person, t0, integral)


@dataclass(frozen=True, slots=True)
class _Demand:
    """Per patient: sessions still wanted, days of fixed sessions and of fixed follow-ups, and
    the follow-ups the horizon could want."""

    remaining: dict[str, int]
    fixed: dict[str, list[int]]
    fixed_follow: dict[str, list[int]]
    follow_wanted: dict[str, int]

    @classmethod
    def of(cls, problem: Problem) -> _Demand:
        return cls(remaining_sessions(problem), fixed_days(problem),
                   fixed_follow_up_days(problem), follow_ups_wanted(problem))

    def key(self, pid: str) -> tuple[object, ...]:
        return (self.remaining[pid], tuple(sorted(self.fixed.get(pid, []))),
                tuple(sorted(self.fixed_follow.get(pid, []))), self.follow_wanted.get(pid))


class _Builder:
    def __init__(self, problem: Problem, weighted: bool, bucket: int) -> None:
        self.problem = problem
        self.bucket = bucket
        self.room_pools: set[frozenset[str]] = set()
        self.staff_pools: set[frozenset[str]] = set()
        self.above: dict[tuple[int, frozenset[str]], list[frozenset[str]]] = {}
        self.tops: dict[int, list[frozenset[str]]] = {}
        self.weighted = weighted
        self.cost: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.rows_upper: list[float] = []
        self.keys: list[RowKey] = []
        self.rows_of: dict[RowKey, int] = {}
        # the matrix's entries, as machine numbers: XL's per-person LP has 9 million
        self.rows = array("q")
        self.cols = array("q")
        self.vals = array("d")
        self.classes = room_classes(problem)
        self.staff = {s.id: s for s in problem.staff}
        self.turn = _turnover(problem)
        self.packing: dict[tuple[str, object, int, int], tuple[int, list[tuple[int, int]]]] = {}
        """Packing rows: (kind, owner, lo, hi) -> (lanes, [(column, minutes)]); see
        :meth:`_pack`."""
        self.spans_of: dict[frozenset[str], tuple[Interval, ...] | None] = {}
        self.group: list[int] = []
        """Per column: its group of patients alike (-1: a confirmed appointment)."""
        self.day_row: list[int] = []
        """Per column: its group's one-session-a-day row (-1: a confirmed appointment)."""
        self.slot: list[Slot | None] = []
        """Per column: its slot (None: a confirmed appointment)."""
        self.matrix: _Matrix | None = None

    # ------------------------------------------------------------------ rows
    def _row(self, key: RowKey, supply: float) -> int:
        if key not in self.rows_of:
            self.rows_of[key] = len(self.rows_upper)
            self.rows_upper.append(supply)
            self.keys.append(key)
        return self.rows_of[key]

    def _demand(self, upper: float) -> int:
        key: RowKey = ("demand", len(self.rows_upper), 0, 0, 0)
        return self._row(key, upper)

    def room_supply(self, pool: frozenset[str], lo: int, hi: int) -> int:
        supply = 0
        for c in pool:
            own = self.classes[c].hours
            hours = own if own is not None else tuple(h for d in self.problem.days
                                                      for h in d.hours)
            supply += self.classes[c].chairs * _supply(((a, b + self.turn) for a, b in hours),
                                                       lo, hi)
        return supply

    def _use(self, col: int, kind: str, owner: object, a: int, b: int, size: int,
             supply: Callable[[int, int], float]) -> None:
        for bucket in range(a // size, (b - 1) // size + 1):
            lo = bucket * size
            used = _overlap(a, b, lo, lo + size)
            if used:
                key: RowKey = (kind, owner, lo, lo + size, 0)
                row = self.rows_of.get(key)
                if row is None:
                    row = self._row(key, supply(lo, lo + size))
                self.rows.append(row)
                self.cols.append(col)
                self.vals.append(float(used))

    def _pack(self, col: int, kind: str, owner: object, a: int, b: int,
              spans: tuple[Interval, ...], units: int, slack: int = 0) -> None:
        """Count ``[a, b)`` toward the packing row of the span of ``spans`` holding it.

        ``units`` parallel lanes (chairs, or a nurse's patients at a time) are each open for
        the span's length (plus ``slack``: the turnover that may overhang the close); any
        sessions sharing the span split into at most ``units`` chains of disjoint intervals
        (interval graphs are perfect), so with ``q`` the shortest length,
        sum(floor(len / q)) <= units * floor(span / q): the bucket rows' minute count rounded
        down, which says a 600-minute day holds three 155-minute sessions, not 3.9.
        """
        for lo, hi in spans:
            if lo <= a and b <= hi + slack:
                entry = self.packing.setdefault((kind, owner, lo, hi + slack), (units, []))
                entry[1].append((col, b - a))
                return

    def _room_spans(self, pool: frozenset[str]) -> tuple[Interval, ...] | None:
        """The open spans every class of ``pool`` shares (None: their hours differ)."""
        if pool not in self.spans_of:
            hours = {self.classes[c].hours for c in pool}
            if len(hours) != 1:
                self.spans_of[pool] = None
            else:
                (only,) = hours
                self.spans_of[pool] = only if only is not None else tuple(
                    h for d in self.problem.days for h in d.hours)
        return self.spans_of[pool]

    def _packing_rows(self) -> None:
        """Each packing row once per distinct length among its entries (at most three)."""
        for (kind, owner, lo, hi), (units, entries) in self.packing.items():
            for q in sorted({m for _, m in entries})[:3]:
                row = self._row((kind, owner, lo, hi, q), units * ((hi - lo) // q))
                for col, m in entries:
                    self.rows.append(row)
                    self.cols.append(col)
                    self.vals.append(float(m // q))

    def supersets(self, pool: frozenset[str], known: set[frozenset[str]]
                  ) -> list[frozenset[str]]:
        """``pool`` and the largest known pools holding it: sessions confined to ``pool`` use
        the capacity of each (rows per pool alone would let two kinds of session each use a
        shared room). Every known pool in between would be valid too, but barely tightens the
        bound for much more LP time (bench/README.md, "Variants tried")."""
        key = (id(known), pool)  # room and staff ids may coincide: one cache for each
        if key not in self.above:
            if id(known) not in self.tops:
                self.tops[id(known)] = [q for q in known if not any(q < r for r in known)]
            self.above[key] = sorted({pool, *(q for q in self.tops[id(known)] if pool <= q)},
                                     key=sorted)
        return self.above[key]

    # --------------------------------------------------------------- columns
    def build(self, visits: list[Visit], per_person: bool) -> None:
        problem = self.problem
        by_patient: dict[str, list[Visit]] = defaultdict(list)
        for v in visits:
            by_patient[v.patient.id].append(v)
        for v in visits:
            k_person = _person_need(v.protocol) if per_person else None
            for t in v.starts:
                self.room_pools.add(frozenset(c for c, ok in v.rooms.items() if t in ok))
            self.staff_pools.update(frozenset(need) for k, need in enumerate(v.staff)
                                    if k != k_person)
        demand = _Demand.of(problem)
        groups: dict[tuple[object, ...], list[str]] = defaultdict(list)
        for pid, vs in by_patient.items():
            p = problem.patient[pid]
            key = (p.priority, p.min_gap_days, p.week_caps, demand.key(pid),
                   tuple((v.day.index, v.protocol.id, v.follow_up, tuple(v.starts),
                          tuple(sorted((r, tuple(sorted(s))) for r, s in v.rooms.items())),
                          tuple(tuple(sorted((i, tuple(sorted(s))) for i, s in need.items()))
                                for need in v.staff)) for v in vs))
            groups[key].append(pid)
        for g, members in enumerate(groups.values()):
            self._group(g, len(members), by_patient[members[0]], demand, per_person)
        self._fixed(per_person)

    def _group(self, g: int, n: int, vs: list[Visit], demand: _Demand, per_person: bool
               ) -> None:
        """The columns of ``n`` patients alike (``vs``: the first one's visits) and their demand
        rows: sessions wanted, one a day (follow-ups included), the gaps and weekly caps between
        sessions; follow-ups at most as many as wanted, and not more than the sessions they
        follow (the matching itself is relaxed away, as is the dose step's order)."""
        p = vs[0].patient
        pid = p.id
        fixed = demand.fixed.get(pid, [])
        main = [v for v in vs if not v.follow_up]
        total = self._demand(n * demand.remaining[pid])
        per_day = {v.day.index: self._demand(n) for v in vs}
        gap = max(1, p.min_gap_days)
        pair_rows = {(a.day.index, b.day.index): self._demand(n) for a in main for b in main
                     if a.day.index < b.day.index and b.day.index - a.day.index < gap}
        caps = [(self._demand(n * max(0, most - sum(first <= f <= last for f in fixed))),
                 first, last) for first, last, most in p.week_caps]
        follow_total = follow_link = -1
        if len(main) < len(vs):
            taken = len(demand.fixed_follow.get(pid, []))
            follow_total = self._demand(n * max(0, demand.follow_wanted[pid] - taken))
            reach = demand.follow_wanted[pid] - p.sessions  # the last session before, if near
            follow_link = self._demand(n * max(0, len(fixed) + reach - taken))
        value = float(p.priority if self.weighted else 1)
        for v in vs:
            d = v.day.index
            common: list[tuple[int, float]] = [(per_day[d], 1.0)]
            if v.follow_up:
                common += [(follow_total, 1.0), (follow_link, 1.0)]
            else:
                common += [(total, 1.0), *((r, 1.0) for pair, r in pair_rows.items() if d in pair),
                           *((r, 1.0) for r, first, last in caps if first <= d <= last)]
                if follow_link >= 0:
                    common.append((follow_link, -1.0))
            k_person = _person_need(v.protocol) if per_person else None
            for t in v.starts:
                room_pool = frozenset(c for c, ok in v.rooms.items() if t in ok)
                pools = [frozenset(need) for need in v.staff]
                people: list[str | None] = [None]
                if k_person is not None:
                    people = [*sorted(s for s, ok in v.staff[k_person].items() if t in ok)]
                for person in people:
                    self.slot.append((g, d, v.protocol.id, v.follow_up, t))
                    self.group.append(g)
                    self.day_row.append(per_day[d])
                    self._column(value, 0.0, float(n), common, v.protocol, t, room_pool, pools,
                                 k_person, person)

    def _fixed(self, per_person: bool) -> None:
        """Confirmed appointments as columns held at one (their value is the offset): what
        they take of a room or a person is not there for anyone else."""
        class_of = {r: c.id for c in self.classes.values() for r in c.rooms}
        for a in self.problem.fixed:
            proto = self.problem.appointment_protocol(a)
            k_person = _person_need(proto) if per_person else None
            pools = [frozenset({a.staff[need.key]}) for need in proto.staff]
            room_pool = frozenset({class_of[a.room]}) if a.room in class_of else frozenset()
            self.slot.append(None)
            self.group.append(-1)
            self.day_row.append(-1)
            self._column(0.0, 1.0, 1.0, [], proto, a.start, room_pool, pools, k_person,
                         a.staff[proto.staff[k_person].key] if k_person is not None else None)

    def _column(self, value: float, lower: float, upper: float,
                common: list[tuple[int, float]],
                proto: Protocol, t: int, room_pool: frozenset[str],
                pools: list[frozenset[str]], k_person: int | None, person: str | None) -> None:
        col = len(self.cost)
        self.cost.append(value)
        self.lower.append(lower)
        self.upper.append(upper)
        for r, coefficient in common:
            self.rows.append(r)
            self.cols.append(col)
            self.vals.append(coefficient)
        occupy = proto.minutes + proto.turnover
        for pool in self.supersets(room_pool, self.room_pools) if room_pool else ():
            self._use(col, "rooms", pool, t, t + occupy, self.bucket,
                      partial(self.room_supply, pool))
            spans = self._room_spans(pool)
            if spans is not None:
                self._pack(col, "rooms", pool, t, t + occupy, spans,
                           sum(self.classes[c].chairs for c in pool), self.turn)
        for k, need in enumerate(proto.staff):
            load = mode_blocks(proto, need.modes, LOAD)
            hands = mode_blocks(proto, need.modes, HANDS)
            if k == k_person:
                assert person is not None
                self._person(col, person, t, load, hands)
                # the person's time is also part of every pool of the other needs they are in
                for pool in self.supersets(frozenset({person}), self.staff_pools):
                    self._pooled(col, pool, t, load, hands)
            else:
                for pool in self.supersets(pools[k], self.staff_pools):
                    self._pooled(col, pool, t, load, hands)

    def _person(self, col: int, person: str, t: int, load: list[Interval],
                hands: list[Interval]) -> None:
        s = self.staff[person]
        for a, b in load:
            self._use(col, "monitoring", person, t + a, t + b, self.bucket,
                      lambda lo, hi: s.max_patients * _supply(s.shifts, lo, hi))
            self._pack(col, "monitoring", person, t + a, t + b, s.shifts, s.max_patients)
        for a, b in hands:
            self._use(col, "hands_on", person, t + a, t + b, self.bucket,
                      lambda lo, hi: _supply(s.shifts, lo, hi))
            self._pack(col, "hands_on", person, t + a, t + b, s.shifts, 1)

    def _pooled(self, col: int, pool: frozenset[str], t: int, load: list[Interval],
                hands: list[Interval]) -> None:
        staff = self.staff
        for a, b in load:
            self._use(col, "monitoring", pool, t + a, t + b, self.bucket,
                      lambda lo, hi: sum(staff[s].max_patients * _supply(staff[s].shifts, lo, hi)
                                         for s in pool))
        for a, b in hands:
            self._use(col, "hands_on", pool, t + a, t + b, self.bucket,
                      lambda lo, hi: sum(_supply(staff[s].shifts, lo, hi) for s in pool))

    # ----------------------------------------------------------------- solve
    def assemble(self) -> _Matrix:
        """The packing rows, then every column in compressed column form (built once)."""
        if self.matrix is not None:
            return self.matrix
        self._packing_rows()
        ncol, nrow = len(self.cost), len(self.rows_upper)
        rows = np.frombuffer(self.rows, dtype=np.int64)
        cols = np.frombuffer(self.cols, dtype=np.int64)
        # One entry per (column, row): a column may meet a row twice (two blocks of a session
        # in one bucket or span), which HiGHS refuses; the minutes add up.
        cell, where = np.unique(cols * nrow + rows, return_inverse=True)
        summed = np.bincount(where, weights=np.frombuffer(self.vals), minlength=len(cell))
        cols, rows = cell // nrow, cell % nrow
        starts = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=ncol))))
        del where  # the entries live on in the matrix only
        self.rows, self.cols, self.vals = array("q"), array("q"), array("d")
        self.matrix = _Matrix(np.array(self.cost), np.array(self.lower), np.array(self.upper),
                              np.array(self.rows_upper, dtype=float), starts, rows, summed)
        return self.matrix

    def solve(self, offset: float, time_limit: float, per_person: bool,
              t0: float, integral: bool = False) -> LpBound:
        m = self.assemble()
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        if math.isfinite(time_limit):
            h.setOptionValue("time_limit", max(0.1, float(time_limit)))
        h.setOptionValue("threads", 1)
        ncol, nrow = m.ncol, m.nrow
        h.passModel(m.lp(np.arange(ncol), integral))
        h.run()
        nz = m.nonzeros
        status = h.modelStatusToString(h.getModelStatus())
        if integral:
            # branch and bound's proven bound (its dual bound): it holds when time ran out, and
            # "Optimal" means within HiGHS's relative gap of the best schedule it found, which
            # on a large objective is more than a session away from that schedule's value
            proven = h.getInfo().mip_dual_bound
            label = {"Optimal": "OPTIMAL", "Time limit reached": "TIME_LIMIT"}.get(status)
            if label is None or not math.isfinite(proven):
                return LpBound(float("inf"), status, ncol, nrow, nz,
                               time.perf_counter() - t0, per_person)
            return LpBound(proven + offset, label, ncol, nrow, nz,
                           time.perf_counter() - t0, per_person)
        # Only a proven LP optimum is a bound; a time-limited simplex iterate is not reported.
        if status != "Optimal":
            return LpBound(float("inf"), status, ncol, nrow, nz,
                           time.perf_counter() - t0, per_person)
        value = h.getInfo().objective_function_value
        solution = h.getSolution()
        support = frozenset(slot for x, slot in zip(solution.col_value, self.slot, strict=True)
                            if x > 1e-9 and slot is not None)
        return LpBound(value + offset, "OPTIMAL", ncol, nrow, nz, time.perf_counter() - t0,
                       per_person, self._duals(solution.row_dual), support)

    def _duals(self, duals: Iterable[float]) -> dict[RowKey, float]:
        return {self.keys[i]: abs(float(y)) for i, y in enumerate(duals)
                if abs(y) > 1e-9 and self.keys[i][0] != "demand"}

    def colgen(self, offset: float, time_limit: float, per_person: bool, t0: float,
               seed: Iterable[int] = (), per_group: int = PER_GROUP,
               rounds_limit: int | None = None) -> LpBound:
        """The same LP by column generation: a restricted master of the confirmed appointments
        and ``seed``'s columns (every row from the start), re-solved from its last basis after
        adding, per group, the ``per_group`` columns of largest positive reduced cost among all
        the others (priced in one numpy pass over the whole matrix), until none has one.

        Every round's duals also give a bound, valid before the end (:func:`_lagrangian`); the
        least of them is reported when ``time_limit`` runs out first (status ``LAGRANGIAN``:
        an upper bound, above the LP's optimum), the master's optimum once nothing prices out
        (``OPTIMAL``: the LP's optimum, as :meth:`solve` finds it). ``rounds_limit`` stops
        it after that many master solves, like the time limit."""
        m = self.assemble()
        deadline = time.perf_counter() + time_limit
        group = np.array(self.group, dtype=np.int64)
        day_row = np.array(self.day_row, dtype=np.int64)
        free = group >= 0
        master = ~free
        master[np.fromiter(seed, dtype=np.int64)] = True
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        # primal simplex: each round's added columns leave the last basis primal feasible
        h.setOptionValue("simplex_strategy", 4)
        h.passModel(m.lp(np.flatnonzero(master)))
        best, rounds, status = math.inf, 0, "TIME_LIMIT"
        while (left := deadline - time.perf_counter()) > 0:
            # HiGHS's clock runs on across re-solves: its limit is on the total
            h.setOptionValue("time_limit", h.getRunTime() + max(0.1, left))
            h.run()
            solved = h.getModelStatus()
            empty = solved == highspy.HighsModelStatus.kModelEmpty  # no confirmed one, no seed
            if solved != highspy.HighsModelStatus.kOptimal and not empty:
                break
            rounds += 1
            duals = (np.maximum(np.asarray(h.getSolution().row_dual), 0.0)
                     if not empty else np.zeros(m.nrow))
            reduced = m.reduced(duals)
            best = min(best, _lagrangian(m, duals, reduced, free, day_row))
            priced = np.flatnonzero(~master & (reduced > PRICE_TOL))
            log.debug("round %d: master %.3f, bound %.3f, %d price in, %d iterations, %.1f s",
                      rounds, h.getInfo().objective_function_value + offset, best + offset,
                      len(priced), h.getInfo().simplex_iteration_count,
                      time.perf_counter() - t0)
            if not len(priced):
                status = "OPTIMAL"
                break
            if rounds_limit is not None and rounds >= rounds_limit:
                break
            # the per_group largest of each group: sort by group, then reduced cost, descending
            order = priced[np.lexsort((-reduced[priced], group[priced]))]
            first = np.searchsorted(group[order], group[order], side="left")
            pick = order[np.arange(len(order)) - first < per_group]
            master[pick] = True
            start, index, value = m.columns(pick)
            h.addCols(len(pick), m.cost[pick], m.lower[pick], m.upper[pick], len(index),
                      start.astype(np.int32), index.astype(np.int32), value)
        log.debug("column generation: %d rounds, %d of %d columns, %s", rounds,
                  int(master.sum()), m.ncol, status)
        seconds = time.perf_counter() - t0
        if status == "OPTIMAL":
            value_ = h.getInfo().objective_function_value
            return LpBound(value_ + offset, status, int(master.sum()), m.nrow, m.nonzeros,
                           seconds, per_person, self._duals(h.getSolution().row_dual))
        return LpBound(best + offset if math.isfinite(best) else math.inf,
                       "LAGRANGIAN" if math.isfinite(best) else status, int(master.sum()),
                       m.nrow, m.nonzeros, seconds, per_person)


@dataclass(frozen=True, slots=True)
class _Matrix:
    """The whole LP, its columns in compressed form (``start``, ``index``, ``value``)."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray

    @property
    def ncol(self) -> int:
        return len(self.cost)

    @property
    def nrow(self) -> int:
        return len(self.row_upper)

    @property
    def nonzeros(self) -> int:
        return len(self.value)

    def columns(self, js: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns ``js`` alone, in compressed form."""
        lengths = self.start[js + 1] - self.start[js]
        start = np.concatenate(([0], np.cumsum(lengths)))
        # entry k of the result is entry (start[js] - start[k's column] + k) of the whole
        at = np.arange(start[-1]) + np.repeat(self.start[js] - start[:-1], lengths)
        return start, self.index[at], self.value[at]

    def reduced(self, y: np.ndarray) -> np.ndarray:
        """Every column's reduced cost under row duals ``y``: cost - A'y."""
        col = np.repeat(np.arange(self.ncol), np.diff(self.start))
        return self.cost - np.bincount(col, weights=self.value * y[self.index],
                                       minlength=self.ncol)

    def lp(self, js: np.ndarray, integral: bool = False) -> highspy.HighsLp:
        """Every row, columns ``js`` (a maximisation)."""
        start, index, value = self.columns(js)
        lp = highspy.HighsLp()
        lp.num_col_ = len(js)
        lp.num_row_ = self.nrow
        lp.col_cost_ = self.cost[js]
        lp.col_lower_ = self.lower[js]
        lp.col_upper_ = self.upper[js]
        lp.row_lower_ = np.full(self.nrow, -highspy.kHighsInf)
        lp.row_upper_ = self.row_upper
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = index.astype(np.int32)
        lp.a_matrix_.value_ = value
        if integral:
            lp.integrality_ = [highspy.HighsVarType.kInteger] * len(js)
        return lp


def _lagrangian(m: _Matrix, y: np.ndarray, reduced: np.ndarray, free: np.ndarray,
                day_row: np.ndarray) -> float:
    """An upper bound on the LP's optimum from any duals ``y`` >= 0 (Lagrangian relaxation):
    every row but the one-session-a-day rows priced at ``y``, each of those rows kept, so its
    group's ``n`` patients that day take the day's best column if its reduced cost (without
    that row's dual) is positive, and the confirmed appointments (held at one) theirs. At the
    LP's optimal duals it is the LP's optimum (a Farley-style bound)."""
    is_day = np.zeros(m.nrow, dtype=bool)
    is_day[day_row[free]] = True
    total = float(y[~is_day] @ m.row_upper[~is_day])
    best = np.zeros(m.nrow)
    np.maximum.at(best, day_row[free], reduced[free] + y[day_row[free]])
    return total + float(m.row_upper[is_day] @ best[is_day]) + float(reduced[~free].sum())


def _turnover(problem: Problem) -> int:
    """The longest turnover of any protocol, revisions from a date included: a chair's last
    session of an open interval may block it that long after the close."""
    return max((p.turnover for p in (*problem.protocols.values(),
                                     *(rev for revs in problem.revisions.values()
                                       for _, rev in revs))), default=0)


def _person_need(protocol: Protocol) -> int | None:
    """The first staff need whose person is engaged in some phase (None: no such need)."""
    return next((k for k, need in enumerate(protocol.staff) if need.modes), None)


@dataclass(frozen=True, slots=True)
class Prices:
    """What the LP's shadow prices say one more unit of each resource is worth over the horizon,
    in the LP's objective unit (sessions, or weighted sessions): a first-order estimate, exact
    for a small change while the same rows bind, an overestimate for a large one."""

    chair: dict[str, float]
    """Room id -> one more chair like one of that room's."""
    monitoring: dict[str, float]
    """Staff id -> that person attending one more patient at a time."""
    hands_on: dict[str, float]
    """Staff id -> that person's hands-on time doubled (someone to share it)."""


def prices(problem: Problem, lp: LpBound) -> Prices:
    """Each resource's shadow price: the sum, over the capacity rows it is part of, of the
    row's dual value times what one more unit of the resource adds to the row's right-hand
    side."""
    classes = room_classes(problem)
    class_of = {r: c.id for c in classes.values() for r in c.rooms}
    turn = _turnover(problem)
    all_hours = tuple(h for d in problem.days for h in d.hours)
    chair: dict[str, float] = defaultdict(float)
    monitoring: dict[str, float] = defaultdict(float)
    hands: dict[str, float] = defaultdict(float)
    staff = {s.id: s for s in problem.staff}
    for (kind, owner, lo, hi, q), y in lp.duals.items():
        if kind == "rooms":
            assert isinstance(owner, frozenset)
            for r in problem.rooms:
                if class_of[r.id] in owner:
                    hours = r.hours if r.hours is not None else all_hours
                    chair[r.id] += y * ((hi - lo) // q if q else _supply(
                        ((a, b + turn) for a, b in hours), lo, hi))
            continue
        assert isinstance(owner, str | frozenset)
        people: list[str] = [owner] if isinstance(owner, str) else sorted(owner)
        into = monitoring if kind == "monitoring" else hands
        for sid in people:
            into[sid] += y * ((hi - lo) // q if q else _supply(staff[sid].shifts, lo, hi))
    return Prices(dict(chair), dict(monitoring), dict(hands))
