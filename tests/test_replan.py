"""Re-planning: change one thing, keep the rest of the week."""

from __future__ import annotations

import copy
import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.check import check
from scheduler.cli import main
from scheduler.documents import changes_json, rems_forms
from scheduler.errors import InvalidScenario
from scheduler.model import Scenario
from scheduler.usecases import Replanned, read_schedule_file
from scheduler.validate import validate_scenario
from solver import Options
from tests.conftest import patients, replan_events, scenario_dict, solve_data

EARLY = datetime(2026, 12, 1, tzinfo=UTC)  # before the horizon: nothing is frozen
OPTIONS = Options(time_limit=4, workers=2)


def _week(n_patients: int, **fields: Any) -> dict[str, Any]:
    """Mon-Wed, two recliner rooms, two nurses, one prescriber; patients want one session."""
    data = scenario_dict(patients=patients(n_patients, **fields))
    days = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed")}
    data["clinic"]["hours"] = days
    data["horizon"] = {"start": "2026-12-07", "days": 3}
    data["rooms"] = [{"id": "R1", "features": ["recliner"]},
                     {"id": "R2", "features": ["recliner"]}]
    data["staff"] = [
        {"id": "N1", "role": "nurse", "qualifications": ["spravato"], "max_patients": 4,
         "shifts": days},
        {"id": "N2", "role": "nurse", "qualifications": ["spravato"], "max_patients": 4,
         "shifts": days},
        {"id": "D1", "role": "prescriber", "max_patients": 0, "shifts": days},
    ]
    return data


def _replan(scenario: Scenario, doc: dict[str, Any], events: list[dict[str, Any]],
            now: datetime = EARLY) -> Replanned:
    result = replan_events(scenario, doc, events, now, OPTIONS)
    assert result.violations == []
    assert check(result.scenario, result.schedule.to_json()) == []
    return result


def _by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in doc["appointments"]}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("patient", "start", "end", "room", "staff")
    return all(a[k] == b[k] for k in keys)


def test_cancellation_frees_a_slot_for_a_waiting_patient_and_nothing_else_moves() -> None:
    data = scenario_dict(patients=patients(4))  # one room, one day: three fit, one waits
    scenario, doc = solve_data(data)
    assert len(doc["appointments"]) == 3
    (waiting,) = [u["patient"] for u in doc["unplaced"]]
    gone = doc["appointments"][1]
    result = _replan(scenario, doc, [{"type": "cancel", "appointment": gone["id"],
                                      "drop": True}])
    after = _by_id(result.schedule.to_json())
    for a in doc["appointments"]:
        if a["id"] != gone["id"]:
            assert _same(after[a["id"]], a)
    assert gone["id"] not in after
    assert {a["patient"] for a in after.values()} == (
        {a["patient"] for a in doc["appointments"]} - {gone["patient"]}) | {waiting}
    reasons = {c["id"]: c["reason"] for c in changes_json(result.changes)}
    assert reasons[gone["id"]].startswith(f"{gone['id']} cancelled")
    new = next(c for c in changes_json(result.changes) if c["before"] is None)
    assert new["reason"] == "filled a freed slot" and new["after"]["patient"] == waiting
    assert len(changes_json(result.changes)) == 2


@pytest.mark.solve
def test_nurse_absent_for_a_day_changes_only_her_sessions_that_day() -> None:
    scenario, doc = solve_data(_week(10, preferred_staff=["N2"]))
    assert len(doc["appointments"]) == 10
    day = next(a["start"][:10] for a in doc["appointments"] if a["staff"]["nurse"] == "N2")
    on_day = [a for a in doc["appointments"]
              if a["start"].startswith(day) and a["staff"]["nurse"] == "N2"]
    result = _replan(scenario, doc, [{"type": "staff_absent", "staff": "N2", "date": day}])
    after = _by_id(result.schedule.to_json())
    hers = {a["id"] for a in on_day}
    for a in doc["appointments"]:
        if a["id"] not in hers:
            assert _same(after[a["id"]], a), a["id"]
    for aid in hers:
        assert aid in after  # rebooked, same id
        assert after[aid]["staff"]["nurse"] != "N2" or not after[aid]["start"].startswith(day)
    assert {c["id"] for c in changes_json(result.changes)} == hers
    assert all(c["reason"] == f"N2 absent {day}" for c in changes_json(result.changes))
    moved_in_place = [aid for aid in hers
                      if after[aid]["start"] == _by_id(doc)[aid]["start"]]
    assert moved_in_place, "a staff swap at the same time beats moving the patient"


