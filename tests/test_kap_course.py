"""KAP as the issue's course library has it: preparation (``kap-prep``, by video), dosing, and
an integration by video 1-3 days after each DOSING. A preparation stage names its own protocol
(``courses[].stages[].protocol``); a patient whose horizon crosses from preparation into dosing
carries ``step: {after: <preparation sessions left>, protocol: kap}``, and a follow-up follows
only sessions of the protocol the patient ends the horizon on (the step's, else their own):
never a preparation session, in the checker, the model, the greedy floor and the explanations.
"""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.courses import derive, library
from scheduler.documents import schedule_from_solution
from scheduler.errors import InvalidInput
from scheduler.model import CourseState, PatientSpec, Scenario
from scheduler.validate import validate_scenario
from solver import follow_ups_wanted, greedy_solve
from tests.conftest import solve_data
from tests.test_check import appointment
from tests.test_video_and_steps import (
    MON,
    THU,
    TUE,
    WED,
    call,
    clinic,
    course_clinic,
    kap,
    placed,
)

Doc = dict[str, Any]
PREP_PHASES = (("preparation", 50), ("notes", 10))
START = date(2026, 12, 7)


# ----------------------------------------------------------------------------- checker pair
def prep_clinic() -> Doc:
    """test_video_and_steps' clinic with a video preparation protocol and P04, who has one
    preparation session left and then doses (a step), with integrations by video."""
    data = clinic()
    data["protocols"].append(
        {"id": "prep", "name": "KAP preparation", "video": True,
         "phases": [{"name": n, "minutes": m} for n, m in PREP_PHASES],
         "staff": [{"role": "therapist", "modes": {"preparation": "hands_on",
                                                   "notes": "hands_on"}}]})
    data["patients"].append(
        {"id": "P04", "protocol": "prep", "sessions": 2, "min_gap_days": 2,
         "last_session": "2026-12-05", "step": {"after": 1, "protocol": "kap"},
         "follow_up": {"protocol": "call", "days": [1, 3]}})
    return data


def prep(aid: str, day: str) -> Doc:
    a = appointment(aid, "P04", f"{day}T09:00", protocol="prep", phases=PREP_PHASES,
                    staff={"therapist": "T1"})
    a["room"] = None
    return a


def verdict(appointments: list[Doc]) -> list[str]:
    scenario = validate_scenario(prep_clinic())
    return [str(v) for v in check(scenario, {"appointments": appointments})]


def test_integration_kept_after_the_dosing_that_follows_preparation() -> None:
    assert verdict([prep("A1", MON), kap("A2", WED, "P04"), call("A3", THU, "P04")]) == []


def test_integration_after_a_preparation_session_is_refused() -> None:
    """Tue is 1 day after Monday's preparation and 3 after Saturday's last session (also a
    preparation: the patient's own protocol before the step): neither is a dosing."""
    found = verdict([prep("A1", MON), call("A2", TUE, "P04"), kap("A3", WED, "P04")])
    assert found == ["patients A2: P04's call on 2026-12-08 follows none of P04's sessions by "
                     "1-3 days (each session has at most one)"]



# ----------------------------------------------------------------------------- derivation
def library_protocol(pid: str) -> Doc:
    text = files("scheduler").joinpath("data", "protocols.yaml").read_text(encoding="utf-8")
    found: Doc = next(p for p in yaml.safe_load(text)["protocols"] if p["id"] == pid)
    return found


def kap_clinic(weeks: int, *states: Doc, prep: bool = True) -> Doc:
    """test_video_and_steps' two-week course clinic over ``weeks`` weeks, with the library's
    kap-prep protocol (unless ``prep`` is false) and KAP patients K0, K1, ... at ``states``."""
    data = course_clinic(True)
    data["horizon"] = {"start": str(START), "days": 7 * weeks}
    if prep:
        data["protocols"].append(library_protocol("kap-prep"))
    data["patients"] = [{"id": f"K{n}", "protocol": "kap", "course": {"id": "kap", **s}}
                        for n, s in enumerate(states)]
    return data


def expanded(weeks: int, *states: Doc, prep: bool = True) -> list[PatientSpec]:
    return validate_scenario(kap_clinic(weeks, *states, prep=prep)).patients


def shape(p: PatientSpec) -> tuple[str, int, tuple[int, str] | None, bool]:
    step = (p.step.after, p.step.protocol) if p.step is not None else None
    return p.protocol, p.sessions, step, p.follow_up is not None


def test_a_patient_in_preparation_gets_kap_prep_and_no_integration() -> None:
    new, one_left = expanded(1, {"done": 0}, {"done": 1})
    assert shape(new) == ("kap-prep", 1, None, False)
    assert shape(one_left) == ("kap-prep", 1, None, False)
    assert [w.max_sessions for w in new.per_week] == [1]


def test_a_horizon_crossing_from_preparation_into_dosing_steps_to_kap() -> None:
    new, one_left = expanded(4, {"done": 0}, {"done": 1})
    assert shape(new) == ("kap-prep", 4, (2, "kap"), True)
    assert shape(one_left) == ("kap-prep", 4, (1, "kap"), True)
    assert [w.max_sessions for w in new.per_week] == [1, 1, 1, 1]


