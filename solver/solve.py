"""``solve``: the greedy first fit, the LP bound, then CP-SAT in lexicographic stages."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from solver import candidates, repair
from solver.bound import lp_bound
from solver.candidates import (
    Visit,
    build_visits,
    choices,
    follow_ups_wanted,
    narrow,
    people_per_need,
    remaining_sessions,
    staff_scarce,
)
from solver.cpmodel import ChairModel, ProgressFn
from solver.explain import explain
from solver.greedy import greedy
from solver.lns import improve
from solver.people import (
    StaffPool,
    assign_exactly,
    assign_people,
    pooled_visits,
    reinsert,
    staff_pools,
)
from solver.problem import Options, Placement, Problem, Progress, Solution
from solver.rooms import assign_rooms
from solver.score import penalties

log = logging.getLogger(__name__)

LP_MAX_STARTS = 60_000
"""Weeks with more candidate starts skip the LP bound in ``solve``: it would not reliably finish
in its share of the time and would only take it from the search (the demo week and the
benchmark's M weeks are below, L and XL above: bench/README.md). The benchmark still computes
every instance's LP on its own."""
POOLED_DEFAULT = True
"""Whether weeks whose staff do not bind search with staff pooled (``solver.people``) unless
``Options.pooled`` says otherwise (measured: bench/README.md, "A staff-pooled search")."""
PERSON_MODEL_SECONDS = 1.0
"""After a pooled search, the person-level model (the soft goals, or a search for sessions the
people's assignment dropped) is built only with at least this many seconds of the limit left:
building it alone takes about that on a loaded machine (M), and a short limit would run over."""
LP_STARTS_PER_SECOND = 40_000
"""The LP's speed at best, in candidate starts per second: about what the benchmark's quickest
M week showed on a quiet machine (M-room-0.80: 38,000 starts in 0.9 s; M-room-1.15 49,000 in
2.1 s; four to five times as long at a load average of 5). A week whose LP share of the time
limit is shorter than its starts take at this speed skips the LP (a 5-s solve of an M week)."""
PLACEMENT_SHARE = 0.6
"""Share of the time limit given to placing sessions; the rest polishes soft goals."""


def _value(problem: Problem, appointments: list[Placement]) -> int:
    prio = {p.id: p.priority for p in problem.patients}
    return sum(prio[a.patient] for a in appointments)


def greedy_solve(problem: Problem) -> Solution:
    """The greedy first-fit schedule alone (a baseline, and what a clerk would do)."""
    t0 = time.perf_counter()
    visits, funnels = build_visits(problem)
    placed = assign_rooms(problem, greedy(problem, visits))
    value = _value(problem, [*problem.fixed, *placed])
    everything = [*problem.fixed, *placed]
    return Solution("GREEDY", time.perf_counter() - t0, value, value, everything,
                    explain(problem, visits, funnels, placed), penalties(problem, everything),
                    value)


def solve(problem: Problem, options: Options | None = None,
          on_progress: ProgressFn | None = None, start: Solution | None = None) -> Solution:
    """Place as many priority-weighted sessions as possible, then polish the soft goals.

    Stages, each holding what the ones before it reached (lexicographic):

    - new week: (1) priority-weighted sessions placed, (2) soft-goal penalty minutes;
    - re-planning (``problem.previous``): (1) touched patients' sessions rebooked, (2) untouched
      appointments kept at their minute, (3) sessions placed, (4) moves, then swaps.

    Fixed appointments come back unchanged at the head of ``appointments``. A time limit never
    loses the best schedule found: the greedy first fit is the floor, or ``start`` when given
    (a re-plan's first answer, ``solver.repair``): the search is hinted with it, and the answer
    is never worse than it by the re-planning stages' ranking (``repair.replan_key``).
    """
    options = options or Options()
    t0 = time.perf_counter()
    visits, funnels = build_visits(problem)
    first = first_fit = greedy(problem, visits)
    fixed_value = _value(problem, list(problem.fixed))
    greedy_value = fixed_value + _value(problem, first)
    log.info("greedy first fit: %d sessions placed, fixed ones included (weighted %d)",
             len(first) + len(problem.fixed), greedy_value)
    demand = capacity_bound(problem)
    if on_progress is not None:  # the first schedule, before any model is built
        on_progress(Progress("greedy", time.perf_counter() - t0, greedy_value, demand))
    replanning = bool(problem.previous)
    lp_t0 = time.perf_counter()
    proven = _lp_bound(problem, visits, options, greedy_value, demand) if not replanning \
        else None
    lp_seconds = time.perf_counter() - lp_t0
    if proven is not None and on_progress is not None:
        on_progress(Progress("bound", time.perf_counter() - t0, greedy_value, proven))
    wide = choices(visits)
    people = people_per_need(problem)
    # pooled only where the placement search has something to win: where the greedy already
    # reaches the proven bound, the person-level model goes straight to the soft goals
    # (preferred people, continuity), which a pooled schedule's first-fit people ignore
    reachable = demand if proven is None else min(demand, proven)
    pools = _pools(problem, options, greedy_value < reachable) if not replanning else None
    narrowed = pools is None and not replanning and wide > candidates.NARROW_CHOICES
    if pools is not None:
        model = ChairModel(problem, pooled_visits(pools, visits), pools)
        log.info("staff pooled: %d pools of %d people (%d staff choices per person)",
                 len(pools), len(problem.staff), wide)
    else:  # NARROW_CHOICES is read here: tests lower it
        model = ChairModel(problem, narrow(problem, visits, first, people) if narrowed
                           else visits)
    if narrowed:
        log.info("%d staff choices: each session chooses among at most %d people per need",
                 wide, people)
    floor = repair.hint_of(problem, start) if start is not None and replanning else None
    if floor is not None and repair.replan_key(problem, floor) < repair.replan_key(problem, first):
        floor = first  # the week's greedy first fit ranks above the first answer: start there
    if floor is not None:
        first = floor
    if options.use_hint:
        model.hint(first)
    stages: list[tuple[str, Callable[[], Any], bool, float]] = []
    if replanning:  # the model holds the move budget for every stage
        stages += [("rebook", model.rebooked_value, True, 0.15),
                   ("keep", model.untouched_kept, True, 0.15)]
    stages.append(("placement", model.placement_value, True,
                   PLACEMENT_SHARE if options.soft_goals or replanning else 1.0))
    if replanning:
        stages.append(("fewest moves", model.changes, False, 0.3))
    elif options.soft_goals:
        stages.append(("soft goals", model.soft_penalty, False, 1 - PLACEMENT_SHARE))

    def report(p: Progress) -> None:
        if on_progress is not None:  # the model sees new sessions only: add the fixed ones
            shift = fixed_value if p.stage == "placement" else 0
            # a narrowed model's bound is not the week's: report the week's proven one; and
            # CP-SAT's own can be looser than that (every wanted session, or the LP's)
            week = p.bound + shift
            if p.stage == "placement":
                week = bound if narrowed else min(week, bound)
            on_progress(Progress(p.stage, time.perf_counter() - t0, p.objective + shift, week))

    best, status, bound = first, "GREEDY", demand if proven is None else min(demand, proven)
    if floor is not None and start is not None and floor is not first_fit:
        status = start.status
    spent = time.perf_counter() - t0  # with deterministic limits: the budgets handed out

    def budget(seconds: float) -> float:
        nonlocal spent
        if options.deterministic:
            spent += seconds
        return seconds

    for k, (name, objective, maximize, share) in enumerate(stages):
        if not visits:
            status, bound = "OPTIMAL", fixed_value
            break
        if pools is not None and name != "placement":
            break  # people first (``_staff_pooled``), then the soft goals per person
        held = repair.settled(problem, name, best) if floor is not None else None
        if held is not None:  # the start reached the most there is: held, no search needed
            model.model.add(objective() >= held)
            continue
        used = spent if options.deterministic else time.perf_counter() - t0
        # the LP's seconds come out of the stages after the placement, not out of it
        lp_paid = lp_seconds if name == "placement" and not options.deterministic else 0.0
        window = stage_window(options.time_limit - used, share / sum(s[3] for s in stages[k:]),
                              lp_paid)
        search = options.lns > 0 and name == "placement" and not replanning
        first_pass = window * (1 - options.lns) if search else window
        stage_t0 = time.perf_counter()
        # a proven LP bound ends the placement search as soon as a schedule reaches it. Not
        # posted as a cap: the capped model steered CP-SAT's search to poorer schedules on
        # staff-limited weeks (M-staff-1.00 at 60 s: 293 capped, 296 stopped; round one 297)
        # (or every wanted session placed: nothing better exists either)
        stop_at = bound - fixed_value if name == "placement" else None
        result = model.stage(name, objective(), maximize, budget(max(first_pass, 0.5)),
                             options, report, stop_at)
        if result.appointments is None and search and result.status != "INFEASIBLE":
            # CP-SAT found nothing in its first pass (an XL week can take longer than that
            # to its first schedule): the neighbourhood search starts from the greedy one
            result.appointments, result.status = list(first), "GREEDY"
            result.bound = bound - fixed_value
            model.model.add(model.placement_value() >= greedy_value - fixed_value)
        if result.appointments is None:
            if result.status == "INFEASIBLE" and name == "placement":
                status = "INFEASIBLE"
            break  # keep what the earlier stages (or greedy) found
        if name == "placement":
            if not replanning and _value(problem, result.appointments) < greedy_value - \
                    fixed_value:
                break  # cannot happen with the greedy hint held; the floor stays greedy
            # CP-SAT's bound can be looser than every wanted session placed: keep the smaller.
            # A narrowed model's optimum or bound is not the week's: neither is a proof
            if narrowed:
                status = "FEASIBLE" if result.status == "OPTIMAL" else result.status
            else:
                status, bound = result.status, min(result.bound + fixed_value, bound)
            value = _value(problem, result.appointments)
            if search and result.status != "OPTIMAL" and fixed_value + value < bound:
                rest = window - (spent - used if options.deterministic
                                 else time.perf_counter() - stage_t0)
                result.appointments, value = improve(
                    model, result.appointments, value, bound - fixed_value, budget(rest),
                    options, report)
                if status == "GREEDY" and fixed_value + value > greedy_value:
                    status = "FEASIBLE"
            if fixed_value + value >= bound:
                status = "OPTIMAL"  # reached a proven bound (the LP's, or every session)
        best = result.appointments
    if pools is not None and visits:
        best, status = _staff_pooled(problem, visits, pools, best, first, status, bound,
                                     options, t0, report)
    if floor is not None and repair.replan_key(problem, floor) > repair.replan_key(problem, best):
        best = floor  # a stage ran out of time below the first answer: keep that
    best = assign_rooms(problem, best)
    everything = [*problem.fixed, *best]
    proto = model.model.proto
    return Solution(
        model_size={"visits": len(visits), "variables": len(proto.variables),
                    "constraints": len(proto.constraints)},
        status=status,
        seconds=time.perf_counter() - t0,
        objective=fixed_value + _value(problem, best),
        bound=bound,
        appointments=everything,
        unplaced=explain(problem, visits, funnels, best),
        penalties=penalties(problem, everything),
        greedy_objective=greedy_value,
    )


def _pools(problem: Problem, options: Options, gain: bool) -> dict[str, StaffPool] | None:
    """The week's staff pools when its search uses them (``Options.pooled``; by default on
    weeks whose staff do not bind, where ``POOLED_DEFAULT`` allows, where the placement search
    can ``gain`` on the greedy, and not with deterministic limits: the people's assignment and
    the searches after it are timed by the clock), else None; None too when no two people are
    alike (nothing to pool)."""
    wanted = options.pooled
    if wanted is None:
        wanted = POOLED_DEFAULT and gain and not options.deterministic \
            and not staff_scarce(problem)
    if not wanted:
        return None
    pools = staff_pools(problem)
    return pools if any(len(p.members) > 1 for p in pools.values()) else None


def _staff_pooled(problem: Problem, visits: list[Visit], pools: dict[str, StaffPool],
                  found: list[Placement], first: list[Placement], status: str, bound: int,
                  options: Options, t0: float, report: ProgressFn
                  ) -> tuple[list[Placement], str]:
    """People for the pooled search's schedule ``found`` (``solver.people``), then the soft
    goals on the person-level model. First fit staffs what it can; the rest goes to the exact
    assignment (times fixed); if that still drops sessions, the person-level model searches
    from what it kept. Never below the greedy first fit ``first``."""
    fixed_value = _value(problem, list(problem.fixed))

    def left() -> float:
        return options.time_limit - (time.perf_counter() - t0)

    target = _value(problem, found)
    staffed, unstaffed = assign_people(problem, found, pools)
    if unstaffed:  # the days first fit could not staff wholly, exactly (times kept)
        log.info("first fit staffs %d of %d pooled sessions; their days exactly",
                 len(staffed), len(found))
        days = {a.day for a in unstaffed}
        exact = assign_exactly(problem, [a for a in [*staffed, *unstaffed] if a.day in days],
                               [a for a in staffed if a.day in days],
                               max(0.5, min(0.1 * options.time_limit, left() / 3)), options)
        staffed = [*exact, *(a for a in staffed if a.day not in days)]
        kept = {(a.patient, a.day, problem.protocol_id(a)) for a in staffed}
        staffed, unstaffed = reinsert(problem, visits, staffed, [
            a for a in found if (a.patient, a.day, problem.protocol_id(a)) not in kept])
        log.info("%d sessions staffed exactly or at another minute, %d not",
                 len(staffed), len(unstaffed))
    if _value(problem, staffed) < _value(problem, first):
        staffed = first  # cannot beat the greedy's people: start from it
    value = _value(problem, staffed)
    lost = value < target
    if fixed_value + value >= bound:
        status = "OPTIMAL"
    elif status == "OPTIMAL" or (status == "GREEDY" and value > _value(problem, first)):
        status = "FEASIBLE"
    if (not lost and not options.soft_goals) or left() < PERSON_MODEL_SECONDS:
        return staffed, status  # no search after (or no time for one: the limit holds)
    wide = choices(visits)
    person = ChairModel(problem, narrow(problem, visits, staffed, people_per_need(problem))
                        if wide > candidates.NARROW_CHOICES else visits)
    person.hint(staffed)
    if lost:  # the person-level search from what the people kept
        log.info("people for %d of %d weighted sessions: the person-level model searches on",
                 value, target)
        share = PLACEMENT_SHARE if options.soft_goals else 1.0
        result = person.stage("placement", person.placement_value(), True,
                              max(0.5, left() * share), options, report,
                              bound - fixed_value)
        if result.appointments is not None and _value(problem, result.appointments) > value:
            staffed, value = result.appointments, _value(problem, result.appointments)
        else:
            person.model.add(person.placement_value() >= value)
            person.hint(staffed)
    else:
        person.model.add(person.placement_value() >= value)
    if fixed_value + value >= bound:
        status = "OPTIMAL"
    if options.soft_goals and left() > 0:
        result = person.stage("soft goals", person.soft_penalty(), False, max(0.5, left()),
                              options, report)
        if result.appointments is not None:
            staffed = result.appointments
    return staffed, status


def stage_window(left: float, part: float, before: float = 0.0) -> float:
    """Seconds for a stage given its ``part`` of the ``left`` seconds, as if the ``before``
    seconds already spent (the LP bound's, for the placement) had not been: they come out of
    the stages after it. The placement search keeps the share it had before the LP came into
    ``solve`` (round one's; issue 26), and the LP pays only through its
    bound: a search that reaches it ends early and hands its time on. Never more than is left,
    never under half a second."""
    return max(min((left + before) * part, left), 0.5)


def _lp_bound(problem: Problem, visits: list[Visit], options: Options,
              greedy_value: int, demand: int) -> int | None:
    """The LP relaxation's bound, rounded down (weights are whole), within its share of the
    time limit; None when it is not proven in time, or not asked for, or when it cannot pay:
    its only return is a search that stops at its bound, so it is not run where the greedy
    already places every wanted session (``demand``: nothing left to prove) nor where its share
    of the time limit is below what the LP takes at best on a quiet machine
    (``LP_STARTS_PER_SECOND``): it would fail by the clock and only take from the search."""
    if options.lp_share <= 0 or not visits:
        return None
    if greedy_value >= demand:
        log.info("no LP bound: the greedy places every wanted session")
        return None
    starts = sum(len(v.starts) for v in visits)
    if starts > LP_MAX_STARTS:
        log.info("no LP bound: %d candidate starts (more than %d)", starts, LP_MAX_STARTS)
        return None
    # HiGHS stops by the clock: with deterministic limits it runs to the end, or whether the
    # bound is there (and so where the search stops) would depend on the machine
    limit = math.inf if options.deterministic else max(0.5, options.time_limit * options.lp_share)
    if limit < starts / LP_STARTS_PER_SECOND:
        log.info("no LP bound: %d candidate starts need more than its %.1f s", starts, limit)
        return None
    lp = lp_bound(problem, visits, time_limit=limit)
    if lp.status != "OPTIMAL":
        log.info("LP bound not proven in %.1f s (%s): CP-SAT's bound stands", lp.seconds,
                 lp.status)
        return None
    proven = math.floor(lp.bound + 1e-6)
    log.info("LP bound %d (%d columns, %d rows, %.1f s)", proven, lp.columns, lp.rows,
             lp.seconds)
    if proven < greedy_value:  # cannot be: a schedule beats it; never cut the greedy floor
        log.error("LP bound %d below the greedy schedule's %d: left out", proven, greedy_value)
        return None
    return proven


def capacity_bound(problem: Problem) -> int:
    """Every wanted session (and follow-up) placed, weighted: the trivial upper bound."""
    remaining = remaining_sessions(problem)
    follow = follow_ups_wanted(problem)
    fixed = _value(problem, list(problem.fixed))
    fixed_follow = {a.patient: 0 for a in problem.fixed}
    for a in problem.fixed:
        fixed_follow[a.patient] += problem.is_follow_up(a)
    return fixed + sum(p.priority * (remaining[p.id] + max(
        0, follow.get(p.id, 0) - fixed_follow.get(p.id, 0))) for p in problem.patients)
