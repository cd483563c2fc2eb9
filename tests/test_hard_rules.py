"""Each hard rule of contract v1, both ways: the solver keeps it where it binds, and a
hand-broken schedule makes the independent `check` report exactly that rule."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import broken, patients, scenario_dict, shift, solve_data


def _starts(document: dict[str, Any]) -> list[datetime]:
    return sorted(datetime.fromisoformat(a["start"]) for a in document["appointments"])


def _week(**overrides: object) -> dict[str, Any]:
    """Mon-Fri open 08:00-18:00, everybody on shift all week."""
    data = scenario_dict(**overrides)
    week = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    data["clinic"]["hours"] = week
    data["horizon"] = {"start": "2026-12-07", "days": 7}
    for s in data["staff"]:
        s["shifts"] = week
    return data


# --------------------------------------------------------------------- 1. phases
def test_phases_kept_back_to_back_on_grid() -> None:
    _scenario, doc = solve_data(scenario_dict(patients=patients(1)))
    (a,) = doc["appointments"]
    lengths = [(datetime.fromisoformat(p["end"]) - datetime.fromisoformat(p["start"]))
               for p in a["phases"]]
    assert lengths == [timedelta(minutes=m) for m in (10, 15, 120, 5)]
    assert a["phases"][0]["start"] == a["start"] and a["phases"][-1]["end"] == a["end"]
    assert datetime.fromisoformat(a["start"]).minute % 5 == 0


def test_phases_broken_length_and_grid() -> None:
    scenario, doc = solve_data(scenario_dict(patients=patients(1)))
    longer = copy.deepcopy(doc)
    end = datetime.fromisoformat(longer["appointments"][0]["phases"][2]["end"])
    longer["appointments"][0]["phases"][2]["end"] = (end + timedelta(minutes=5)).isoformat()
    assert broken(scenario, longer) == {"phases"}
    off_grid = copy.deepcopy(doc)
    shift(off_grid["appointments"][0], 2)
    assert "phases" in broken(scenario, off_grid)


# --------------------------------------------------------------------- 2. hours
def test_hours_kept_when_the_day_barely_fits() -> None:
    data = scenario_dict(patients=patients(1))
    data["clinic"]["hours"] = {"mon": [["08:00", "10:40"]]}  # 160 min for a 150-min session
    _scenario, doc = solve_data(data)
    (start,) = _starts(doc)
    assert start.hour == 8 and start.minute <= 10


def test_hours_broken_after_closing_and_room_hours() -> None:
    data = scenario_dict(patients=patients(1))
    data["clinic"]["hours"] = {"mon": [["08:00", "10:40"]]}
    scenario, doc = solve_data(data)
    shift(doc["appointments"][0], 60)
    assert broken(scenario, doc) == {"hours"}

    data = scenario_dict(patients=patients(1))
    data["rooms"][0]["hours"] = {"mon": [["12:00", "18:00"]]}
    scenario, doc = solve_data(data)
    start = _starts(doc)[0]
    assert start.hour >= 12
    shift(doc["appointments"][0], -int((start - start.replace(hour=9, minute=0)
                                        ).total_seconds() // 60))  # to 09:00
    assert broken(scenario, doc) == {"hours"}


# --------------------------------------------------------------------- 3. rooms
def test_rooms_kept_one_chair_with_turnover() -> None:
    _scenario, doc = solve_data(scenario_dict(patients=patients(4)))
    assert len(doc["appointments"]) == 3  # 3 x (150 + 10) minutes fit in 600, 4 do not
    apps = sorted(doc["appointments"], key=lambda a: a["start"])
    for first, second in itertools.pairwise(apps):
        gap = datetime.fromisoformat(second["start"]) - datetime.fromisoformat(first["end"])
        assert gap >= timedelta(minutes=10)


def test_rooms_broken_without_turnover_and_wrong_features() -> None:
    scenario, doc = solve_data(scenario_dict(patients=patients(2)))
    apps = sorted(doc["appointments"], key=lambda a: a["start"])
    end = datetime.fromisoformat(apps[0]["end"])
    shift(apps[1], int((end - datetime.fromisoformat(apps[1]["start"])).total_seconds() // 60))
    assert "rooms" in broken(scenario, doc)

    data = scenario_dict(patients=patients(1))
    data["rooms"].append({"id": "R2", "features": [], "chairs": 1})
    scenario, doc = solve_data(data)
    assert doc["appointments"][0]["room"] == "R1"
    doc["appointments"][0]["room"] = "R2"
    assert broken(scenario, doc) == {"rooms"}


@pytest.mark.solve
def test_rooms_two_chairs_hold_two_not_three() -> None:
    data = scenario_dict(patients=patients(6))
    data["rooms"] = [{"id": "BAY", "features": ["recliner"], "chairs": 2}]
    data["staff"][0]["max_patients"] = 6
    scenario, doc = solve_data(data)
    assert len(doc["appointments"]) == 6  # two chairs, three rounds
    starts = _starts(doc)
    assert any(b - a < timedelta(minutes=160) for a, b in itertools.pairwise(starts))
    apps = sorted(doc["appointments"], key=lambda a: a["start"])
    for a in apps[1:3]:  # pile three onto the first one's time
        shift(a, int((datetime.fromisoformat(apps[0]["start"])
                      - datetime.fromisoformat(a["start"])).total_seconds() // 60))
    assert "rooms" in broken(scenario, doc)


# --------------------------------------------------------------------- 4. staff
def _two_rooms(n: int, **nurse: object) -> dict[str, Any]:
    data = scenario_dict(patients=patients(n))
    data["rooms"] = [{"id": f"R{i}", "features": ["recliner"]} for i in (1, 2)]
    data["staff"][0].update(nurse)
    return data


def test_staff_kept_hands_on_one_at_a_time() -> None:
    _scenario, doc = solve_data(_two_rooms(2))
    a, b = _starts(doc)
    assert b - a >= timedelta(minutes=25)  # intake + dosing are hands-on for both


def test_staff_broken_two_hands_on_at_once() -> None:
    scenario, doc = solve_data(_two_rooms(2))
    a, b = doc["appointments"]
    shift(b, int((datetime.fromisoformat(a["start"])
                  - datetime.fromisoformat(b["start"])).total_seconds() // 60))
    assert broken(scenario, doc) == {"staff"}


def test_staff_kept_and_broken_max_patients() -> None:
    data = _two_rooms(3, max_patients=1)
    data["clinic"]["hours"] = {"mon": [["08:00", "13:00"]]}
    scenario, doc = solve_data(data)
    assert len(doc["appointments"]) == 2  # one patient at a time: two sessions of 150 in 300
    _a, b = sorted(doc["appointments"], key=lambda x: x["start"])
    shift(b, -30)
    assert broken(scenario, doc) == {"staff"}


def test_staff_kept_split_shift_and_broken_over_the_break() -> None:
    data = scenario_dict(patients=patients(2))
    data["staff"][0]["shifts"] = {"mon": [["08:00", "12:00"], ["12:30", "18:00"]]}
    scenario, doc = solve_data(data)
    for a in doc["appointments"]:
        start, end = datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"])
        noon = start.replace(hour=12, minute=0)
        assert end <= noon or start >= noon + timedelta(minutes=30)
    moved = copy.deepcopy(doc)
    a = min(moved["appointments"], key=lambda x: x["start"])
    start = datetime.fromisoformat(a["start"])
    shift(a, int((start.replace(hour=11, minute=0) - start).total_seconds() // 60))
    assert "staff" in broken(scenario, moved)


def test_staff_broken_qualification_and_time_off() -> None:
    data = scenario_dict(patients=patients(1))
    data["staff"].append({"id": "N2", "role": "nurse", "max_patients": 4,
                          "shifts": {"mon": [["08:00", "18:00"]]}})
    scenario, doc = solve_data(data)
    assert doc["appointments"][0]["staff"] == {"nurse": "N1"}  # N2 lacks spravato
    doc["appointments"][0]["staff"] = {"nurse": "N2"}
    assert broken(scenario, doc) == {"staff"}

    data = _week(patients=patients(1))
    data["staff"][0]["time_off"] = ["2026-12-07"]
    scenario, doc = solve_data(data)
    assert _starts(doc)[0].date().isoformat() != "2026-12-07"
    shift(doc["appointments"][0], -(_starts(doc)[0].weekday()) * 24 * 60)
    assert broken(scenario, doc) == {"staff"}


# --------------------------------------------------------------------- 5. on site
def test_on_site_kept_and_broken() -> None:
    data = scenario_dict(patients=patients(1))
    data["staff"][1]["shifts"] = {"mon": [["08:00", "11:00"]]}
    scenario, doc = solve_data(data)
    (start,) = _starts(doc)
    assert start <= start.replace(hour=8, minute=35)  # monitoring must end by 11:00
    shift(doc["appointments"][0], 120)
    assert broken(scenario, doc) == {"on_site"}


# --------------------------------------------------------------------- 6. patients
def test_patients_kept_gap_and_count() -> None:
    _scenario, doc = solve_data(_week(patients=patients(1, sessions=3, min_gap_days=2)))
    days = [s.date().isoformat() for s in _starts(doc)]
    assert days == ["2026-12-07", "2026-12-09", "2026-12-11"]


def test_patients_broken_extra_session_and_gap() -> None:
    scenario, doc = solve_data(_week(patients=patients(1, sessions=2, min_gap_days=3)))
    first, second = sorted(doc["appointments"], key=lambda a: a["start"])
    days = (datetime.fromisoformat(second["start"]) - datetime.fromisoformat(first["start"]))
    assert days >= timedelta(days=3) - timedelta(hours=10)
    extra = copy.deepcopy(first)
    extra["id"] = "A-9999"
    shift(extra, 24 * 60)
    doc["appointments"].append(extra)
    assert broken(scenario, doc) == {"patients"}


def test_patients_kept_and_broken_availability() -> None:
    data = scenario_dict(patients=patients(1, availability={"mon": [["13:00", "16:00"]]}))
    scenario, doc = solve_data(data)
    (start,) = _starts(doc)
    assert start.replace(hour=13, minute=0) <= start <= start.replace(hour=13, minute=30)
    shift(doc["appointments"][0], -180)
    assert broken(scenario, doc) == {"patients"}


def test_patients_kept_and_broken_last_session_gap() -> None:
    data = _week(patients=patients(1, last_session="2026-12-05", min_gap_days=3,
                                   latest="2026-12-08"))
    scenario, doc = solve_data(data)
    (start,) = _starts(doc)
    assert start.date().isoformat() == "2026-12-08"
    shift(doc["appointments"][0], -24 * 60)
    assert broken(scenario, doc) == {"patients"}


# --------------------------------------------------------------------- 7. fixed
def test_fixed_kept_and_broken() -> None:
    data = scenario_dict(patients=patients(2))
    data["rooms"].append({"id": "R2", "features": ["recliner"]})
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": "2026-12-07T14:00",
                      "room": "R2", "staff": {"nurse": "N1"}}]
    scenario, doc = solve_data(data)
    fixed = next(a for a in doc["appointments"] if a["id"] == "A-0100")
    assert fixed["start"] == "2026-12-07T14:00:00-05:00" and fixed["room"] == "R2"
    assert {a["patient"] for a in doc["appointments"]} == {"P01", "P02"}
    fixed["room"] = "R1"
    assert "fixed" in broken(scenario, doc)
