"""Regression cases where the solver and the independent checker once disagreed, or where the
solver threw away capacity the contract allows; each test is named after its case."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from scheduler.check import check
from scheduler.documents import Schedule
from scheduler.errors import InvalidScenario
from scheduler.usecases import read_events
from scheduler.validate import validate_scenario
from solver import Options
from tests.conftest import patients, replan_events, scenario_dict, solve_data

THERAPIST = {"role": "therapist"}  # present for the session, no hands-on or monitoring load


def _with_therapists(*therapists: dict[str, Any]) -> dict[str, Any]:
    data = scenario_dict(patients=patients(1))
    data["protocols"][0]["staff"].append(dict(THERAPIST))
    data["staff"] += [{"id": t["id"], "role": "therapist", **t} for t in therapists]
    return data


# ------------------------------------------------------------------ 1. entries without modes
def test_entry_without_modes_is_never_filled_by_someone_on_time_off() -> None:
    data = _with_therapists({"id": "T1", "time_off": ["2026-12-07"]}, {"id": "T2"})
    _, doc = solve_data(data)
    (a,) = doc["appointments"]
    assert a["staff"]["therapist"] == "T2"


def test_entry_without_modes_left_unplaced_when_the_only_one_is_off() -> None:
    data = _with_therapists({"id": "T1", "time_off": ["2026-12-07"]})
    _, doc = solve_data(data)
    assert doc["appointments"] == []
    (unplaced,) = doc["unplaced"]
    assert unplaced["reason"] == "no therapist is at work (all on time off or absent) while " \
                                 "P01 is available"


def test_entry_without_modes_avoids_an_absence_during_the_session() -> None:
    data = _with_therapists({"id": "T1", "absences": [{"date": "2026-12-07", "from": "08:00",
                                                       "to": "15:00"}]})
    _, doc = solve_data(data)
    (a,) = doc["appointments"]
    assert a["staff"]["therapist"] == "T1"
    assert datetime.fromisoformat(a["start"]).hour >= 15


# ------------------------------------------------------------------ 2. turnover per interval
SPLIT = [["08:00", "12:00"], ["13:00", "17:00"]]


def _two_long_sessions() -> dict[str, Any]:
    data = scenario_dict(patients=patients(2))
    protocol = data["protocols"][0]
    protocol["phases"] = [{"name": "intake", "minutes": 10}, {"name": "dosing", "minutes": 15},
                          {"name": "monitoring", "minutes": 210},
                          {"name": "discharge", "minutes": 5}]
    protocol["turnover_minutes"] = 15
    return data


def _split_clinic(data: dict[str, Any]) -> None:
    data["clinic"]["hours"] = {"mon": SPLIT}


def _split_room(data: dict[str, Any]) -> None:
    data["rooms"][0]["hours"] = {"mon": SPLIT}


def _room_closed_at_noon(data: dict[str, Any]) -> None:
    data["rooms"][0]["closures"] = [{"date": "2026-12-07", "from": "12:00", "to": "13:00"}]


@pytest.mark.parametrize("split", [_split_clinic, _split_room, _room_closed_at_noon],
                         ids=["clinic-hours", "room-hours", "room-closed"])
def test_each_open_interval_may_overhang_its_turnover(split: Any) -> None:
    data = _two_long_sessions()
    split(data)
    _, doc = solve_data(data)
    assert len(doc["appointments"]) == 2
    assert doc["solver"]["status"] == "OPTIMAL"
    assert doc["solver"]["bound"] == 2


# ------------------------------------------------------------------ 3. fixed stay fixed
def test_replan_keeps_confirmed_future_fixed_appointments_exactly() -> None:
    data = scenario_dict(patients=patients(3))
    data["horizon"]["days"] = 3
    week = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed")}
    data["clinic"]["hours"] = week
    for s in data["staff"]:
        s["shifts"] = week
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": "2026-12-09T08:00",
                      "room": "R1", "staff": {"nurse": "N1"}}]
    scenario, doc = solve_data(data)
    events = [{"type": "add_patient", "patient": {"id": "P09", "protocol": "esk",
                                                  "priority": 5}}]
    result = replan_events(scenario, doc, events,
                           datetime.fromisoformat("2026-12-07T07:00:00-05:00"),
                           Options(time_limit=5, workers=1, seed=0))
    assert [f.id for f in result.scenario.fixed] == ["A-0100"]
    kept = next(a for a in result.schedule.to_json()["appointments"] if a["id"] == "A-0100")
    before = next(a for a in doc["appointments"] if a["id"] == "A-0100")
    assert kept == before
    assert result.violations == []


def test_replan_names_the_confirmed_appointment_an_event_breaks() -> None:
    data = scenario_dict(patients=patients(1))
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": "2026-12-07T10:00",
                      "room": "R1", "staff": {"nurse": "N1"}}]
    scenario, doc = solve_data(data)
    with pytest.raises(InvalidScenario) as caught:
        replan_events(scenario, doc, [
            {"type": "staff_absent", "staff": "N1", "date": "2026-12-07"}],
            datetime.fromisoformat("2026-12-07T07:00:00-05:00"), Options(time_limit=2))
    (issue,) = caught.value.issues
    assert issue.path.startswith("A-0100 (fixed: confirmed")
    assert "N1 is on time off on 2026-12-07" in issue.message


# ------------------------------------------------------------------ 4. touching intervals
def test_touching_shift_intervals_form_one_shift() -> None:
    data = scenario_dict(patients=patients(1))
    data["clinic"]["hours"] = {"mon": [["10:00", "14:00"]]}
    data["staff"][0]["shifts"] = {"mon": [["08:00", "12:00"], ["12:00", "17:00"]]}
    data["rooms"][0]["hours"] = {"mon": [["08:00", "12:00"], ["12:00", "17:00"]]}
    data["patients"][0]["availability"] = {"mon": [["08:00", "12:00"], ["12:00", "17:00"]]}
    _, doc = solve_data(data)
    (a,) = doc["appointments"]  # 150 minutes in a 10:00-14:00 day must cross 12:00
    start = datetime.fromisoformat(a["start"])
    assert start.hour * 60 + start.minute <= 12 * 60 < start.hour * 60 + start.minute + 150


def test_prescribers_handing_over_at_noon_cover_a_phase_across_it() -> None:
    data = scenario_dict(patients=patients(1))
    data["clinic"]["hours"] = {"mon": [["10:00", "14:00"]]}
    data["staff"][1]["shifts"] = {"mon": [["08:00", "12:00"]]}
    data["staff"].append({"id": "D2", "role": "prescriber", "max_patients": 0,
                          "shifts": {"mon": [["12:00", "18:00"]]}})
    _, doc = solve_data(data)
    assert len(doc["appointments"]) == 1


def test_a_gap_between_prescribers_leaves_the_phase_uncovered() -> None:
    data = scenario_dict(patients=patients(1))
    data["clinic"]["hours"] = {"mon": [["10:00", "14:00"]]}
    data["staff"][1]["shifts"] = {"mon": [["08:00", "12:00"]]}
    data["staff"].append({"id": "D2", "role": "prescriber", "max_patients": 0,
                          "shifts": {"mon": [["12:05", "18:00"]]}})
    _, doc = solve_data(data)
    assert doc["appointments"] == []
    assert doc["unplaced"][0]["reason"].startswith("no prescriber is on site")


# ------------------------------------------------------------------ 5. daylight saving
def _night_of_fall_back() -> dict[str, Any]:
    """New York, Sun 2026-11-01: 01:00-02:00 happens twice (EDT, then EST)."""
    data = scenario_dict(patients=patients(4, sessions=1))
    day = [["00:00", "06:00"]]
    data["clinic"]["hours"] = {"sun": day}
    data["horizon"] = {"start": "2026-11-01", "days": 1}
    data["rooms"][0]["chairs"] = 2
    for s in data["staff"]:
        s["shifts"] = {"sun": day}
    return data


def test_fall_back_night_is_solved_and_checked_in_absolute_time() -> None:
    scenario, doc = solve_data(_night_of_fall_back())
    # 00:00 EDT to 06:00 EST is 7 real hours: two chairs hold four 160-minute slots.
    assert len(doc["appointments"]) == 4
    for a in doc["appointments"]:
        real = datetime.fromisoformat(a["end"]) - datetime.fromisoformat(a["start"])
        assert real == timedelta(minutes=150)
    assert check(scenario, doc) == []


def test_fixed_appointment_on_the_fall_back_night_lasts_real_minutes() -> None:
    data = _night_of_fall_back()
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": "2026-11-01T00:30",
                      "room": "R1", "staff": {"nurse": "N1"}}]
    scenario, doc = solve_data(data)
    fixed = next(a for a in doc["appointments"] if a["id"] == "A-0100")
    assert (fixed["start"], fixed["end"]) == ("2026-11-01T00:30:00-04:00",
                                              "2026-11-01T02:00:00-05:00")
    assert check(scenario, doc) == []


def test_phases_written_on_the_wall_clock_across_the_change_are_caught() -> None:
    scenario, doc = solve_data(_night_of_fall_back())
    bad = copy.deepcopy(doc)
    a = bad["appointments"][0]
    wall = ["00:30-04:00", "00:40-04:00", "00:55-04:00", "02:55-05:00", "03:00-05:00"]
    stamps = [f"2026-11-01T{w[:5]}:00{w[5:]}" for w in wall]
    a["start"], a["end"] = stamps[0], stamps[-1]
    for k, phase in enumerate(a["phases"]):
        phase["start"], phase["end"] = stamps[k], stamps[k + 1]
    # 00:55 EDT to 02:55 EST reads 120 minutes on the wall but lasts 180.
    assert [v.what for v in check(scenario, bad) if v.appointment == a["id"]
            and v.rule == "phases"] == ["phase monitoring lasts 180 min instead of 120"]


# ------------------------------------------------------------------ REMS safety rules
def _rems(**patient: Any) -> dict[str, Any]:
    data = scenario_dict(patients=patients(1, **patient))
    data["protocols"][0]["requires_rems"] = True
    return data


def test_rems_enrolment_not_recorded_is_not_booked() -> None:
    _, doc = solve_data(_rems())
    assert doc["appointments"] == []
    assert doc["unplaced"][0]["reason"] == "REMS enrollment not recorded for P01 (esk requires it)"


def test_rems_enrolled_patient_is_booked() -> None:
    _, doc = solve_data(_rems(rems_enrolled=True))
    assert len(doc["appointments"]) == 1


def test_rems_protocol_with_short_monitoring_is_invalid() -> None:
    data = _rems(rems_enrolled=True)
    data["protocols"][0]["phases"][2]["minutes"] = 90
    with pytest.raises(InvalidScenario) as caught:
        validate_scenario(data)
    (issue,) = caught.value.issues
    assert issue.path == "protocols[0].phases"
    assert "at least 120 minutes" in issue.message and "they keep 90" in issue.message


def test_rems_protocol_without_prescriber_after_dosing_is_invalid() -> None:
    data = _rems(rems_enrolled=True)
    data["protocols"][0]["on_site"] = [{"role": "prescriber", "phases": ["dosing"]}]
    with pytest.raises(InvalidScenario) as caught:
        validate_scenario(data)
    assert [i.path for i in caught.value.issues] == ["protocols[0].phases"]


def test_change_protocol_event_cannot_cut_rems_monitoring() -> None:
    scenario, doc = solve_data(_rems(rems_enrolled=True))
    with pytest.raises(InvalidScenario) as caught:
        read_events({"events": [{"type": "change_protocol", "protocol": "esk",
                                 "from": "2026-12-07", "minutes": {"monitoring": 90}}]},
                    scenario, Schedule.from_json(doc),
                    datetime.fromisoformat("2026-12-01T07:00:00-05:00"))
    (issue,) = caught.value.issues
    assert issue.path == "events[0].minutes"
    assert "at least 120 minutes" in issue.message
