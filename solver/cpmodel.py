"""The CP-SAT model: plain data in, plain data out.

It reads in the order it is built: data (the visits, room classes and fixed appointments' staff
blocks), variables, hard rules, then per stage the measures of an objective (the variables and
constraints that define a soft goal or a re-planning count) and the objectives, sums of those.

Each candidate visit (a patient on a day, see ``candidates``) is an optional session with a start
variable whose domain is that day's allowed starts. Choosing a room or a staff member is a Boolean
whose enforced linear domain narrows the start to the minutes that resource's hours allow. Room
classes (``rooms``) are cumulative resources of their chairs (turnover included); each staff member
has a no-overlap resource for hands-on phases and a cumulative of ``max_patients`` for hands-on and
monitoring phases.

The search runs in lexicographic stages (``stage``), each holding the value the one before it
reached, hinted with the greedy first fit and then with the previous stage's schedule; which
objectives, in which order, is ``solver.solve``'s choice (placement then soft goals for a new week;
rebook, keep, place, fewest moves when re-planning).

The order of variables and constraints is part of the search: with a seed and deterministic
limits, CP-SAT's schedule depends on it, so a reorganisation of this module keeps it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

from ortools.sat.python import cp_model

from solver.candidates import (
    Visit,
    fixed_days,
    fixed_follow_up_days,
    remaining_sessions,
)
from solver.people import StaffPool, on_shift_profile, pool_of
from solver.problem import HANDS, LOAD, Interval, Options, Placement, Problem, Progress
from solver.rooms import room_classes
from solver.spans import mode_blocks, overlap, pieces

ProgressFn = Callable[[Progress], None]
Terms = list[tuple[int, cp_model.LinearExprT]]
"""Penalty terms: (coefficient, expression)."""


@dataclass(slots=True)
class Variables:
    present: dict[int, cp_model.IntVar] = field(default_factory=dict)
    start: dict[int, cp_model.IntVar] = field(default_factory=dict)
    room: dict[tuple[int, str], cp_model.IntVar] = field(default_factory=dict)
    staff: dict[tuple[int, int, str], cp_model.IntVar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Engagement:
    """One staff member's part in a booked appointment (one staff need of it)."""

    appointment: Placement
    key: str
    """The staff need's key."""
    who: str
    hands: list[Interval]
    """Hands-on blocks, offsets from the appointment's start."""
    load: list[Interval]
    """Engaged (hands-on or monitoring) blocks, offsets from the appointment's start."""
    dose: int | None
    """The dosing's offset when the need is engaged then (staggering), else None."""


def engagements(problem: Problem, appointments: list[Placement] | tuple[Placement, ...]
                ) -> list[Engagement]:
    """Per appointment, in order, and per staff need with someone assigned: its engagement."""
    out = []
    for a in appointments:
        p = problem.appointment_protocol(a)
        dose = p.phase_offsets()[p.dose][0]
        for need in p.staff:
            who = a.staff.get(need.key)
            if who is not None:
                out.append(Engagement(a, need.key, who, mode_blocks(p, need.modes, HANDS),
                                      mode_blocks(p, need.modes, LOAD),
                                      dose if p.dose in need.modes else None))
    return out


class _Reporter(cp_model.CpSolverSolutionCallback):
    def __init__(self, stage: str, on_progress: ProgressFn | None,
                 stop_at: int | None = None) -> None:
        super().__init__()
        self.stage = stage
        self.on_progress = on_progress
        self.stop_at = stop_at

    def on_solution_callback(self) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(self.stage, self.wall_time, self.objective_value,
                                      self.best_objective_bound))
        if self.stop_at is not None and self.objective_value >= self.stop_at - 1e-6:
            self.stop_search()  # a proven bound reached: nothing better exists


@dataclass(slots=True)
class StageResult:
    status: str
    bound: int
    appointments: list[Placement] | None


