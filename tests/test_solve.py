"""Whole solves: the shared tiny example, daylight-saving weeks, the demo clinic's validity."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.validate import load_scenario, validate_scenario
from solver import Options, greedy_solve, solve
from tests.conftest import DEMO, TINY, patients, scenario_dict, solve_data

FIXTURES = Path(__file__).parent / "fixtures"


def test_tiny_example_places_all_six_and_passes_check() -> None:
    scenario = load_scenario(TINY)
    _, doc = solve_data(scenario.model_dump(mode="json"))
    assert doc["kpis"]["wanted"] == 6
    assert doc["kpis"]["placed"] == 6
    assert doc["unplaced"] == []
    assert doc["solver"]["status"] == "OPTIMAL"
    assert doc["solver"]["objective"] == doc["solver"]["bound"]
    assert check(scenario, doc) == []
    fixed = next(a for a in doc["appointments"] if a["id"] == "A-0001")
    assert fixed["start"] == "2026-12-07T09:00:00-05:00" and fixed["room"] == "R2"


def test_dst_week_offsets() -> None:
    scenario = load_scenario(FIXTURES / "dst_fall_back.yaml")
    _, doc = solve_data(scenario.model_dump(mode="json"))
    starts = {a["patient"]: a["start"] for a in doc["appointments"]}
    assert starts == {
        "P1": "2026-10-31T09:00:00-04:00",
        "P2": "2026-11-01T09:00:00-05:00",
        "P3": "2026-11-02T09:00:00-05:00",
    }
    sunday = next(a for a in doc["appointments"] if a["patient"] == "P2")
    assert sunday["end"] == "2026-11-01T11:30:00-05:00"
    assert check(scenario, doc) == []


def test_dst_spring_forward_day_is_23_hours() -> None:
    data = scenario_dict(patients=patients(1))
    data["clinic"]["hours"] = {"sat": [["09:00", "12:00"]], "sun": [["09:00", "12:00"]]}
    data["horizon"] = {"start": "2026-03-07", "days": 2}
    data["patients"][0]["availability"] = {"sun": [["09:00", "11:30"]]}
    for s in data["staff"]:
        s["shifts"] = data["clinic"]["hours"]
    problem = to_problem(validate_scenario(data))
    sat, sun = problem.days
    assert sun.hours[0][0] - sat.hours[0][0] == 23 * 60
    _, doc = solve_data(data)
    assert doc["appointments"][0]["start"] == "2026-03-08T09:00:00-04:00"


@pytest.mark.solve
def test_greedy_alone_passes_check() -> None:
    scenario = load_scenario(DEMO)
    from scheduler.documents import schedule_from_solution

    problem = to_problem(scenario)
    doc = schedule_from_solution(scenario, problem, greedy_solve(problem)).to_json()
    assert doc["kpis"]["placed"] > 80
    assert check(scenario, doc) == []


@pytest.mark.slow
@pytest.mark.solve
def test_demo_week_is_valid_and_beats_greedy() -> None:
    scenario = load_scenario(DEMO)
    assert len(scenario.patients) >= 100
    problem = to_problem(scenario)
    solution = solve(problem, Options(time_limit=10, workers=2, seed=1))
    assert solution.objective >= solution.greedy_objective
    assert solution.objective <= solution.bound
    from scheduler.documents import schedule_from_solution

    doc = schedule_from_solution(scenario, problem, solution).to_json()
    assert check(scenario, doc) == []
    assert all(u["reason"] and "infeasible" not in u["reason"] for u in doc["unplaced"])
    assert datetime.fromisoformat(doc["appointments"][0]["start"]).tzinfo is not None


def test_greedy_hint_is_feasible_for_the_model() -> None:
    """The CP-SAT model must accept the greedy schedule as is (it is the search's floor)."""
    from ortools.sat.python import cp_model

    from solver.candidates import build_visits
    from solver.cpmodel import ChairModel
    from solver.greedy import greedy

    problem = to_problem(load_scenario(DEMO))
    visits, _ = build_visits(problem)
    first = greedy(problem, visits)
    model = ChairModel(problem, visits)
    model.hint(first)
    model.model.maximize(model.placement_value())
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.max_time_in_seconds = 30
    assert solver.solve(model.model) == cp_model.OPTIMAL
    assert round(solver.objective_value) == sum(
        next(p.priority for p in problem.patients if p.id == a.patient) for a in first)


def test_the_lp_seconds_come_out_of_the_stages_after_the_placement() -> None:
    """The placement search keeps its share of the limit as if the LP had not run (round one's
    window); the soft goals pay for the LP; a stage never gets more than is left, nor less than
    half a second."""
    from solver.solve import stage_window

    # 20 s limit, 0.5 s to the model, 3 s of LP: 16.5 s left, 60 % for placing
    assert stage_window(16.5, 0.6, 3.0) == pytest.approx(0.6 * 19.5)
    assert stage_window(16.5, 0.6, 3.0) > stage_window(16.5, 0.6)
    assert stage_window(16.5, 0.6) == pytest.approx(0.6 * 16.5)
    # the soft goals' stage, after it: what is left (placement ran its full window)
    assert stage_window(16.5 - 0.6 * 19.5, 1.0) == pytest.approx(16.5 - 0.6 * 19.5)
    assert stage_window(2.0, 0.6, 30.0) == 2.0  # never beyond the limit
    assert stage_window(-1.0, 0.6) == 0.5
