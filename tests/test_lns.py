"""Large-neighbourhood search (solver/lns.py) and deterministic limits: a window re-solve never
returns less than it was given and always a valid schedule; with one worker, a seed and
deterministic time, the same schedule on every run."""

from __future__ import annotations

import pytest

from bench.generate import Spec, generate
from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.validate import validate_scenario
from solver import Options, Solution, solve
from solver.candidates import build_visits
from solver.cpmodel import ChairModel
from solver.greedy import greedy
from solver.lns import improve, windows
from solver.rooms import assign_rooms

SPEC = Spec("S", "staff", 1.15, seed=2)


def test_windows_cover_days_protocols_and_staff_densest_first() -> None:
    problem = to_problem(validate_scenario(generate(SPEC)))
    visits, _ = build_visits(problem)
    model = ChairModel(problem, visits)
    ranked = windows(model, greedy(problem, visits))
    kinds = {w.name.split()[0] for w in ranked}
    assert {"day", "protocol", "staff"} <= kinds  # two of five days free too much
    density = [w.value / len(w.visits) for w in ranked]
    assert density == sorted(density, reverse=True)
    assert all(0 < len(w.visits) <= 0.3 * len(visits) for w in ranked)


@pytest.mark.solve
def test_improve_never_returns_less_than_the_greedy_and_stays_valid() -> None:
    scenario = validate_scenario(generate(SPEC))
    problem = to_problem(scenario)
    visits, _ = build_visits(problem)
    first = greedy(problem, visits)
    model = ChairModel(problem, visits)
    model.hint(first)
    start = sum(problem.patient[a.patient].priority for a in first)
    placed, value = improve(model, first, start, 10**6, 6.0, Options(workers=1))
    assert value >= start
    assert value == sum(problem.patient[a.patient].priority for a in placed)
    everything = [*problem.fixed, *assign_rooms(problem, placed)]
    solution = Solution("FEASIBLE", 0.0, value, value, everything, [])
    assert check(scenario, schedule_from_solution(scenario, problem, solution).to_json()) == []


@pytest.mark.solve
@pytest.mark.slow
def test_deterministic_limits_give_the_same_schedule_twice() -> None:
    problem = to_problem(validate_scenario(generate(SPEC)))
    options = Options(time_limit=4, workers=1, seed=7, deterministic=True, lns=0.5,
                      soft_goals=False, lp_share=0.0)
    one, two = solve(problem, options), solve(problem, options)
    assert one.objective == two.objective >= one.greedy_objective
    assert [(a.patient, a.day, a.start, a.room, a.staff) for a in one.appointments] == \
        [(a.patient, a.day, a.start, a.room, a.staff) for a in two.appointments]