def test_a_patient_past_preparation_doses_as_before() -> None:
    (dosing,) = expanded(2, {"done": 4})
    assert shape(dosing) == ("kap", 2, None, True)
    # the same state in a scenario without kap-prep: the library's preparation stage is left
    # out and done counts dosing sessions, as before kap-prep existed
    (old,) = expanded(2, {"done": 4}, prep=False)
    assert shape(old) == ("kap", 2, None, True)
    assert [w.max_sessions for w in old.per_week] == [1, 1]


def test_a_last_session_that_was_a_preparation_takes_no_integration() -> None:
    """Preparation done, last one on Friday: every session in the horizon is a dosing, and the
    step at 0 keeps Friday's preparation from being followed by an integration."""
    (p,) = expanded(1, {"done": 2, "history": ["2026-11-27", "2026-12-04"]})
    assert shape(p) == ("kap-prep", 1, (0, "kap"), True)
    problem = to_problem(validate_scenario(kap_clinic(1, {"done": 2, "history": [
        "2026-11-27", "2026-12-04"]})))
    assert follow_ups_wanted(problem) == {"K0": 1}  # the dosing's, not Friday's


def test_a_scenarios_own_course_must_name_a_known_stage_protocol() -> None:
    data = kap_clinic(1, {"done": 0})
    data["courses"] = [{"id": "mine", "name": "Mine", "protocol": "kap", "stages": [
        {"name": "prep", "sessions": 1, "protocol": "nope", "ideal_gap_days": [7, 7]},
        {"name": "dosing", "sessions": 2, "ideal_gap_days": [7, 7]}]}]
    with pytest.raises(InvalidInput) as info:
        validate_scenario(data)
    assert "courses[0].stages[0].protocol: unknown protocol 'nope'" in str(info.value)


DONE = st.integers(0, 9)


@settings(max_examples=40, deadline=None)
@given(DONE, st.integers(1, 8))
def test_derivation_prep_sessions_come_first_and_the_step_counts_them(
        done: int, weeks: int) -> None:
    """Property: the horizon's first min(sessions, preparations left) sessions are kap-prep,
    the rest kap; a follow-up exactly when some are kap."""
    course = library()["kap"]
    d = derive(course, CourseState(id="kap", done=done), START, 7 * weeks)
    left = max(0, 2 - done)
    prep = min(d.sessions, left)
    if d.step is None:
        protocols = [d.protocol] * d.sessions
    else:
        protocols = [d.protocol] * d.step.after + [d.step.protocol] * (d.sessions - d.step.after)
    assert protocols == ["kap-prep"] * prep + ["kap"] * (d.sessions - prep)
    assert d.follows == (d.sessions > prep or (d.sessions == 0 and left == 0))
    assert d.sessions == max(0, min(weeks, 8 - done))


# ----------------------------------------------------------------------------- solver
@pytest.mark.solve
def test_solver_places_preparation_by_video_and_integrations_only_after_dosing() -> None:
    """Two weeks: K0 has one preparation left (week 1) then doses (week 2); K1 is past
    preparation. Preparations are video sessions (no room); every integration follows a
    dosing by 1-3 days, never K0's preparation."""
    scenario, doc = solve_data(kap_clinic(2, {"done": 1}, {"done": 3}), seconds=1)
    assert check(scenario, doc) == []
    mine = placed(doc)
    assert [p for _, p, _ in mine["K0"] if p != "kap-integration"] == ["kap-prep", "kap"]
    assert all(room is None for _, p, room in mine["K0"] if p == "kap-prep")
    for pid in ("K0", "K1"):
        dosing = [d for d, p, _ in mine[pid] if p == "kap"]
        calls = [d for d, p, _ in mine[pid] if p == "kap-integration"]
        assert len(calls) == len(dosing) > 0, pid
        assert all(1 <= (c - d).days <= 3 for c, d in zip(calls, dosing, strict=True)), pid
    problem = to_problem(scenario)
    greedy = schedule_from_solution(scenario, problem, greedy_solve(problem)).to_json()
    assert check(scenario, greedy) == []
    assert [p for _, p, _ in placed(greedy)["K0"] if p != "kap-integration"] == [
        "kap-prep", "kap"]


def test_an_unplaced_dosing_after_preparation_leaves_one_integration_unplaced() -> None:
    """K0's dosing (week 2) cannot be placed (no private room): the explanation counts one
    missing integration (the dosing's), not one for the preparation too."""
    data = kap_clinic(2, {"done": 1})
    data["rooms"] = [r for r in data["rooms"] if "private" not in r.get("features", [])]
    scenario = validate_scenario(data)
    problem = to_problem(scenario)
    solution = greedy_solve(problem)
    follow = [u for u in solution.unplaced if "follow-up" in u.reason]
    assert [(u.patient, u.sessions) for u in follow] == [("K0", 1)]


@pytest.mark.solve
def test_a_four_week_plan_with_preparation_passes_check_on_the_expanded_scenario() -> None:
    scenario, doc = solve_data(kap_clinic(4, {"done": 0}, {"done": 1}, {"done": 5}),
                               seconds=1)
    plain = Scenario.model_validate(scenario.model_dump())
    assert check(plain, doc) == []
    mine = placed(doc)
    assert [p for _, p, _ in mine["K0"] if p != "kap-integration"][:2] == ["kap-prep"] * 2
    assert all(room is None for _, p, room in mine["K0"] + mine["K1"] if p == "kap-prep")