@pytest.mark.solve
def test_room_closed_for_an_afternoon_and_patient_unavailable() -> None:
    scenario, doc = solve_data(_week(6))
    target = next(a for a in doc["appointments"] if a["room"] == "R1")
    day = target["start"][:10]
    other = next(a for a in doc["appointments"] if a["id"] != target["id"])
    result = _replan(scenario, doc, [
        {"type": "room_closed", "room": "R1", "date": day, "from": "00:00", "to": "24:00"},
        {"type": "patient_unavailable", "patient": other["patient"],
         "date": other["start"][:10]},
    ])
    after = _by_id(result.schedule.to_json())
    assert after[target["id"]]["room"] != "R1" or not after[target["id"]]["start"].startswith(
        day)
    assert not after[other["id"]]["start"].startswith(other["start"][:10])
    assert len(after) == len(doc["appointments"])


@pytest.mark.solve
def test_add_an_urgent_patient_and_extra_sessions() -> None:
    scenario, doc = solve_data(_week(3))
    result = _replan(scenario, doc, [
        {"type": "add_patient", "patient": {"id": "P900", "protocol": "esk", "priority": 5}},
        {"type": "add_sessions", "patient": "P01", "sessions": 1},
    ])
    after = _by_id(result.schedule.to_json())
    for a in doc["appointments"]:
        assert _same(after[a["id"]], a)
    added = [c for c in changes_json(result.changes) if c["before"] is None]
    assert {c["after"]["patient"] for c in added} == {"P900", "P01"}
    assert {c["reason"] for c in added} == {"new patient P900",
                                            "P01 wants 1 more session(s)"}
    assert sum(1 for a in after.values() if a["patient"] == "P01") == 2


def test_cancelled_but_still_wanted_session_moves_with_its_id() -> None:
    scenario, doc = solve_data(_week(2))
    first = doc["appointments"][0]
    result = _replan(scenario, doc, [{"type": "cancel", "appointment": first["id"]}])
    moved = _by_id(result.schedule.to_json())[first["id"]]
    assert moved["patient"] == first["patient"]
    assert moved["start"] != first["start"]


@pytest.mark.solve
def test_protocol_durations_change_from_a_date() -> None:
    scenario, doc = solve_data(_week(6))
    result = _replan(scenario, doc, [{"type": "change_protocol", "protocol": "esk",
                                      "from": "2026-12-08", "minutes": {"monitoring": 90}}])
    for a in result.schedule.to_json()["appointments"]:
        monitoring = next(p for p in a["phases"] if p["name"] == "monitoring")
        minutes = (datetime.fromisoformat(monitoring["end"])
                   - datetime.fromisoformat(monitoring["start"])).total_seconds() / 60
        assert minutes == (120 if a["start"] < "2026-12-08" else 90)
    unchanged = [a for a in doc["appointments"] if a["start"] < "2026-12-08"]
    after = _by_id(result.schedule.to_json())
    for a in unchanged:
        assert _same(after[a["id"]], a)


@pytest.mark.solve
def test_the_past_is_frozen() -> None:
    scenario, doc = solve_data(_week(6))
    now = datetime.fromisoformat("2026-12-08T12:00:00-05:00")
    past = [a for a in doc["appointments"] if datetime.fromisoformat(a["start"]) < now]
    assert past
    result = _replan(scenario, doc, [{"type": "staff_absent", "staff": "N1",
                                      "date": "2026-12-09"}], now)
    after = _by_id(result.schedule.to_json())
    for a in past:
        assert _same(after[a["id"]], a)
    for a in result.schedule.to_json()["appointments"]:
        if a["id"] not in {p["id"] for p in past}:
            assert datetime.fromisoformat(a["start"]) >= now
    with pytest.raises(InvalidScenario) as err:
        replan_events(scenario, doc, [
            {"type": "cancel", "appointment": past[0]["id"]}], now, OPTIONS)
    assert "started before --now" in str(err.value)


