"""Staff pooled for the search, people given back afterwards (``solver.people``): a pool's
capacity follows who is on shift, a session keeps one person, and what the pools allowed but no
person can take is dropped or moved, never booked twice."""

from __future__ import annotations

from typing import Any

import pytest

from bench.generate import Spec, generate
from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.validate import validate_scenario
from solver import Options, Placement, Problem, solve
from solver.candidates import build_visits, staff_scarce
from solver.cpmodel import ChairModel
from solver.greedy import greedy
from solver.people import (
    assign_exactly,
    assign_people,
    on_shift_profile,
    pooled_visits,
    staff_pools,
)
from tests.conftest import patients, scenario_dict

NURSE = {"role": "nurse", "qualifications": ["spravato"], "max_patients": 4}


def _clinic(second_shift: list[list[str]], n: int = 2, window: str = "11:30") -> dict[str, Any]:
    """Two alike nurses (one pool): N1 on Monday morning, N2 as given; ``n`` patients who can
    only come 09:00 to ``window`` (an esketamine session is 150 min: 09:00-11:30 leaves one
    start), three rooms."""
    data = scenario_dict(patients=patients(n, availability={"mon": [["09:00", window]]}))
    data["rooms"] = [{"id": f"R{i}", "features": ["recliner"]} for i in (1, 2, 3)]
    data["staff"] = [{"id": "N1", **NURSE, "shifts": {"mon": [["08:00", "12:00"]]}},
                     {"id": "N2", **NURSE, "shifts": {"mon": second_shift}},
                     data["staff"][1]]
    return data


def _solve(data: dict[str, Any], pooled: bool | None = True) -> tuple[Any, dict[str, Any]]:
    scenario = validate_scenario(data)
    problem = to_problem(scenario)
    solution = solve(problem, Options(time_limit=2, workers=1, pooled=pooled))
    doc = schedule_from_solution(scenario, problem, solution).to_json()
    assert check(scenario, doc) == []
    return solution, doc


def _pooled_max(problem: Problem) -> int:
    """What the pooled search alone places (before any person is given)."""
    visits, _ = build_visits(problem)
    pools = staff_pools(problem)
    model = ChairModel(problem, pooled_visits(pools, visits), pools)
    model.hint(greedy(problem, visits))
    result = model.stage("placement", model.placement_value(), True, 2,
                         Options(time_limit=2, workers=1))
    assert result.appointments is not None
    return len(result.appointments)


def test_alike_people_pool_and_their_shifts_draw_its_capacity() -> None:
    problem = to_problem(validate_scenario(_clinic([["12:00", "18:00"]])))
    pools = staff_pools(problem)
    [pool] = [p for p in pools.values() if len(p.members) > 1]
    assert pool.members == ("N1", "N2")
    assert "D1" in pools  # the prescriber is a pool of one, named as themself
    # one of two on shift all day long (N1 until noon, N2 after): the capacity dips throughout
    assert {n for _, _, n in on_shift_profile(problem, pool)} == {1}
    same = to_problem(validate_scenario(_clinic([["08:00", "12:00"]])))
    [pool] = [p for p in staff_pools(same).values() if len(p.members) > 1]
    assert on_shift_profile(same, pool) == []  # both on shift whenever either is


@pytest.mark.solve
def test_pooled_two_nurses_on_shift_take_two_sessions_at_once() -> None:
    """Kept: both nurses work the morning, so the pool holds two sessions at 09:00, and each
    gets a nurse of their own."""
    data = _clinic([["08:00", "12:00"]])
    assert _pooled_max(to_problem(validate_scenario(data))) == 2
    solution, doc = _solve(data)
    assert sorted(a["staff"]["nurse"] for a in doc["appointments"]) == ["N1", "N2"]
    assert solution.status == "OPTIMAL"


@pytest.mark.solve
def test_pooled_one_nurse_on_shift_never_takes_two_sessions_at_once() -> None:
    """Broken: only N1 works the morning (N2 the afternoon), so two sessions at 09:00 would
    need the one nurse at once; the pool's capacity dips to one then, in the search itself."""
    data = _clinic([["12:00", "18:00"]])
    assert _pooled_max(to_problem(validate_scenario(data))) == 1
    solution, doc = _solve(data)
    assert [a["staff"]["nurse"] for a in doc["appointments"]] == ["N1"]
    assert solution.objective == 1 and solution.status == "OPTIMAL"


def _hand_over() -> tuple[Problem, list[Placement], str]:
    """Three sessions the pool of two nurses holds at every moment, which no two nurses can
    take: A at 08:00 and C at 08:10 overlap hands-on (two nurses), and B at 10:20 starts during
    A's discharge (10:25) and C's (10:35), so B needs a third person (A, B, C would need a
    hand-over: the one a session keeps is the pooled model's blind spot)."""
    problem = to_problem(validate_scenario(_clinic([["08:00", "12:00"]], n=3, window="18:00")))
    [pool] = [p.id for p in staff_pools(problem).values() if len(p.members) > 1]
    starts = {"P01": 8 * 60, "P02": 10 * 60 + 20, "P03": 8 * 60 + 10}
    placed = [Placement(pid, 0, t, f"R{k}", {"nurse": pool})
              for k, (pid, t) in enumerate(starts.items(), 1)]
    return problem, placed, pool


def test_first_fit_leaves_out_a_session_that_needs_a_hand_over() -> None:
    problem, placed, _ = _hand_over()
    staffed, left = assign_people(problem, placed, staff_pools(problem))
    assert [a.patient for a in left] == ["P02"]
    assert {a.staff["nurse"] for a in staffed} == {"N1", "N2"}
    exact = assign_exactly(problem, placed, staffed, 2, Options(workers=1))
    assert len(exact) == 2  # proven: no two people take all three
    assert len({a.staff["nurse"] for a in exact}) == 2


@pytest.mark.solve
def test_a_pooled_week_is_staffed_person_by_person_and_checked() -> None:
    """The hand-over clinic solved with pools: whatever the pools allowed, every session has
    one nurse for all its phases (the checker agrees) and nobody is lost to the greedy."""
    data = _clinic([["08:00", "12:00"]], n=3, window="18:00")
    pooled, _ = _solve(data, pooled=True)
    person, _ = _solve(data, pooled=False)
    assert pooled.objective >= pooled.greedy_objective
    assert pooled.objective == person.objective  # both optimal on this small week


@pytest.mark.parametrize(("spec", "pooled"), [(Spec("M", "room", 1.15), True),
                                              (Spec("M", "staff", 1.0), False),
                                              (Spec("L", "staff", 1.0), False)])
def test_pooled_by_default_where_rooms_bind_only(spec: Spec, pooled: bool) -> None:
    problem = to_problem(validate_scenario(generate(spec)))
    assert staff_scarce(problem) is not pooled