class ChairModel:
    """Builds the variables and hard rules once; ``stage`` then optimises one objective at a
    time, holding each stage's value for the next."""

    def __init__(self, problem: Problem, visits: list[Visit],
                 pools: dict[str, StaffPool] | None = None) -> None:
        # data
        self.problem = problem
        self.visits = visits
        self.classes = room_classes(problem)
        self.pools = pools
        """Staff pools (``solver.people``) when the visits' staff needs choose pools, not
        people: each pool is then one resource, and a schedule read names pools."""
        self._pool_of = pool_of(pools) if pools is not None else {}
        self._fixed_staff = engagements(problem, problem.fixed)
        """The fixed appointments' staff blocks (hands-on, engaged, dosing), derived once."""
        self._occupancy: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
        """Per room class, the intervals its sessions occupy (``_rule_rooms``)."""
        self._kept: dict[str, tuple[int, cp_model.IntVar]] = {}
        self._exact: dict[str, cp_model.IntVar] = {}
        """Per untouched known appointment: true when it stays exactly (``_rule_move_budget``)."""
        self._counts: list[tuple[str, int, cp_model.IntVar]] = []
        """Per patient who had appointments: (id, how many, sessions rebooked up to that)."""
        self._untouched: cp_model.LinearExprT = 0
        self._rebooked: cp_model.LinearExprT = 0
        self._hinted: list[Placement] = []
        # variables
        self.model = cp_model.CpModel()
        self.vars = Variables()
        self._make_variables()
        # hard rules, in the order CP-SAT receives them
        self._rule_one_choice_per_visit()
        self._rules_per_patient()
        self._rule_rooms()
        self._rule_staff()
        self._redundant_energy()
        if problem.previous:  # re-planning: the move budget, then what rebooking counts
            self._rule_move_budget()
            self._rebooked = self._rebooked_counts()

    # ----------------------------------------------------------------- variables
    def _make_variables(self) -> None:
        m, v = self.model, self.vars
        for i, visit in enumerate(self.visits):
            tag = f"{visit.patient.id}_d{visit.day.index}_{visit.protocol.id}"
            v.present[i] = m.new_bool_var(f"present{tag}")
            v.start[i] = m.new_int_var_from_domain(
                cp_model.Domain.from_values(visit.starts), f"start{tag}")
            for r in visit.rooms:
                v.room[i, r] = m.new_bool_var(f"room{tag}_{r}")
            for n, pool in enumerate(visit.staff):
                for s in pool:
                    v.staff[i, n, s] = m.new_bool_var(f"staff{tag}_{n}_{s}")

    # ----------------------------------------------------------------- hard rules
    def _restrict(self, i: int, allowed: set[int], lit: cp_model.IntVar) -> None:
        if len(allowed) < len(self.visits[i].starts):
            self.model.add_linear_expression_in_domain(
                self.vars.start[i], cp_model.Domain.from_values(sorted(allowed))
            ).only_enforce_if(lit)

    def _rule_one_choice_per_visit(self) -> None:
        """Hard: a present visit has exactly one room and one staff member per need, each at a
        start its hours allow, and one person takes at most one of its needs."""
        m, v = self.model, self.vars
        for i, visit in enumerate(self.visits):
            if not visit.protocol.video:  # a video session takes no room
                m.add(sum(v.room[i, r] for r in visit.rooms) == v.present[i])
            for r, allowed in visit.rooms.items():
                self._restrict(i, allowed, v.room[i, r])
            chosen: dict[str, list[cp_model.IntVar]] = defaultdict(list)
            for n, pool in enumerate(visit.staff):
                m.add(sum(v.staff[i, n, s] for s in pool) == v.present[i])
                for s, allowed in pool.items():
                    self._restrict(i, allowed, v.staff[i, n, s])
                    chosen[s].append(v.staff[i, n, s])
            for s, lits in chosen.items():  # a pool of several may give two needs two people
                if len(lits) > 1 and (self.pools is None or len(self.pools[s].members) == 1):
                    m.add_at_most_one(lits)

    def _rules_per_patient(self) -> None:
        """Hard: each patient's own rules, patient by patient: ``_rule_sessions_wanted``,
        ``_rule_week_caps``, ``_rule_min_gap``, ``_rule_step``; then for each patient with
        follow-ups ``_rule_follow_up_day`` and ``_rule_follow_up_matched``."""
        remaining = remaining_sessions(self.problem)
        fixed = fixed_days(self.problem)
        by_patient: dict[str, list[int]] = defaultdict(list)
        follow: dict[str, list[int]] = defaultdict(list)
        for i, visit in enumerate(self.visits):
            (follow if visit.follow_up else by_patient)[visit.patient.id].append(i)
        for pid, idx in by_patient.items():
            self._rule_sessions_wanted(idx, remaining[pid])
            self._rule_week_caps(idx, fixed.get(pid, []))
            self._rule_min_gap(idx)
            if self.problem.patient[pid].step is not None:
                self._rule_step(pid, idx, fixed.get(pid, []))
        for pid, idx in follow.items():
            self._rule_follow_up_day(by_patient.get(pid, []), idx)
            self._rule_follow_up_matched(pid, by_patient.get(pid, []), idx)

    def _rule_sessions_wanted(self, idx: list[int], remaining: int) -> None:
        """Hard: at most the patient's wanted sessions, fixed ones counted (``remaining``)."""
        self.model.add(sum(self.vars.present[i] for i in idx) <= remaining)

    def _rule_week_caps(self, idx: list[int], fixed: list[int]) -> None:
        """Hard: at most a calendar week's cap of sessions in that week, fixed ones included."""
        patient = self.visits[idx[0]].patient
        for first, last, most in patient.week_caps:
            mine = [self.vars.present[i] for i in idx
                    if first <= self.visits[i].day.index <= last]
            booked = sum(1 for d in fixed if first <= d <= last)
            if mine:
                self.model.add(sum(mine) <= max(0, most - booked))

    def _rule_min_gap(self, idx: list[int]) -> None:
        """Hard: one session a day, consecutive ones at least ``min_gap_days`` apart."""
        gap = max(1, self.visits[idx[0]].patient.min_gap_days)
        for a, b in combinations(idx, 2):
            if abs(self.visits[a].day.index - self.visits[b].day.index) < gap:
                self.model.add_bool_or([~self.vars.present[a], ~self.vars.present[b]])

    def _rule_step(self, pid: str, idx: list[int], fixed: list[int]) -> None:
        """Hard: a session uses the step's protocol exactly when ``after`` or more of the
        patient's sessions (fixed ones included) come before it in the horizon."""
        m, v = self.model, self.vars
        patient = self.problem.patient[pid]
        assert patient.step is not None
        after = patient.step[0]
        nodes: list[tuple[int, str, cp_model.IntVar | None]] = [
            (self.visits[i].day.index, self.visits[i].protocol.id, v.present[i]) for i in idx]
        nodes += [(a.day, self.problem.protocol_id(a), None) for a in self.problem.fixed
                  if a.patient == pid and not self.problem.is_follow_up(a)]
        for day, protocol, lit in nodes:
            before = cp_model.LinearExpr.sum(
                [v.present[i] for i in idx if self.visits[i].day.index < day]) + sum(
                1 for d in fixed if d < day)
            rule = before >= after if protocol != patient.protocol else before <= after - 1
            if isinstance(rule, bool):  # nothing placed can come before it
                if not rule:  # validation keeps fixed sessions in step: only a visit's
                    m.add_bool_or([] if lit is None else [~lit])
                continue
            if lit is None:  # a fixed session: the placed ones before it keep its protocol
                m.add(rule)
            else:
                m.add(rule).only_enforce_if(lit)

    def _rule_follow_up_day(self, idx: list[int], follow: list[int]) -> None:
        """Hard: a follow-up never on a day with one of the patient's sessions."""
        v = self.vars
        for i in follow:
            day = self.visits[i].day.index
            same = [v.present[j] for j in idx if self.visits[j].day.index == day]
            if same:
                self.model.add_at_most_one([v.present[i], *same])

    def _rule_follow_up_matched(self, pid: str, idx: list[int], follow: list[int]) -> None:
        """Hard: each follow-up matched to a distinct session of the patient's ``follows``
        protocol (placed, fixed or the last before the horizon) low..high days before it; fixed
        follow-ups take their matches first."""
        m, v = self.model, self.vars
        patient = self.problem.patient[pid]
        assert patient.follow_up is not None
        _, lo, hi = patient.follow_up
        # only sessions of the protocol follow-ups follow (after a step, its protocol: a KAP
        # integration follows a dosing, never a preparation session)
        sources: list[tuple[int, cp_model.LinearExprT]] = [
            (self.visits[j].day.index, v.present[j]) for j in idx
            if self.visits[j].protocol.id == patient.follows]
        sources += [(a.day, 1) for a in self.problem.fixed
                    if a.patient == pid and not self.problem.is_follow_up(a)
                    and self.problem.protocol_id(a) == patient.follows]
        if patient.last_session_day is not None and patient.protocol == patient.follows:
            sources.append((patient.last_session_day, 1))
        sinks: list[tuple[int, cp_model.LinearExprT]] = [
            (self.visits[i].day.index, v.present[i]) for i in follow]
        sinks += [(d, 1) for d in fixed_follow_up_days(self.problem).get(pid, [])]
        uses: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for day, present in sinks:
            pairs = []
            for n, (source, _) in enumerate(sources):
                if lo <= day - source <= hi:
                    match = m.new_bool_var(f"match{pid}_{source}_{day}")
                    pairs.append(match)
                    uses[n].append(match)
            m.add(cp_model.LinearExpr.sum(pairs) == present)
        for n, matches in uses.items():
            m.add(cp_model.LinearExpr.sum(matches) <= sources[n][1])

    def _rule_rooms(self) -> None:
        """Hard: at most `chairs` sessions (turnover included) in a room at any moment."""
        m, v = self.model, self.vars
        for i, visit in enumerate(self.visits):
            size = visit.protocol.minutes + visit.protocol.turnover
            for r in visit.rooms:
                self._occupancy[r].append(m.new_optional_fixed_size_interval_var(
                    v.start[i], size, v.room[i, r], f"occupy{i}_{r}"))
        for a in self.problem.fixed:
            p = self.problem.appointment_protocol(a)
            if a.room is None:  # a video session
                continue
            self._occupancy[a.room].append(
                m.new_fixed_size_interval_var(a.start, p.minutes + p.turnover, f"fixed_{a.id}"))
        self._room_capacity(self._occupancy)

    def _room_capacity(self, intervals: dict[str, list[cp_model.IntervalVar]]) -> None:
        """Each room class's ``intervals`` share its chairs."""
        for room in self.classes.values():
            self._capacity(intervals.get(room.id, []), room.chairs)

    def _capacity(self, intervals: list[cp_model.IntervalVar], capacity: int) -> None:
        if len(intervals) < 2 and capacity >= 1:
            return
        if capacity == 1:
            self.model.add_no_overlap(intervals)
        else:
            self.model.add_cumulative(intervals, [1] * len(intervals), capacity)

    def _rule_staff(self) -> None:
        """Hard: one hands-on patient at a time; at most max_patients hands-on or monitored."""
        m, v = self.model, self.vars
        hands_per_staff: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
        load_per_staff: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
        for i, visit in enumerate(self.visits):
            for n, pool in enumerate(visit.staff):
                modes = visit.protocol.staff[n].modes
                for s in pool:
                    lit = v.staff[i, n, s]
                    for a, b in mode_blocks(visit.protocol, modes, HANDS):
                        hands_per_staff[s].append(m.new_optional_fixed_size_interval_var(
                            v.start[i] + a, b - a, lit, f"hands{i}_{n}_{s}_{a}"))
                    for a, b in mode_blocks(visit.protocol, modes, LOAD):
                        load_per_staff[s].append(m.new_optional_fixed_size_interval_var(
                            v.start[i] + a, b - a, lit, f"load{i}_{n}_{s}_{a}"))
        for e in self._fixed_staff:
            fa = e.appointment
            who = self._pool_of.get(e.who, e.who)
            for a, b in e.hands:
                hands_per_staff[who].append(
                    m.new_fixed_size_interval_var(fa.start + a, b - a, f"fh_{fa.id}_{a}"))
            for a, b in e.load:
                load_per_staff[who].append(
                    m.new_fixed_size_interval_var(fa.start + a, b - a, f"fl_{fa.id}_{a}"))
        if self.pools is not None:
            self._pool_capacity(hands_per_staff, load_per_staff)
            return
        for staff in self.problem.staff:
            self._capacity(hands_per_staff.get(staff.id, []), 1)
            self._capacity(load_per_staff.get(staff.id, []), max(staff.max_patients, 0))

    def _pool_capacity(self, hands: dict[str, list[cp_model.IntervalVar]],
                       load: dict[str, list[cp_model.IntervalVar]]) -> None:
        """Hard, pooled: a pool's hands-on sessions at most its members on shift at each moment,
        its engaged ones at most that times ``max_patients``: a cumulative of the whole pool's
        capacity, less fixed dummy intervals where some members are off (``on_shift_profile``)."""
        assert self.pools is not None
        m = self.model
        for pool in self.pools.values():
            size, most = len(pool.members), max(pool.max_patients, 0)
            h, ld = hands.get(pool.id, []), load.get(pool.id, [])
            if size == 1 or not (h or ld):
                self._capacity(h, 1)
                self._capacity(ld, most)
                continue
            dips = [(m.new_fixed_size_interval_var(a, b - a, f"off_{pool.id}_{a}"), size - n)
                    for a, b, n in on_shift_profile(self.problem, pool)]
            for intervals, per in ((h, 1), (ld, most)):
                if not intervals or per == 0:
                    continue
                m.add_cumulative([*intervals, *(i for i, _ in dips)],
                                 [1] * len(intervals) + [k * per for _, k in dips], size * per)

    def _redundant_energy(self) -> None:
        """Redundant: per day, the minutes a pool of rooms or staff can give bound the sessions.

        For every set of rooms (or staff) that some visit is confined to, the sessions confined to
        it cannot use more chair-minutes (or attention-minutes) than the set offers that day. This
        adds nothing a schedule could break; it gives CP-SAT's linear relaxation a usable bound.
        """
        m, v = self.model, self.vars
        rooms = self.classes
        staff = {s.id: s for s in self.problem.staff}
        days = {d.index: d for d in self.problem.days}
        room_sets: dict[tuple[int, frozenset[str]], None] = {}
        staff_sets: dict[tuple[int, frozenset[str]], None] = {}
        for visit in self.visits:
            if not visit.protocol.video:  # a video session takes no room
                room_sets[visit.day.index, frozenset(visit.rooms)] = None
            for pool in visit.staff:
                staff_sets[visit.day.index, frozenset(pool)] = None
        for day, room_pool in room_sets:
            d = days[day]
            confined = [i for i, vis in enumerate(self.visits)
                        if vis.day.index == day and not vis.protocol.video
                        and set(vis.rooms) <= room_pool]
            overhang = max(self.visits[i].protocol.turnover for i in confined)
            supply = 0
            for r in room_pool:  # a session lies in one open interval; its turnover may not
                hours = rooms[r].hours
                open_ = pieces(d.hours if hours is None else hours, d.hours)
                supply += rooms[r].chairs * sum(b - a + overhang for a, b in open_)
            terms = [(self.visits[i].protocol.minutes + self.visits[i].protocol.turnover)
                     * v.present[i] for i in confined]
            m.add(sum(terms) <= supply)
        for day, staff_pool in staff_sets:
            d = days[day]
            load_terms = []
            hands_terms = []
            for i, vis in enumerate(self.visits):
                if vis.day.index != day:
                    continue
                for n, options in enumerate(vis.staff):
                    if options and set(options) <= staff_pool:
                        modes = vis.protocol.staff[n].modes
                        load = sum(b - a for a, b in mode_blocks(vis.protocol, modes, LOAD))
                        hands = sum(b - a for a, b in mode_blocks(vis.protocol, modes, HANDS))
                        load_terms.append(load * v.present[i])
                        hands_terms.append(hands * v.present[i])
            people = [staff[p] for s in staff_pool for p in (
                self.pools[s].members if self.pools is not None else (s,))]
            shift = {p.id: overlap(p.shifts, d.hours) for p in people}
            m.add(sum(load_terms) <= sum(p.max_patients * shift[p.id] for p in people))
            m.add(sum(hands_terms) <= sum(shift.values()))

    def _rule_move_budget(self) -> None:
        """Hard, re-planning: at most ``weights.extra_moves`` appointments no event touched
        change at all (minute, room or staff), so that no stage can buy one more session with a
        reshuffled week. Makes the literals ``untouched_kept`` and ``changes`` count."""
        self._kept = self._kept_literals()
        v = self.vars
        exact = []
        for a in self.problem.previous:
            if a.id in self.problem.touched or a.id not in self._kept:
                continue
            i, same = self._kept[a.id]
            visit = self.visits[i]
            parts = [same]
            if a.room is not None:
                if a.room not in visit.rooms:
                    continue
                parts.append(v.room[i, a.room])
            for n, need in enumerate(visit.protocol.staff):
                who = a.staff.get(need.key)
                if who is None or who not in visit.staff[n]:
                    break
                parts.append(v.staff[i, n, who])
            else:
                lit = self.model.new_bool_var(f"exact_{a.id}")
                for part in parts:
                    self.model.add_implication(lit, part)
                exact.append(lit)
                self._exact[a.id] = lit
        untouched = sum(1 for a in self.problem.previous if a.id not in self.problem.touched)
        self._untouched = cp_model.LinearExpr.sum(exact)
        self.model.add(self._untouched >= untouched - self.problem.weights.extra_moves)

    def _kept_literals(self) -> dict[str, tuple[int, cp_model.IntVar]]:
        """Per previous appointment that could stay: (visit, literal true when its patient has
        a session at the very same minute)."""
        where = {vis.key: i for i, vis in enumerate(self.visits)}
        kept: dict[str, tuple[int, cp_model.IntVar]] = {}
        for a in self.problem.previous:
            i = where.get((a.patient, a.day, self.problem.protocol_id(a)))
            if a.id is None or i is None or a.start not in self.visits[i].starts:
                continue
            same = self.model.new_bool_var(f"kept_{a.id}")
            self.model.add_implication(same, self.vars.present[i])
            self.model.add(self.vars.start[i] == a.start).only_enforce_if(same)
            kept[a.id] = (i, same)
        return kept

    # ----------------------------------------------------------------- measures
    def _rebooked_counts(self) -> cp_model.LinearExprT:
        """Re-planning: per patient who had appointments, the sessions placed for them up to
        the number they had. Unweighted: nobody loses a session to make room for another
        patient, whatever the priorities (those decide among the rest in the placement stage)."""
        count: dict[str, int] = defaultdict(int)
        for a in self.problem.previous:
            count[a.patient] += 1
        terms = []
        for pid, k in count.items():
            mine = [self.vars.present[i] for i, vis in enumerate(self.visits)
                    if vis.patient.id == pid]
            if mine:
                placed = self.model.new_int_var(0, k, f"rebooked_{pid}")
                self.model.add(placed <= sum(mine))
                self._counts.append((pid, k, placed))
                terms.append(placed)
        return cp_model.LinearExpr.sum(terms)


    # Each soft goal's measure: the variables and constraints that define its penalty, posted
    # when the soft-goal stage asks for them (``soft_penalty``): the placement stage searches
    # without them, and they are hinted from its schedule.
    def _soft_preferred_staff(self) -> Terms:
        """Soft: minutes of a session spent with someone the patient did not prefer."""
        terms: Terms = []
        for i, visit in enumerate(self.visits):
            pref = visit.patient.preferred_staff
            for n, pool in enumerate(visit.staff):
                if pref & pool.keys():
                    for s in pool.keys() - pref:
                        terms.append((visit.protocol.minutes, self.vars.staff[i, n, s]))
        return terms

    def _soft_stagger(self, minutes: int) -> Terms:
        """Soft: a nurse's dosing starts `stagger_minutes` apart (penalty per session too close):
        a literal per (visit, need, nurse) true when its dosing window is kept clear, the kept
        windows of a nurse never overlapping."""
        m, v = self.model, self.vars
        terms: Terms = []
        windows: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
        for i, visit in enumerate(self.visits):
            dose = visit.protocol.phase_offsets()[visit.protocol.dose][0]
            for n, pool in enumerate(visit.staff):
                if visit.protocol.dose not in visit.protocol.staff[n].modes:
                    continue
                for s in pool:
                    lit = v.staff[i, n, s]
                    kept = m.new_bool_var(f"stagger{i}_{n}_{s}")
                    m.add_implication(kept, lit)
                    windows[s].append(m.new_optional_fixed_size_interval_var(
                        v.start[i] + dose, minutes, kept, f"dose{i}_{n}_{s}"))
                    terms.append((minutes, lit - kept))
        fixed_doses: dict[str, list[int]] = defaultdict(list)
        for e in self._fixed_staff:
            if e.dose is None:
                continue
            dose = e.appointment.start + e.dose
            # two confirmed doses too close would make this soft goal infeasible: the
            # later one's window is left out (that penalty is not ours to avoid)
            if all(abs(dose - d) >= minutes for d in fixed_doses[e.who]):
                fixed_doses[e.who].append(dose)
                windows[e.who].append(m.new_fixed_size_interval_var(
                    dose, minutes, f"fdose_{e.appointment.id}_{e.key}"))
        for intervals in windows.values():
            m.add_no_overlap(intervals)
        return terms

    def _soft_slack(self, minutes: int) -> Terms:
        """Soft: the chair stays free `slack_minutes` after turnover, for a late discharge: a
        literal per (visit, room) true when that buffer is kept, kept buffers taking a chair
        (the rooms' capacity posted again, with them)."""
        m, v = self.model, self.vars
        terms: Terms = []
        buffered = {r: list(intervals) for r, intervals in self._occupancy.items()}
        for i, visit in enumerate(self.visits):
            after = visit.protocol.minutes + visit.protocol.turnover
            for r in visit.rooms:
                lit = v.room[i, r]
                kept = m.new_bool_var(f"slack{i}_{r}")
                m.add_implication(kept, lit)
                buffered[r].append(m.new_optional_fixed_size_interval_var(
                    v.start[i] + after, minutes, kept, f"buffer{i}_{r}"))
                terms.append((minutes, lit - kept))
        self._room_capacity(buffered)
        return terms

    def _soft_compact(self) -> Terms:
        """Soft: minutes from a staff member's first to last engagement of each day."""
        m, v = self.model, self.vars
        ends: dict[tuple[str, int], list[tuple[cp_model.LinearExprT, cp_model.LinearExprT,
                                                  cp_model.IntVar | None]]] = defaultdict(list)
        for i, visit in enumerate(self.visits):
            for n, pool in enumerate(visit.staff):
                blocks = mode_blocks(visit.protocol, visit.protocol.staff[n].modes, LOAD)
                if not blocks:
                    continue
                for s in pool:
                    ends[s, visit.day.index].append(
                        (v.start[i] + blocks[0][0], v.start[i] + blocks[-1][1], v.staff[i, n, s]))
        for e in self._fixed_staff:
            fa = e.appointment
            if e.load:
                ends[e.who, fa.day].append(
                    (fa.start + e.load[0][0], fa.start + e.load[-1][1], None))
        terms: Terms = []
        horizon = max((d.hours[-1][1] for d in self.problem.days if d.hours), default=0) + 1
        hinted = self._engaged_spans()
        for (s, d), items in ends.items():
            lo = m.new_int_var(0, horizon, f"first{s}_{d}")
            hi = m.new_int_var(0, horizon, f"last{s}_{d}")
            m.add(hi >= lo)
            if (s, d) in hinted:
                m.add_hint(lo, hinted[s, d][0])
                m.add_hint(hi, hinted[s, d][1])
            for a, b, lit in items:
                if lit is None:
                    m.add(lo <= a)
                    m.add(hi >= b)
                else:
                    m.add(lo <= a).only_enforce_if(lit)
                    m.add(hi >= b).only_enforce_if(lit)
            terms.append((1, hi - lo))
        return terms

    def _soft_spacing(self) -> Terms:
        """Soft: days a session lies outside its ideal gap from the patient's previous one.

        For every pair of a patient's possible sessions (the last one before the horizon and
        fixed ones included, always present) whose distance is off the later one's ideal, a
        literal forced true when both are present and none in between is: the pair is then
        consecutive and costs its days off the ideal.
        """
        m, v = self.model, self.vars
        fixed = fixed_days(self.problem)
        by_patient: dict[str, list[int]] = defaultdict(list)
        for i, visit in enumerate(self.visits):
            if visit.patient.ideal_gaps and not visit.follow_up:
                by_patient[visit.patient.id].append(i)
        terms: Terms = []
        for pid, idx in by_patient.items():
            patient = self.visits[idx[0]].patient
            nodes: list[tuple[int, cp_model.LinearExprT]] = [
                (d, 1) for d in fixed.get(pid, [])]
            if patient.last_session_day is not None:
                nodes.append((patient.last_session_day, 1))
            nodes += [(self.visits[i].day.index, v.present[i]) for i in idx]
            nodes.sort(key=lambda n: n[0])
            for a, (da, pa) in enumerate(nodes):
                for b in range(a + 1, len(nodes)):
                    db, pb = nodes[b]
                    ideal = patient.ideal_gap(db)
                    if ideal is None or db == da:
                        continue
                    lo, hi = ideal
                    if db - da > hi + 14:
                        break  # far apart: a session between them is all but certain
                    cost = max(lo - (db - da), (db - da) - hi, 0)
                    if cost == 0:
                        continue
                    between = cp_model.LinearExpr.sum([p for _, p in nodes[a + 1:b]])
                    pair = m.new_bool_var(f"consecutive{pid}_{da}_{db}")
                    both = cp_model.LinearExpr.sum([pa, pb])
                    m.add(pair >= both - 1 - between)
                    terms.append((cost, pair))
        return terms

    def _soft_continuity(self) -> Terms:
        """Soft: minutes a patient's session starts away from their usual time of day (one
        time per patient, chosen by the model), so a series keeps its hour week to week, and
        session minutes with someone other than the patient's usual person for a staff entry
        (one per entry, chosen by the model): the same nurse week to week.

        The time of day is the start less 24 h per day index (a daylight-saving day is off by
        its hour: a soft measure, the KPI reads the wall clock)."""
        m, v = self.model, self.vars
        remaining = remaining_sessions(self.problem)
        by_patient: dict[str, list[int]] = defaultdict(list)
        for i, visit in enumerate(self.visits):
            if remaining[visit.patient.id] >= 2 and not visit.follow_up:
                by_patient[visit.patient.id].append(i)
        terms: Terms = []
        day = 24 * 60
        for pid, idx in by_patient.items():
            usual = m.new_int_var(0, 2 * day, f"usual{pid}")
            homes: dict[tuple[str, str], cp_model.IntVar] = {}
            for i in idx:
                visit = self.visits[i]
                offset = visit.day.index * day
                away = m.new_int_var(0, 2 * day, f"away{i}")
                m.add(away >= v.start[i] - offset - usual).only_enforce_if(v.present[i])
                m.add(away >= usual - v.start[i] + offset).only_enforce_if(v.present[i])
                terms.append((1, away))
                for n, pool in enumerate(visit.staff):
                    need = visit.protocol.staff[n]
                    if not need.modes:
                        continue
                    for s in pool:  # one usual person per staff entry for the patient
                        if (need.key, s) not in homes:
                            homes[need.key, s] = m.new_bool_var(f"home{pid}_{need.key}_{s}")
                    other = m.new_bool_var(f"other{i}_{n}")
                    for s in pool:
                        m.add(other >= v.staff[i, n, s] - homes[need.key, s])
                    terms.append((visit.protocol.minutes, other))
            for key in {k for k, _ in homes}:
                m.add_at_most_one([h for (k, _), h in homes.items() if k == key])
            self._hint_usual(pid, usual, homes)
        return terms

    def _engaged_spans(self) -> dict[tuple[str, int], tuple[int, int]]:
        """Per staff member and day, first and last engaged minute in the hinted schedule
        (fixed appointments included): the compact goal's bounds, hinted. Unhinted they start
        at 0 and the horizon's end, and the first soft-goal solution comes late and poor
        (bench/README.md, "Variants tried")."""
        spans: dict[tuple[str, int], tuple[int, int]] = {}
        for e in [*self._fixed_staff, *engagements(self.problem, self._hinted)]:
            a = e.appointment
            if not e.load:
                continue
            lo, hi = a.start + e.load[0][0], a.start + e.load[-1][1]
            old = spans.get((e.who, a.day), (lo, hi))
            spans[e.who, a.day] = (min(old[0], lo), max(old[1], hi))
        return spans

    def _hint_usual(self, pid: str, usual: cp_model.IntVar,
                    homes: dict[tuple[str, str], cp_model.IntVar]) -> None:
        """Hint a patient's usual time and people from the hinted schedule (its median time
        of day, its most frequent person per entry): unhinted, the usual time starts at 0 and
        the first soft-goal solution is far from the final one (bench/README.md)."""
        mine = sorted(a.start - a.day * 24 * 60 for a in self._hinted
                      if a.patient == pid and not self.problem.is_follow_up(a))
        if not mine:
            return
        self.model.add_hint(usual, mine[len(mine) // 2])
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for a in self._hinted:
            if a.patient == pid:
                for key, who in a.staff.items():
                    counts[key][who] += 1
        for (key, who), home in homes.items():
            top = counts[key].most_common(1)
            self.model.add_hint(home, bool(top) and top[0][0] == who)

    # ----------------------------------------------------------------- objectives
    def placement_value(self) -> cp_model.LinearExprT:
        """Priority-weighted sessions placed."""
        return cp_model.LinearExpr.weighted_sum(
            [self.vars.present[i] for i in range(len(self.visits))],
            [v.patient.priority for v in self.visits])

    def rebooked_value(self) -> cp_model.LinearExprT:
        """Sessions placed for patients who had appointments, each patient counted up to the
        number they had (``_rebooked_counts``)."""
        return self._rebooked

    def untouched_kept(self) -> cp_model.LinearExprT:
        """Appointments no event touched that stay exactly as they were: minute, room, staff
        (their literals and budget: ``_rule_move_budget``)."""
        return self._untouched

    def changes(self) -> cp_model.LinearExprT:
        """Moves first, then swaps: patients whose time changes, then room or staff changes.

        Each previous appointment counts one move unless its patient has a session at the very
        same minute; each room or staff member that differs counts one swap. Moves weigh more
        than all swaps together, so the minimum is lexicographic.
        """
        v = self.vars
        moves: list[cp_model.LinearExprT] = []
        swaps: list[cp_model.LinearExprT] = []
        for a in self.problem.previous:
            if a.id not in self._kept:
                moves.append(1)
                swaps.append(1 + len(a.staff))
                continue
            i, same = self._kept[a.id]
            moves.append(1 - same)
            visit = self.visits[i]
            if a.room is not None:  # a video session has no room to swap
                swaps.append(1 - v.room[i, a.room] if a.room in visit.rooms else 1)
            for n, need in enumerate(visit.protocol.staff):
                who = a.staff.get(need.key)
                swaps.append(1 - v.staff[i, n, who] if who is not None and who in visit.staff[n]
                             else 1)
        big = sum(1 + len(a.staff) for a in self.problem.previous) + 1
        return cp_model.LinearExpr.weighted_sum(
            [*moves, *swaps], [big] * len(moves) + [1] * len(swaps))

    def soft_penalty(self) -> cp_model.LinearExprT:
        """The weighted sum of the soft goals' penalty minutes (each goal's measure posted
        now, in this order, when its weight asks for it)."""
        w = self.problem.weights
        goals = [
            (w.preferred_staff, self._soft_preferred_staff()),
            (w.stagger, self._soft_stagger(w.stagger_minutes) if w.stagger else []),
            (w.slack, self._soft_slack(w.slack_minutes) if w.slack else []),
            (w.compact, self._soft_compact() if w.compact else []),
            (w.spacing, self._soft_spacing() if w.spacing else []),
            (w.continuity, self._soft_continuity() if w.continuity else []),
        ]
        exprs = [expr for weight, terms in goals for _, expr in terms if weight]
        coefs = [weight * k for weight, terms in goals for k, _ in terms if weight]
        return cp_model.LinearExpr.weighted_sum(exprs, coefs)

    # ----------------------------------------------------------------- search
    def hint(self, appointments: list[Placement]) -> None:
        m, v = self.model, self.vars
        m.clear_hints()  # type: ignore[no-untyped-call]
        self._hinted = appointments
        chosen = {(a.patient, a.day, self.problem.protocol_id(a)): a for a in appointments}
        for i, visit in enumerate(self.visits):
            a = chosen.get(visit.key)
            m.add_hint(v.present[i], a is not None)
            m.add_hint(v.start[i], a.start if a is not None else visit.starts[0])
            for r in visit.rooms:
                m.add_hint(v.room[i, r], a is not None and a.room == r)
            for n, pool in enumerate(visit.staff):
                key = visit.protocol.staff[n].key
                who = a.staff.get(key) if a is not None else None
                who = self._pool_of.get(who, who) if who is not None else None
                for s in pool:
                    m.add_hint(v.staff[i, n, s], who == s)
        self._hint_replanning(chosen)

    def _hint_replanning(self, chosen: dict[tuple[str, int, str], Placement]) -> None:
        """Hint the re-planning measures' own variables from the hinted sessions ``chosen``,
        so that CP-SAT takes a hint as its first solution without a search to complete it."""
        m = self.model
        for a in self.problem.previous:
            if a.id not in self._kept:
                continue
            i, same = self._kept[a.id]
            visit = self.visits[i]
            b = chosen.get(visit.key)
            stays = b is not None and b.start == a.start
            m.add_hint(same, stays)
            if a.id in self._exact:
                m.add_hint(self._exact[a.id], stays and b is not None and b.room == a.room and all(
                    b.staff.get(n.key) == a.staff.get(n.key) for n in visit.protocol.staff))
        booked = Counter(pid for pid, _, _ in chosen)
        for pid, k, placed in self._counts:
            m.add_hint(placed, min(k, booked[pid]))

    def read(self, solver: cp_model.CpSolver) -> list[Placement]:
        """The schedule of ``solver``'s last solution (of this model, or of a clone of it)."""
        v = self.vars
        out: list[Placement] = []
        for i, visit in enumerate(self.visits):
            if not solver.boolean_value(v.present[i]):
                continue
            room = None if visit.protocol.video else next(
                r for r in visit.rooms if solver.boolean_value(v.room[i, r]))
            staff = {
                visit.protocol.staff[n].key: next(
                    s for s in pool if solver.boolean_value(v.staff[i, n, s]))
                for n, pool in enumerate(visit.staff)
            }
            own = None if visit.protocol.id == visit.patient.protocol else visit.protocol.id
            out.append(Placement(visit.patient.id, visit.day.index,
                                 int(solver.value(v.start[i])), room, staff, None, own))
        return out

    @staticmethod
    def key(visit: Visit) -> tuple[str, int, str]:
        """``visit.key``: (patient, day, protocol)."""
        return visit.key

    def stage(self, name: str, expr: cp_model.LinearExprT, maximize: bool, seconds: float,
              options: Options, on_progress: ProgressFn | None = None,
              stop_at: int | None = None) -> StageResult:
        """Optimise ``expr``, then hold the value found for the stages after (lexicographic).

        The best solution found becomes the next stage's hint, so a stage that runs out of
        time never loses what an earlier one had. A maximisation stops as soon as it reaches
        ``stop_at`` (a bound proven elsewhere, the LP's).
        """
        if maximize:
            self.model.maximize(expr)
        else:
            self.model.minimize(expr)
        solver = cp_solver(seconds, options)
        if name == "soft goals":
            # its model is the placement's plus every soft goal's intervals and literals, and
            # symmetry detection on them delays the first solution (bench/README.md)
            solver.parameters.symmetry_level = 0
        status = solver.solve(self.model, _Reporter(name, on_progress,
                                                    stop_at if maximize else None))
        label = solver.status_name(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return StageResult(label, round(solver.best_objective_bound), None)
        value = round(solver.objective_value)
        found = self.read(solver)
        self.model.add(expr >= value if maximize else expr <= value)
        self.hint(found)
        bound = solver.best_objective_bound
        return StageResult(label, int(bound + 1e-6) if maximize else round(bound), found)


def cp_solver(seconds: float, options: Options) -> cp_model.CpSolver:
    """A CP-SAT solver set up as every search here runs: ``seconds`` of wall time (of
    deterministic time with ``options.deterministic``), the workers and seed asked for, and no
    presolve probing."""
    solver = cp_model.CpSolver()
    if options.deterministic:
        solver.parameters.max_deterministic_time = max(seconds, 0.1)
    else:
        solver.parameters.max_time_in_seconds = max(seconds, 0.1)
    solver.parameters.num_workers = max(1, options.workers)
    if options.workers <= 1:
        # one thread: interleave CP-SAT's whole portfolio (its LNS, feasibility jump, ...) in
        # it, deterministically; a plain single worker runs only its default search, which
        # rarely improves on the greedy hint (bench/README.md)
        solver.parameters.interleave_search = True
    solver.parameters.random_seed = options.seed
    # presolve probing delays the first use of the greedy hint with no better end result
    # (bench/README.md, "Variants tried")
    solver.parameters.cp_model_probing_level = 0
    return solver
