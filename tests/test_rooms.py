"""Interchangeable rooms are one resource in the search and get real rooms back afterwards."""

from __future__ import annotations

import pytest

from scheduler.compile import to_problem
from scheduler.validate import validate_scenario
from solver.rooms import room_classes
from tests.conftest import patients, scenario_dict, solve_data


def _clinic(n: int) -> dict[str, object]:
    data = scenario_dict(patients=patients(n))
    data["rooms"] = [{"id": f"R{i}", "features": ["recliner"]} for i in (1, 2, 3)] + [
        {"id": "BAY", "features": ["recliner"], "chairs": 2},
        {"id": "LATE", "features": ["recliner"], "hours": {"mon": [["12:00", "18:00"]]}}]
    data["staff"][0]["max_patients"] = 8
    data["staff"].append({**data["staff"][0], "id": "N2"})
    return data


def test_alike_rooms_pool_and_pinned_rooms_stay_alone() -> None:
    data = _clinic(2)
    classes = room_classes(to_problem(validate_scenario(data)))
    pooled = [c for c in classes.values() if len(c.rooms) > 1]
    assert [(sorted(c.rooms), c.chairs) for c in pooled] == [(["BAY", "R1", "R2", "R3"], 5)]
    assert "LATE" in classes
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": "2026-12-07T09:00",
                      "room": "R2", "staff": {"nurse": "N1"}}]
    classes = room_classes(to_problem(validate_scenario(data)))
    assert "R2" in classes and classes["R2"].rooms == ("R2",)


@pytest.mark.solve
def test_sessions_get_real_rooms_within_their_chairs() -> None:
    _, doc = solve_data(_clinic(14))  # solve_data re-checks every hard rule
    rooms = {a["room"] for a in doc["appointments"]}
    assert rooms <= {"R1", "R2", "R3", "BAY", "LATE"}
    assert len(doc["appointments"]) >= 12
    assert sum(1 for a in doc["appointments"] if a["room"] == "BAY") >= 2