def test_bad_events_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario, doc = solve_data(_week(2))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario.model_dump(mode="json",
                                                                        by_alias=True)))
    (tmp_path / "prev.json").write_text(json.dumps(doc))
    (tmp_path / "ev.yaml").write_text(yaml.safe_dump({"events": [
        {"type": "cancel", "appointment": "A-9999"},
        {"type": "staff_absent", "staff": "N7", "date": "2026-12-08"},
        {"type": "room_closed", "room": "R1", "date": "2026-12-08", "from": "13:00",
         "to": "12:00"},
        {"type": "teleport"},
    ]}))
    code = main(["replan", str(tmp_path / "s.yaml"), str(tmp_path / "prev.json"),
                 str(tmp_path / "ev.yaml"), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "events[2]" in err and "events[3]" in err
    (tmp_path / "ev.yaml").write_text(yaml.safe_dump({"events": [
        {"type": "cancel", "appointment": "A-9999"},
        {"type": "staff_absent", "staff": "N7", "date": "2026-12-08"}]}))
    assert main(["replan", str(tmp_path / "s.yaml"), str(tmp_path / "prev.json"),
                 str(tmp_path / "ev.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "events[0].appointment: no appointment 'A-9999'" in err
    assert "events[1].staff: unknown staff 'N7'" in err


@pytest.mark.solve
def test_replan_command_writes_schedule_changes_scenario_and_moves_feed_events(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario_path = tmp_path / "s.yaml"
    scenario_path.write_text(yaml.safe_dump(_week(4)))
    week = tmp_path / "week"
    assert main(["-q", "solve", str(scenario_path), "--out", str(week), "--time-limit", "3",
                 "--now", "2026-12-01T08:00:00+00:00"]) == 0
    capsys.readouterr()
    doc = json.loads((week / "schedule.json").read_text())
    target = doc["appointments"][0]
    (tmp_path / "ev.yaml").write_text(yaml.safe_dump({"events": [
        {"type": "patient_unavailable", "patient": target["patient"],
         "date": target["start"][:10]}]}))
    out = tmp_path / "replanned"
    assert main(["-q", "replan", str(scenario_path), str(week / "schedule.json"),
                 str(tmp_path / "ev.yaml"), "--out", str(out), "--time-limit", "3",
                 "--now", "2026-12-02T08:00:00+00:00", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == [target["id"]]
    assert json.loads((out / "changes.json").read_text()) == listed
    assert main(["check", str(out / "scenario.yaml"), str(out / "schedule.json")]) == 0
    feed = (out / "feeds" / f"patient-{target['patient']}.ics").read_text()
    assert "SEQUENCE:1" in feed  # continued from the first publication: the event moved



def test_replan_writes_the_rems_forms_as_solve_does(tmp_path: Path) -> None:
    """``solve``, ``roll`` and ``replan`` publish alike: the re-planned week's REMS monitoring
    forms go to DIR/rems.csv."""
    data = _week(2, rems_enrolled=True)
    data["protocols"][0]["requires_rems"] = True
    scenario_path = tmp_path / "s.yaml"
    scenario_path.write_text(yaml.safe_dump(data))
    week, out = tmp_path / "week", tmp_path / "replanned"
    assert main(["-q", "solve", str(scenario_path), "--out", str(week), "--time-limit", "3",
                 "--now", "2026-12-01T08:00:00+00:00"]) == 0
    first = json.loads((week / "schedule.json").read_text())["appointments"][0]
    (tmp_path / "ev.yaml").write_text(yaml.safe_dump({"events": [
        {"type": "patient_unavailable", "patient": first["patient"],
         "date": first["start"][:10]}]}))
    assert main(["-q", "replan", str(scenario_path), str(week / "schedule.json"),
                 str(tmp_path / "ev.yaml"), "--out", str(out), "--time-limit", "3",
                 "--now", "2026-12-02T08:00:00+00:00"]) == 0
    with (out / "rems.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = rems_forms(read_schedule_file(out / "schedule.json"))
    assert rows == expected and len(rows) == 2


@st.composite
def _events(draw: st.DrawFn, doc: dict[str, Any]) -> list[dict[str, Any]]:
    ids = [a["id"] for a in doc["appointments"]]
    kinds = draw(st.lists(st.sampled_from(["cancel", "staff", "room", "patient", "add"]),
                          min_size=1, max_size=3))
    out: list[dict[str, Any]] = []
    day = st.sampled_from(["2026-12-07", "2026-12-08", "2026-12-09"])
    for k in kinds:
        if k == "cancel" and ids:
            out.append({"type": "cancel", "appointment": draw(st.sampled_from(ids)),
                        "drop": draw(st.booleans())})
            ids.remove(out[-1]["appointment"])
        elif k == "staff":
            out.append({"type": "staff_absent", "staff": draw(st.sampled_from(["N1", "N2"])),
                        "date": draw(day)})
        elif k == "room":
            out.append({"type": "room_closed", "room": draw(st.sampled_from(["R1", "R2"])),
                        "date": draw(day), "from": "12:00", "to": "18:00"})
        elif k == "patient":
            out.append({"type": "patient_unavailable", "date": draw(day),
                        "patient": draw(st.sampled_from([f"P{i:02d}" for i in range(1, 9)]))})
        elif k == "add" and not any(e["type"] == "add_patient" for e in out):
            out.append({"type": "add_patient", "patient": {
                "id": "P99", "protocol": "esk", "priority": draw(st.integers(1, 5))}})
    return out


_BASE: dict[str, Any] = {}


def _base() -> tuple[Scenario, dict[str, Any]]:
    if not _BASE:
        _BASE["solved"] = solve_data(_week(8, sessions=1))
    scenario, doc = _BASE["solved"]
    return scenario, copy.deepcopy(doc)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
@pytest.mark.solve
def test_any_events_replan_to_a_valid_week_that_keeps_the_untouched(data: st.DataObject
                                                                    ) -> None:
    scenario, doc = _base()
    events = data.draw(_events(doc))
    result = replan_events(scenario, doc, events, EARLY,
                    Options(time_limit=2, workers=2))
    assert result.violations == []
    assert check(result.scenario, result.schedule.to_json()) == []
    touched = {c.id for c in result.changes
               if not c.reason.startswith(("moved to make room", "no longer fits"))}
    extra = [c for c in result.changes if c.id not in touched and c.before is not None]
    assert len(extra) <= scenario.settings.replan_extra_moves
    validate_scenario(result.scenario.model_dump(mode="json", by_alias=True))


# ------------------------------------------------------------------ review findings (regressions)
def _half_hour_clinic(hours: dict[str, Any], start: str, days: int, n: int) -> dict[str, Any]:
    return {"version": 1,
            "clinic": {"name": "C", "timezone": "America/New_York", "slot_minutes": 5,
                       "hours": hours},
            "horizon": {"start": start, "days": days},
            "protocols": [{"id": "p", "name": "P", "phases": [{"name": "a", "minutes": 30}]}],
            "rooms": [{"id": "R1"}],
            "patients": [{"id": f"P{i}", "protocol": "p"} for i in range(1, n + 1)]}


def _one(aid: str, patient: str, start: str) -> dict[str, Any]:
    end = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()
    return {"id": aid, "patient": patient, "protocol": "p", "room": "R1", "staff": {},
            "start": start, "end": end, "phases": [{"name": "a", "start": start, "end": end}]}


def test_the_frozen_past_in_the_repeated_hour_stays_where_it_was() -> None:
    """Fall-back night: a past session at 01:00 EST (the second 01:00) is frozen with its
    offset, not moved to 01:00 EDT."""
    scenario = validate_scenario(_half_hour_clinic({"sun": [["00:00", "06:00"]]},
                                                   "2026-11-01", 1, 2))
    doc = {"version": 1, "appointments": [_one("A-0002", "P2", "2026-11-01T01:00:00-05:00")]}
    result = replan_events(scenario, doc, [], datetime.fromisoformat(
        "2026-11-01T03:00:00-05:00"), OPTIONS)
    kept = _by_id(result.schedule.to_json())["A-0002"]
    assert kept["start"] == "2026-11-01T01:00:00-05:00"
    assert "A-0002" not in {c.id for c in result.changes}


def test_change_protocol_cannot_reach_back_before_now() -> None:
    scenario, doc = solve_data(_week(2))
    with pytest.raises(InvalidScenario) as err:
        replan_events(scenario, doc, [{"type": "change_protocol", "protocol": "esk",
                                       "from": "2026-12-07", "minutes": {"monitoring": 150}}],
                      datetime.fromisoformat("2026-12-07T11:00:00-05:00"), OPTIONS)
    (issue,) = err.value.issues
    assert issue.path == "events[0].from"
    assert "use 2026-12-08 or later" in issue.message


def test_change_protocol_builds_on_the_revision_in_force() -> None:
    data = _week(1)
    data["protocols"][0]["revisions"] = [{"from": "2026-12-07", "phases": [
        {"name": "intake", "minutes": 10}, {"name": "dosing", "minutes": 15},
        {"name": "monitoring", "minutes": 150}, {"name": "discharge", "minutes": 5}]}]
    scenario, doc = solve_data(data)
    result = _replan(scenario, doc, [{"type": "change_protocol", "protocol": "esk",
                                      "from": "2026-12-08", "minutes": {"intake": 15}}])
    esk = result.scenario.protocols[0]
    assert [ph.minutes for ph in esk.on(date(2026, 12, 8))[0]] == [15, 15, 150, 5]


def test_a_cancelled_confirmed_appointment_is_rebooked_under_its_id() -> None:
    data = _week(2)
    data["fixed"] = [{"id": "F-1", "patient": "P02", "start": "2026-12-08T10:00", "room": "R1",
                      "staff": {"nurse": "N1"}}]
    scenario, doc = solve_data(data)
    result = _replan(scenario, doc, [{"type": "cancel", "appointment": "F-1"}])
    moved = _by_id(result.schedule.to_json())["F-1"]
    assert moved["patient"] == "P02" and moved["start"] != "2026-12-08T10:00:00-05:00"
    assert [c.id for c in result.changes] == ["F-1"]


def test_new_ids_never_reuse_a_confirmed_appointments_id() -> None:
    scenario, doc = solve_data(_week(2))
    data = scenario.model_dump(mode="json", by_alias=True)
    data["patients"].append({"id": "P03", "protocol": "esk"})
    taken = f"A-{len(doc['appointments']) + 1:04d}"  # the number a new session would get
    data["fixed"] = [{"id": taken, "patient": "P03", "start": "2026-12-09T09:00", "room": "R2",
                      "staff": {"nurse": "N2"}}]
    result = _replan(validate_scenario(data), doc, [
        {"type": "add_patient", "patient": {"id": "P04", "protocol": "esk"}}])
    ids = [a["id"] for a in result.schedule.to_json()["appointments"]]
    assert len(ids) == len(set(ids)) and taken in ids


@pytest.mark.solve
def test_a_holiday_moves_that_days_sessions_to_the_other_days() -> None:
    """``clinic_closed``: the date joins ``closed_dates``; that day's sessions move (same
    ids), each change says why; a date outside the horizon is refused, naming it."""
    scenario, doc = solve_data(_week(4))
    day = doc["appointments"][0]["start"][:10]
    that_day = {a["id"] for a in doc["appointments"] if a["start"].startswith(day)}
    with pytest.raises(InvalidScenario) as refused:
        _replan(scenario, doc, [{"type": "clinic_closed", "date": "2027-12-25"}])
    assert [(i.path, i.message) for i in refused.value.issues] == [
        ("events[0].date", "2027-12-25 is outside the horizon (2026-12-07 to 2026-12-09); "
                           "check the year")]
    result = _replan(scenario, doc, [{"type": "clinic_closed", "date": day}])
    assert str(result.scenario.clinic.closed_dates[0]) == day
    after = _by_id(result.schedule.to_json())
    assert that_day <= after.keys()  # rebooked on another day, same ids
    assert not any(a["start"].startswith(day) for a in after.values())
    assert {c["id"]: c["reason"] for c in changes_json(result.changes)} == {
        aid: f"clinic closed {day}" for aid in that_day}
