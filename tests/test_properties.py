"""Property tests: random small clinics always solve to schedules that pass `check`, and more
resources never place fewer weighted sessions when both weeks are solved to optimality."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.validate import validate_scenario
from solver import Options, Solution, solve
from tests.conftest import ESK

DAYS = ("mon", "tue", "wed")
IV = {
    "id": "iv", "name": "IV ketamine",
    "phases": [{"name": "intake", "minutes": 15}, {"name": "infusion", "minutes": 40},
               {"name": "recovery", "minutes": 45}],
    "turnover_minutes": 15, "room_features": ["recliner", "iv-pump"],
    "staff": [{"role": "nurse", "qualification": "iv",
               "modes": {"intake": "hands_on", "infusion": "monitor", "recovery": "monitor"}}],
    "on_site": [{"role": "prescriber", "phases": ["infusion"]}],
}


@st.composite
def spans(draw: st.DrawFn) -> list[list[str]]:
    start = draw(st.integers(7, 11))
    length = draw(st.integers(3, 9))
    split = draw(st.booleans()) and length >= 6
    end = min(start + length, 20)
    if split:
        mid = start + length // 2
        return [[f"{start:02d}:00", f"{mid:02d}:00"], [f"{mid:02d}:30", f"{end:02d}:00"]]
    return [[f"{start:02d}:00", f"{end:02d}:00"]]


@st.composite
def clinics(draw: st.DrawFn) -> dict[str, Any]:
    days = DAYS[: draw(st.integers(1, 3))]
    rooms = [
        {"id": f"R{i}", "chairs": draw(st.integers(1, 2)),
         "features": ["recliner"] + (["iv-pump"] if draw(st.booleans()) else [])}
        for i in range(draw(st.integers(1, 3)))
    ]
    nurses = [
        {"id": f"N{i}", "role": "nurse", "max_patients": draw(st.integers(1, 4)),
         "qualifications": draw(st.sampled_from([["spravato"], ["iv"], ["spravato", "iv"]])),
         "shifts": {d: draw(spans()) for d in days if draw(st.integers(0, 4))}}
        for i in range(draw(st.integers(1, 3)))
    ]
    prescriber = {"id": "D1", "role": "prescriber", "max_patients": 0,
                  "shifts": {d: draw(spans()) for d in days}}
    patients = []
    for i in range(draw(st.integers(1, 7))):
        p: dict[str, Any] = {"id": f"P{i}", "protocol": draw(st.sampled_from(["esk", "iv"])),
                             "sessions": draw(st.integers(1, 2)),
                             "min_gap_days": draw(st.integers(1, 2)),
                             "priority": draw(st.integers(1, 3))}
        if draw(st.booleans()):
            p["availability"] = {d: draw(spans()) for d in days}
        patients.append(p)
    return {
        "version": 1,
        "clinic": {"name": "Random", "timezone": "Europe/Berlin", "slot_minutes": 15,
                   "hours": {d: [["07:00", "20:00"]] for d in days}},
        "horizon": {"start": "2027-03-29", "days": len(days)},
        "protocols": [copy.deepcopy(ESK), copy.deepcopy(IV)],
        "rooms": rooms, "staff": [*nurses, prescriber], "patients": patients,
    }


def _solve(data: dict[str, Any]) -> tuple[Solution, list[Any]]:
    scenario = validate_scenario(data)
    problem = to_problem(scenario)
    solution = solve(problem, Options(time_limit=3, workers=2, soft_goals=False))
    return solution, check(scenario, schedule_from_solution(scenario, problem, solution).to_json())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics())
@pytest.mark.solve
def test_random_clinics_pass_check(data: dict[str, Any]) -> None:
    solution, violations = _solve(data)
    assert violations == []
    assert solution.objective <= solution.bound
    assert solution.objective >= solution.greedy_objective


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics(), st.booleans())
@pytest.mark.solve
def test_more_resources_never_place_less(data: dict[str, Any], add_room: bool) -> None:
    base, _ = _solve(data)
    more = copy.deepcopy(data)
    if add_room:
        more["rooms"].append({**more["rooms"][0], "id": "R-extra"})
    else:
        more["staff"].append({**more["staff"][0], "id": "N-extra"})
    bigger, violations = _solve(more)
    assert violations == []
    if base.status == "OPTIMAL" and bigger.status == "OPTIMAL":
        assert bigger.objective >= base.objective
