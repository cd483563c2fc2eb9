"""Why-not-placed reasons name the real obstacle, in a clerk's words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import patients, scenario_dict, solve_data


def _reason(data: dict[str, Any], patient: str = "P01") -> str:
    _, doc = solve_data(data, seconds=1)
    reasons = {u["patient"]: u["reason"] for u in doc["unplaced"]}
    assert patient in reasons, doc["unplaced"]
    return str(reasons[patient])


def test_no_qualified_nurse() -> None:
    data = scenario_dict(patients=patients(1))
    data["staff"][0]["qualifications"] = ["iv"]
    assert _reason(data) == "no nurse qualified for spravato works at the clinic"


def test_no_room_with_the_features() -> None:
    data = scenario_dict(patients=patients(1))
    data["rooms"][0]["features"] = []
    assert "no room has the recliner" in _reason(data)


def test_patient_never_available_long_enough() -> None:
    data = scenario_dict(patients=patients(1, availability={"mon": [["09:00", "10:00"]]}))
    assert "P01 is available at no time the clinic is open long enough" in _reason(data)


def test_no_prescriber_on_site() -> None:
    data = scenario_dict(patients=patients(1, availability={"mon": [["13:00", "18:00"]]}))
    data["staff"][1]["shifts"] = {"mon": [["08:00", "12:00"]]}
    assert _reason(data).startswith("no prescriber is on site")


def test_nurse_not_on_shift_while_available() -> None:
    data = scenario_dict(patients=patients(1, availability={"mon": [["13:00", "18:00"]]}))
    data["staff"][0]["shifts"] = {"mon": [["08:00", "12:00"]]}
    assert "is on shift for the whole session while P01 is available" in _reason(data)


@pytest.mark.solve
def test_rooms_full() -> None:
    data = scenario_dict(patients=patients(4))
    data["staff"].append({**data["staff"][0], "id": "N2"})  # nurses to spare: the room binds
    _, doc = solve_data(data, seconds=1)
    (unplaced,) = doc["unplaced"]
    assert "recliner rooms are full" in unplaced["reason"]


def test_nurse_fully_booked() -> None:
    data = scenario_dict(patients=patients(3))
    data["rooms"] = [{"id": f"R{i}", "features": ["recliner"]} for i in (1, 2, 3)]
    data["staff"][0]["max_patients"] = 1
    data["clinic"]["hours"] = {"mon": [["08:00", "13:00"]]}
    _, doc = solve_data(data, seconds=1)
    (unplaced,) = doc["unplaced"]
    assert "every nurse qualified for spravato on shift is fully booked" in unplaced["reason"]


def test_not_enrolled_in_rems() -> None:
    data = scenario_dict(patients=patients(1, rems_enrolled=False))
    data["protocols"][0]["requires_rems"] = True
    assert "not enrolled in the REMS" in _reason(data)


def test_window_without_open_day() -> None:
    data = scenario_dict(patients=patients(1, earliest="2026-12-08"))
    data["horizon"]["days"] = 2
    assert "date window has no open clinic day" in _reason(data)


def test_a_dose_step_with_more_staff_entries_is_explained_not_a_crash() -> None:
    """A patient whose dose step goes to a protocol with one staff entry more than their own
    (KAP with a therapist, then KAP dosing with a nurse too), the nurse fully booked by
    urgent patients: the reason names the step's entries instead of indexing the patient's own
    protocol's (an IndexError, found by review, that took ``solve`` down with it)."""
    import copy
    from pathlib import Path

    from scheduler.compile import to_problem
    from scheduler.validate import parse_text, validate_scenario
    from solver import greedy_solve

    data = parse_text((Path(__file__).parent / "fixtures" / "video_and_steps.yaml")
                      .read_text(encoding="utf-8"))
    kap = next(p for p in data["protocols"] if p["id"] == "kap")
    dose = copy.deepcopy(kap)
    dose["id"], dose["name"] = "kap-dose", "KAP dosing with a nurse"
    dose["staff"].append({"role": "nurse", "modes": {"dosing": "hands_on", "session": "monitor"}})
    data["protocols"].append(dose)
    data["staff"][0]["max_patients"] = 1
    data["patients"] = [{"id": f"E{i}", "protocol": "esk-84", "sessions": 2, "min_gap_days": 1,
                         "priority": 5} for i in range(10)]
    data["patients"].append({"id": "PX", "protocol": "kap", "sessions": 3, "min_gap_days": 1,
                             "priority": 1, "step": {"after": 1, "protocol": "kap-dose"}})
    solution = greedy_solve(to_problem(validate_scenario(data)))
    reasons = {u.patient: u.reason for u in solution.unplaced}
    assert "PX" in reasons and "PX is available" in reasons["PX"]
