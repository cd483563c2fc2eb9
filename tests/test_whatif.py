"""What-if analysis: the variant edit kinds, headroom and bottlenecks on clinics small enough to
work out by hand, the command line, the Dask path and the report in a browser."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.edits import edit_scenario
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.usecases import read_variants
from scheduler.validate import validate_scenario
from tests.conftest import patients, scenario_dict


# ------------------------------------------------------------------ edit kinds
def _week() -> Scenario:
    """Monday and Tuesday open; two nurses, a prescriber, a bay of two chairs, six patients
    (three weekly maintenance patients, three inductions)."""
    data = scenario_dict(patients=[
        *patients(3, sessions=1, min_gap_days=5, rems_enrolled=True),
        *[{**p, "id": f"I{i}"} for i, p in enumerate(patients(3, sessions=2, min_gap_days=1,
                                                                priority=3,
                                                                rems_enrolled=True))],
    ])
    data["clinic"]["hours"]["tue"] = [["08:00", "18:00"]]
    data["horizon"]["days"] = 7
    data["rooms"] = [{"id": "BAY", "features": ["recliner"], "chairs": 2},
                     {"id": "R4", "features": ["recliner"], "chairs": 1,
                      "hours": {"mon": [["08:00", "14:00"]]}}]
    data["staff"].insert(1, {**data["staff"][0], "id": "N2",
                             "shifts": {"tue": [["08:00", "18:00"]]}})
    data["staff"][-1]["shifts"]["tue"] = [["08:00", "18:00"]]
    return validate_scenario(data)


def _edited(*edits: dict[str, Any]) -> Scenario:
    (variant,) = read_variants({"variants": [{"name": "v", "edits": list(edits)}]}, _week())
    return edit_scenario(_week(), variant.located())


def _problems(*edits: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        read_variants({"variants": [{"name": "v", "edits": list(edits)}]}, _week())
    return [str(i) for i in caught.value.issues]


def test_add_chairs_adds_and_removes_chairs_but_never_the_last() -> None:
    assert _edited({"add_chairs": {"room": "BAY", "chairs": 1}}).rooms[0].chairs == 3
    assert _edited({"add_chairs": {"room": "BAY", "chairs": -1}}).rooms[0].chairs == 1
    assert _problems({"add_chairs": {"room": "R4", "chairs": -1}}) == [
        "variants[0] (v).edits[0].add_chairs.chairs: room R4 has 1 chair(s), so it cannot "
        "lose 1; remove_room takes a whole room away"]


def test_add_shift_joins_touching_intervals_and_remove_shift_drops_days() -> None:
    edited = _edited({"add_shift": {"staff": "N1", "shifts": {"mon": [["18:00", "20:00"]],
                                                               "sat": [["09:00", "13:00"]]}}},
                     {"remove_shift": {"staff": "N2", "days": ["tue"]}})
    n1, n2 = edited.staff[0], edited.staff[1]
    assert n1.shifts == {"mon": [("08:00", "20:00")], "sat": [("09:00", "13:00")]}
    assert n2.shifts == {}
    assert _problems({"remove_shift": {"staff": "N1", "days": ["fri"]}}) == [
        "variants[0] (v).edits[0].remove_shift.days[0]: N1 has no shift on fri (works mon)"]


def test_add_hours_opens_the_clinic_the_staff_named_and_rooms_with_own_hours() -> None:
    edited = _edited({"add_hours": {"days": ["sat"], "hours": [["09:00", "14:00"]],
                                    "staff": ["N1", "D1"], "rooms": ["R4", "BAY"]}})
    assert edited.clinic.hours["sat"] == [("09:00", "14:00")]
    assert edited.staff[0].shifts["sat"] == [("09:00", "14:00")]
    assert "sat" not in edited.staff[1].shifts  # N2 was not named
    assert edited.rooms[1].hours is not None and "sat" in edited.rooms[1].hours
    assert edited.rooms[0].hours is None  # follows the clinic's hours anyway


def test_set_role_sets_every_member_of_the_role() -> None:
    edited = _edited({"set_role": {"role": "nurse", "max_patients": 5}})
    assert [s.max_patients for s in edited.staff] == [5, 5, 0]
    assert _problems({"set_role": {"role": "doctor", "max_patients": 2}}) == [
        "variants[0] (v).edits[0].set_role.role: no staff member has role 'doctor' (roles: "
        "nurse, prescriber)"]


def test_set_minutes_changes_phases_and_turnover_and_keeps_rems() -> None:
    edited = _edited({"set_minutes": {"protocol": "esk", "minutes": {"monitoring": 150},
                                      "turnover_minutes": 15}})
    (esk,) = edited.protocols
    assert [p.minutes for p in esk.phases] == [10, 15, 150, 5]
    assert esk.turnover_minutes == 15
    data = scenario_dict()
    data["protocols"][0]["requires_rems"] = True
    rems = validate_scenario(data)
    with pytest.raises(InvalidInput) as caught:
        read_variants({"variants": [{"name": "short", "edits": [
            {"set_minutes": {"minutes": {"monitoring": 60, "recovery": 5}}}]}]}, rems)
    assert [i.path for i in caught.value.issues] == [
        "variants[0] (short).edits[0].set_minutes.minutes.recovery",
        "variants[0] (short).edits[0].set_minutes.minutes"]


def test_shift_mix_moves_a_share_to_every_two_weeks() -> None:
    """Three weekly patients without a last session: two thirds of them (two) move to every
    two weeks, spread over the two weeks of the cycle: one is due this week, one next week."""
    edited = _edited({"shift_mix": {"share": 0.67, "from": {"min_gap_days": 5},
                                    "every_weeks": 2}})
    moved = [p for p in edited.patients if p.min_gap_days == 14]
    assert len(moved) == 2
    assert [p.sessions for p in moved] == [1, 0]  # due this week, due next week
    assert [str(p.last_session) for p in moved] == ["2026-11-23", "2026-11-30"]


def test_shift_mix_to_another_protocol_and_its_problems() -> None:
    edited = _edited({"shift_mix": {"share": 1.0, "from": {"priority": 3},
                                    "to": {"priority": 2}}})
    assert sorted(p.priority for p in edited.patients) == [1, 1, 1, 2, 2, 2]
    assert _problems({"shift_mix": {"share": 0.1, "from": {"priority": 3}, "to": {"x": 1}}},
                     {"shift_mix": {"share": 0.1, "from": {"priority": 3},
                                    "to": {"priority": 2}}}) == [
        "variants[0] (v).edits[0].shift_mix.to.x: is not a field of a patient",
        "variants[0] (v).edits[1].shift_mix.share: 10% of the 3 patient(s) with priority 3 "
        "(none with a fixed appointment) is nobody"]


def test_an_edit_that_does_not_parse_keeps_the_next_edits_numbers() -> None:
    assert _problems({"add_chairs": {"room": "BAY"}}, {"add_chairs": {"room": "R9",
                                                                      "chairs": 1}}) == [
        "variants[0] (v).edits[0].add_chairs.chairs: is required",
        "variants[0] (v).edits[1].add_chairs.room: unknown room 'R9' (known: BAY, R4)"]
