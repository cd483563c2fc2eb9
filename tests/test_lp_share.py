"""The LP bound's share of the limit is spent only where it can pay (``solver.solve``): its
one return is a search stopped at its bound, so it is not run where the greedy already places
every wanted session, nor where its share is shorter than it takes at best."""

from __future__ import annotations

import importlib

from bench.generate import Spec, generate
from scheduler.compile import to_problem
from scheduler.validate import validate_scenario
from solver import Options, Problem, capacity_bound
from solver.candidates import build_visits
from solver.greedy import greedy
from tests.conftest import patients, scenario_dict

solve_module = importlib.import_module("solver.solve")  # ``solver.solve`` is the function


def _lp(problem: Problem, options: Options) -> int | None:
    visits, _ = build_visits(problem)
    value = sum(problem.patient[a.patient].priority for a in greedy(problem, visits))
    result: int | None = solve_module._lp_bound(problem, visits, options, value,
                                                capacity_bound(problem))
    return result


def test_the_lp_runs_where_the_greedy_leaves_sessions_out() -> None:
    """Held: eight patients, one chair, one nurse: the greedy leaves some out and the LP
    bounds what any schedule can place."""
    problem = to_problem(validate_scenario(scenario_dict(patients=patients(8))))
    bound = _lp(problem, Options(time_limit=10))
    assert bound is not None and bound < capacity_bound(problem)


def test_no_lp_where_the_greedy_places_everyone() -> None:
    problem = to_problem(validate_scenario(scenario_dict(patients=patients(2))))
    assert _lp(problem, Options(time_limit=10)) is None


def test_no_lp_where_its_share_is_shorter_than_it_takes_at_best() -> None:
    """An M week (44,000 candidate starts, 1.1 s at best) at 5 s gives the LP 1 s: left out."""
    problem = to_problem(validate_scenario(generate(Spec("M", "room", 1.0))))
    visits, _ = build_visits(problem)
    starts = sum(len(v.starts) for v in visits)
    assert 5 * Options().lp_share < starts / solve_module.LP_STARTS_PER_SECOND
    assert _lp(problem, Options(time_limit=5)) is None
