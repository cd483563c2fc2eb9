"""The versions' diff in a clerk's words, on cases worked out by hand: each section's changes
exactly as the page shows them; unknown fields generically; and the published week's sessions
the current data breaks, with the checker's words (kept / broken)."""

from __future__ import annotations

import copy
from typing import Any

from scheduler.documents import Schedule
from scheduler.usecases.versions import broken_sessions, part, same_week, scenario_changes
from scheduler.validate import validate_scenario
from tests.conftest import ESK, scenario_dict, solve_data


def clinic() -> dict[str, Any]:
    data = scenario_dict(patients=[
        {"id": "P01", "name": "Ada Byrne", "protocol": "esk", "rems_enrolled": True},
        {"id": "P02", "name": "Bo Chen", "protocol": "esk", "rems_enrolled": True,
         "sessions": 1}])
    data["clinic"]["hours"]["wed"] = [["08:00", "18:00"]]
    data["clinic"]["hours"]["thu"] = [["08:00", "18:00"]]
    data["horizon"] = {"start": "2026-12-07", "days": 7}
    data["rooms"].append({"id": "R2", "name": "Room 2", "features": ["recliner"]})
    data["staff"].append({"id": "N4", "name": "Dana Fischer", "role": "nurse",
                          "qualifications": ["spravato"], "max_patients": 4,
                          "shifts": {"thu": [["08:00", "16:00"]]}})
    return data


def test_a_weeks_changes_in_the_clerks_words_worked_out_by_hand() -> None:
    old = clinic()
    new = copy.deepcopy(old)
    new["staff"][2]["time_off"] = ["2026-12-10"]
    new["staff"][2]["shifts"]["thu"] = [["08:00", "12:00"]]
    new["staff"][0]["max_patients"] = 3
    new["rooms"][1]["closures"] = [{"date": "2026-12-09", "from": "12:00"}]
    new["rooms"][1]["chairs"] = 2
    new["clinic"]["closed_dates"] = ["2026-12-24"]
    new["clinic"]["hours"]["sat"] = [["09:00", "14:00"]]
    new["patients"].append({"id": "P03", "name": "Gia Hayes", "protocol": "esk"})
    new["patients"][1]["sessions"] = 2
    new["patients"][1]["preferred_staff"] = ["N4"]
    new["patients"][0]["unavailable"] = [{"date": "2026-12-08", "to": "12:00"}]
    new["patients"][0]["rems_enrolled"] = None
    new["protocols"][0]["turnover_minutes"] = 15
    del new["rooms"][0]["chairs"]  # the same as its default: no change
    diff = scenario_changes(validate_scenario(old), validate_scenario(new))
    assert [(s.title, s.lines) for s in diff.sections] == [
        ("Clinic hours and closed dates", ["Clinic open Saturdays 09:00–14:00",
                                           "Clinic closed Thursday 24 Dec"]),
        ("Rooms", ["Room 2 has 2 chairs (was 1)",
                   "Room 2 closed Wednesday 9 Dec, afternoon from 12:00"]),
        ("Staff shifts and absences", [
            "N1 takes 3 patients at once (was 4)",
            "Dana Fischer (N4) works Thursdays 08:00–12:00 (was 08:00–16:00)",
            "Dana Fischer (N4) off Thursday 10 Dec"]),
        ("Patients", ["Ada Byrne cannot come Tuesday 8 Dec, morning until 12:00",
                      "Ada Byrne: REMS enrollment not recorded (was enrolled in the REMS)",
                      "Bo Chen wants 2 sessions (was 1)",
                      "Bo Chen prefers Dana Fischer (N4) (was no one)",
                      "Gia Hayes added"]),
        ("Protocols", ["Esketamine 84 mg: turnover minutes 15 (was 10)"]),
    ]


def test_no_change_is_an_empty_diff_and_removals_are_named() -> None:
    old = validate_scenario(clinic())
    assert scenario_changes(old, old).empty
    new = clinic()
    del new["staff"][2]
    del new["rooms"][1]
    new["patients"] = new["patients"][:1]
    new["clinic"]["hours"].pop("wed")
    diff = scenario_changes(old, validate_scenario(new))
    assert diff.lines() == ["Clinic no longer open Wednesdays (was 08:00–18:00)",
                            "Room 2 removed", "Dana Fischer (N4) removed", "Bo Chen removed"]


def test_a_field_the_diff_does_not_know_is_still_named() -> None:
    """A field added to the format later (the protocol's staff needs stand in for one) is
    compared generically: named, its value shown when short, else "changed"."""
    old = clinic()
    new = copy.deepcopy(old)
    new["protocols"][0]["staff"][0]["qualification"] = "iv"
    new["protocols"][0]["dose_phase"] = "intake"
    new["clinic"]["address"] = "1 Main St\nSpringfield"
    diff = scenario_changes(validate_scenario(old), validate_scenario(new))
    assert diff.lines() == ["Clinic: address changed",
                            "Esketamine 84 mg: staff changed",
                            "Esketamine 84 mg: dose phase intake (was none)"]


def test_parts_of_a_day() -> None:
    from scheduler.model import Outage

    def said(**kw: Any) -> str:
        return part(Outage.model_validate({"date": "2026-12-09", **kw}))
    assert said() == "Wednesday 9 Dec"
    assert said(**{"from": "13:00", "to": "24:00"}) == "Wednesday 9 Dec, afternoon from 13:00"
    assert said(**{"from": "10:00"}) == "Wednesday 9 Dec from 10:00"
    assert said(to="12:00") == "Wednesday 9 Dec, morning until 12:00"
    assert said(**{"from": "10:00", "to": "14:00"}) == "Wednesday 9 Dec, 10:00–14:00"


# ----------------------------------------------------------------------------- the published week
def published_week() -> tuple[dict[str, Any], Schedule]:
    data = scenario_dict(patients=[{"id": "P01", "name": "Ada Byrne", "protocol": "esk",
                                    "rems_enrolled": True}])
    data["protocols"][0] = copy.deepcopy(ESK)
    _, document = solve_data(data)
    return data, Schedule.from_json(document)


def test_the_published_week_is_kept_when_the_change_touches_none_of_its_sessions() -> None:
    data, schedule = published_week()
    data["patients"].append({"id": "P02", "protocol": "esk", "rems_enrolled": True})
    assert broken_sessions(validate_scenario(data), schedule) == []


def test_the_published_week_is_broken_by_the_nurses_absence_named_by_session() -> None:
    data, schedule = published_week()
    (booked,) = schedule.appointments
    data["staff"][0]["time_off"] = ["2026-12-07"]
    current = validate_scenario(data)
    (found,) = broken_sessions(current, schedule)
    assert (found.appointment, found.patient) == (booked.id, "Ada Byrne")
    assert found.start == booked.start.astimezone(current.tz)
    assert any("N1" in p and "time off" in p for p in found.problems), found.problems


def test_a_rolled_week_is_not_the_published_one() -> None:
    data, _ = published_week()
    rolled = copy.deepcopy(data)
    rolled["horizon"] = {"start": "2026-12-14", "days": 1}
    assert same_week(validate_scenario(data), validate_scenario(data))
    assert not same_week(validate_scenario(data), validate_scenario(rolled))
