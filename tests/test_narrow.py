"""Narrowed staff choices on big weeks (``solver.narrow``): each session chooses among a few
people per need, the greedy's among them, so the greedy stays a solution; the search on such a
model is never taken for a proof, and its schedules pass the independent check."""

from __future__ import annotations

from typing import Literal

import pytest

import solver
from bench.generate import Spec, generate
from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.validate import validate_scenario
from solver import STAFF_CHOICES, Options, Progress, capacity_bound, choices, narrow, solve
from solver.candidates import STAFF_CHOICES_TIGHT, build_visits, people_per_need
from solver.cpmodel import ChairModel
from solver.greedy import greedy

ROOMY = Spec("M", "room", 0.8)
"""Nurses to spare: most sessions could have any of ten or more people."""


def test_narrow_keeps_the_greedy_choice_and_at_most_a_few_people_per_need() -> None:
    problem = to_problem(validate_scenario(generate(ROOMY)))
    visits, _ = build_visits(problem)
    first = greedy(problem, visits)
    given = {(a.patient, a.day, problem.protocol_id(a)): a for a in first}
    before = [[dict(pool) for pool in v.staff] for v in visits]
    narrowed = narrow(problem, visits, first)
    assert choices(narrowed) < 0.6 * choices(visits)
    for v, n, old in zip(visits, narrowed, before, strict=True):
        assert [dict(pool) for pool in v.staff] == old  # the originals are left alone
        a = given.get(ChairModel.key(v))
        for k, (pool, full) in enumerate(zip(n.staff, old, strict=True)):
            assert len(pool) == min(len(full), STAFF_CHOICES)
            assert all(pool[s] == full[s] for s in pool)  # same starts for whoever is kept
            if a is not None:
                assert a.staff[v.protocol.staff[k].key] in pool
            preferred = [s for s in sorted(full) if s in v.patient.preferred_staff]
            assert set(preferred[:STAFF_CHOICES - 1]) <= set(pool)


def test_scarce_staff_keep_more_people_per_need() -> None:
    """Where staff are scarce the choice of person is the problem itself: a narrowed week keeps
    ``STAFF_CHOICES_TIGHT`` people per need there, ``STAFF_CHOICES`` where nurses are to spare;
    the greedy's person always among them."""
    roomy = to_problem(validate_scenario(generate(ROOMY)))
    scarce = to_problem(validate_scenario(generate(Spec("M", "staff", 0.8))))
    assert people_per_need(roomy) == STAFF_CHOICES
    assert people_per_need(scarce) == STAFF_CHOICES_TIGHT > STAFF_CHOICES
    visits, _ = build_visits(scarce)
    first = greedy(scarce, visits)
    given = {(a.patient, a.day, scarce.protocol_id(a)): a for a in first}
    narrowed = narrow(scarce, visits, first, people_per_need(scarce))
    wider = 0
    for v, n in zip(visits, narrowed, strict=True):
        a = given.get(ChairModel.key(v))
        for k, (pool, full) in enumerate(zip(n.staff, v.staff, strict=True)):
            assert len(pool) == min(len(full), STAFF_CHOICES_TIGHT)
            wider += len(pool) > STAFF_CHOICES
            if a is not None:
                assert a.staff[v.protocol.staff[k].key] in pool
    assert wider > 0  # some sessions keep more than the roomy weeks' three


@pytest.mark.parametrize("limit", ["room", "staff"])
@pytest.mark.solve
@pytest.mark.slow
def test_a_narrowed_week_is_valid_and_never_a_proof(limit: Literal["room", "staff"],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A small week narrowed on purpose (threshold 0): the schedule passes check, is at least
    the greedy's, and OPTIMAL only where it reaches a bound proven on the whole week (the LP's
    or every wanted session), never CP-SAT's bound on the narrow model."""
    spec = Spec("S", limit, 1.15, seed=2)
    scenario = validate_scenario(generate(spec))
    problem = to_problem(scenario)
    seen: list[Progress] = []
    # deterministic: the LP bound runs to its end in both solves (by the clock, a loaded
    # machine could prove it in one and not the other, and the bounds would differ)
    options = Options(time_limit=1, soft_goals=False, deterministic=True)
    full = solve(problem, options, seen.append)
    # progress never reports a bound looser than every wanted session (CP-SAT's can be)
    assert all(e.bound <= capacity_bound(problem) for e in seen if e.stage == "placement")
    monkeypatch.setattr(solver.candidates, "NARROW_CHOICES", 0)
    events: list[Progress] = []
    solution = solve(problem, options, events.append)
    # progress reports the week's proven bound, never the narrow model's (found by review)
    assert all(e.bound >= solution.objective for e in events if e.stage == "placement")
    assert solution.model_size["variables"] <= full.model_size["variables"]
    if limit == "room":  # nurses to spare: fewer people per session to choose from
        assert solution.model_size["variables"] < full.model_size["variables"]
    assert check(scenario, schedule_from_solution(scenario, problem, solution).to_json()) == []
    assert solution.objective >= solution.greedy_objective
    assert solution.bound in (full.bound, capacity_bound(problem)) or solution.bound >= \
        full.bound
    if solution.status == "OPTIMAL":
        assert solution.objective >= solution.bound


@pytest.mark.solve
def test_re_planning_keeps_every_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-plan must be free to give a touched patient anyone: it is never narrowed."""
    spec = Spec("S", "room", 1.0, seed=1)
    problem = to_problem(validate_scenario(generate(spec)))
    week = solve(problem, Options(time_limit=1, soft_goals=False))
    from dataclasses import replace

    again = replace(problem, previous=tuple(week.appointments))
    wide = solve(again, Options(time_limit=1, soft_goals=False))
    monkeypatch.setattr(solver.candidates, "NARROW_CHOICES", 0)
    narrow_threshold = solve(again, Options(time_limit=1, soft_goals=False))
    assert narrow_threshold.model_size == wide.model_size
