"""Treatment courses: derivation from course state and history, the per-week extension
(solver, greedy and checker), multi-week plans and the ``expand`` command."""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.check import check
from scheduler.cli import main
from scheduler.compile import to_problem
from scheduler.courses import derive, expand, library, monday
from scheduler.errors import InvalidInput
from scheduler.model import CourseState
from scheduler.usecases import load_input
from scheduler.validate import validate_scenario
from solver import greedy_solve
from tests.conftest import ESK, solve_data
from tests.test_check import appointment, base

START = date(2026, 12, 7)  # a Monday
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def _days(first: date, *offsets: int) -> list[str]:
    return [str(first + timedelta(days=k)) for k in offsets]


def clinic(patients: list[dict[str, Any]], weeks: int, rooms: int = 2) -> dict[str, Any]:
    """Mon-Fri 08:00-18:00 from Mon 2026-12-07 for ``weeks`` weeks; esk-56/esk-84 (the
    library's protocols), ``rooms`` recliner rooms, two nurses, a prescriber."""
    hours = {d: [["08:00", "18:00"]] for d in WEEKDAYS}
    esk56 = copy.deepcopy(ESK) | {"id": "esk-56", "name": "Esketamine 56 mg",
                                  "requires_rems": True}
    esk84 = copy.deepcopy(ESK) | {"id": "esk-84", "requires_rems": True}
    return {
        "version": 1,
        "clinic": {"name": "Course Clinic", "timezone": "America/New_York", "hours": hours},
        "horizon": {"start": str(START), "days": 7 * weeks},
        "protocols": [esk56, esk84],
        "rooms": [{"id": f"R{i}", "features": ["recliner"]} for i in range(1, rooms + 1)],
        "staff": [{"id": n, "role": "nurse", "qualifications": ["spravato"], "max_patients": 4,
                   "shifts": hours} for n in ("N1", "N2")]
        + [{"id": "D1", "role": "prescriber", "max_patients": 0, "shifts": hours}],
        "patients": patients,
    }


def esk(pid: str, history: list[str], **course: Any) -> dict[str, Any]:
    return {"id": pid, "protocol": "esk-84", "rems_enrolled": True,
            "course": {"id": "esk-trd", "history": history, "dose": 84, **course}}


# Induction on Mondays and Thursdays from Mon 2026-11-16: weeks 1-3 done, this is week 4.
WEEKS_1_TO_3 = _days(date(2026, 11, 16), 0, 3, 7, 10, 14, 17)


def per_week(doc: dict[str, Any], patient: str) -> dict[date, int]:
    counts: Counter[date] = Counter()
    for a in doc["appointments"]:
        if a["patient"] == patient:
            counts[monday(datetime.fromisoformat(a["start"]).date())] += 1
    return dict(counts)


def session_days(doc: dict[str, Any], patient: str) -> list[date]:
    return sorted(datetime.fromisoformat(a["start"]).date() for a in doc["appointments"]
                  if a["patient"] == patient)


# ------------------------------------------------------------------ the issue's cases
@pytest.mark.solve
def test_week_4_of_induction_gets_two_sessions_this_week_and_one_a_week_after() -> None:
    scenario, doc = solve_data(clinic([esk("P01", WEEKS_1_TO_3)], weeks=2), seconds=1)
    (p,) = scenario.patients
    assert [(w.week, w.max_sessions) for w in p.per_week] == [
        (START, 2), (START + timedelta(days=7), 1)]
    assert p.sessions == 3 and p.protocol == "esk-84"
    assert per_week(doc, "P01") == {START: 2, START + timedelta(days=7): 1}
    assert check(scenario, doc) == []


@pytest.mark.solve
def test_four_week_plan_has_the_labels_counts_per_calendar_week() -> None:
    patients = [
        esk("P01", []),                                     # new: week 1 of induction
        esk("P02", WEEKS_1_TO_3[:2]),                       # week 2
        esk("P03", WEEKS_1_TO_3),                           # week 4
        esk("P04", [], done=14, every_weeks=2),             # maintenance every 2 weeks
    ]
    patients[0]["protocol"] = "esk-56"
    patients[0]["course"].pop("dose")
    patients[3]["last_session"] = "2026-11-24"  # due again on Tue 2026-12-08
    scenario, doc = solve_data(clinic(patients, weeks=4), seconds=1)
    weeks = [START + timedelta(days=7 * k) for k in range(4)]
    label = {  # the Spravato label: weeks 1-4 twice a week, 5-8 weekly, then every 2 weeks
        "P01": [2, 2, 2, 2], "P02": [2, 2, 2, 1], "P03": [2, 1, 1, 1], "P04": [1, 0, 1, 0]}
    for pid, counts in label.items():
        wanted = {w: n for w, n in zip(weeks, counts, strict=True) if n}
        assert per_week(doc, pid) == wanted, pid
    assert scenario.patients[0].protocol == "esk-56"  # a new patient's first dose is 56 mg
    assert check(scenario, doc) == []


@pytest.mark.solve
def test_missed_week_2_session_still_completes_induction_within_45_days() -> None:
    started = date(2026, 11, 16)
    missed = [d for d in WEEKS_1_TO_3 if d != "2026-11-26"]  # week 2's Thursday missed
    scenario, doc = solve_data(clinic([esk("P01", missed)], weeks=3), seconds=1)
    days = session_days(doc, "P01")
    assert scenario.patients[0].priority == 4  # behind the label's pace: raised
    induction = [date.fromisoformat(d) for d in missed] + days
    assert len(induction) >= 8
    eighth = sorted(induction)[7]
    assert (eighth - started).days < 45
    assert all((b - a).days >= 2 for a, b in itertools.pairwise(days))


@pytest.mark.solve
def test_multi_week_schedule_passes_check_on_the_expanded_scenario(tmp_path: Path) -> None:
    patients = [esk(f"P0{i}", WEEKS_1_TO_3[: 2 * i]) for i in range(4)]
    source = tmp_path / "courses.yaml"
    source.write_text(yaml.safe_dump(clinic(patients, weeks=1)), encoding="utf-8")
    plain = tmp_path / "plain.yaml"
    assert main(["-q", "expand", str(source), "--weeks", "3", "--out", str(plain)]) == 0
    written = yaml.safe_load(plain.read_text(encoding="utf-8"))
    assert written["version"] == 1 and written["horizon"]["days"] == 21
    assert all("course" not in p and p["per_week"] and {"sessions", "min_gap_days", "priority"}
               <= p.keys() for p in written["patients"])
    out = tmp_path / "out"
    assert main(["-q", "solve", str(source), "--weeks", "3", "--out", str(out),
                 "--time-limit", "1", "--workers", "2"]) == 0
    assert main(["-q", "check", str(plain), str(out / "schedule.json")]) == 0
    doc = json.loads((out / "schedule.json").read_text(encoding="utf-8"))
    assert {a["rems_form_due"] for a in doc["appointments"]} == {
        str(datetime.fromisoformat(a["start"]).date() + timedelta(days=7))
        for a in doc["appointments"]}
    forms = (out / "rems.csv").read_text(encoding="utf-8").splitlines()
    assert forms[0] == "appointment,patient,protocol,session,form_due"
    assert len(forms) == 1 + len(doc["appointments"])
    assert set(doc["kpis"]["continuity"]) >= {"pairs", "same_nurse", "same_nurse_share",
                                             "mean_time_shift_minutes"}
    assert sum(doc["kpis"]["by_week"].values()) == len(doc["appointments"])


# ------------------------------------------------------------------ derivation: properties
STATES = st.builds(
    lambda course, done, every, worsening, since: (course, done, every, worsening, since),
    st.sampled_from(sorted(library())), st.integers(0, 40), st.sampled_from((None, 1, 2, 3)),
    st.booleans(), st.integers(1, 30))


@settings(max_examples=300, deadline=None)
@given(STATES, st.integers(1, 8), st.integers(0, 6))
@pytest.mark.slow
def test_derivation_keeps_the_library_rules(state: tuple[str, int, int | None, bool, int],
                                            weeks: int, weekday: int) -> None:
    cid, done, every, worsening, since = state
    course = library()[cid]
    start = START + timedelta(days=weekday)
    last = start - timedelta(days=since) if done else None
    got = derive(course, CourseState(id=cid, done=done, every_weeks=every,
                                     worsening=worsening), start, 7 * weeks, last)
    stages = course.stages
    finite = sum(s.sessions or 0 for s in stages) if stages[-1].sessions else None
    assert got.sessions == sum(w.sessions for w in got.weeks)
    assert next(w.week for w in got.weeks) == monday(start)
    assert all(w.week.weekday() == 0 for w in got.weeks)
    if finite is not None:  # never more than the course still has
        assert got.sessions <= max(0, finite - done)
    count = done
    for w in got.weeks:
        assert 1 <= w.priority <= 5
        assert w.ideal_gap_days[0] <= w.ideal_gap_days[1]
        assert w.min_gap_days <= w.ideal_gap_days[0]
        if w.sessions == 0:
            continue
        stage = next(s for s in stages if s.name == w.stage)
        index = stages.index(stage)
        allowed = stages[index - 1].per_week if worsening and index and not stage.sessions \
            else stage.per_week
        assert w.sessions <= allowed  # the stage's (or, worsening, the previous) frequency
        before = sum(s.sessions or 0 for s in stages[:index])
        if stage.sessions is not None:  # a week never runs past its stage's end
            assert before <= count < before + stage.sessions
            assert count + w.sessions <= before + stage.sessions
        if w.behind:
            assert w.priority > stage.priority
        count += w.sessions
    open_ended = [w for w in got.weeks if w.stage == stages[-1].name and stages[-1].sessions
                  is None and w.week > monday(start)]
    k = every or stages[-1].every_weeks
    if open_ended and not worsening and k > 1:  # every k weeks: never in two weeks closer
        booked = [w.week for w in open_ended if w.sessions]
        assert all((b - a).days >= 7 * (k - 1) for a, b in itertools.pairwise(booked))


def test_worsening_maintenance_returns_to_the_previous_frequency() -> None:
    course = library()["esk-trd"]
    steady = derive(course, CourseState(id="esk-trd", done=20, every_weeks=2), START, 28,
                    START - timedelta(days=3))
    worse = derive(course, CourseState(id="esk-trd", done=20, every_weeks=2, worsening=True),
                   START, 28, START - timedelta(days=3))
    assert [w.sessions for w in steady.weeks] == [0, 1, 0, 1]
    assert [w.sessions for w in worse.weeks] == [1, 1, 1, 1]


def test_a_course_complete_wants_nothing_more() -> None:
    got = derive(library()["esk-mdsi"], CourseState(id="esk-mdsi", done=8, dose=84),
                 START, 14)
    assert got.sessions == 0 and [w.stage for w in got.weeks] == ["complete", "complete"]


def test_scenario_courses_add_to_the_library() -> None:
    data = clinic([{"id": "P01", "protocol": "esk-84", "rems_enrolled": True,
                    "course": {"id": "weekly", "done": 3}}], weeks=2)
    data["courses"] = [{"id": "weekly", "name": "Weekly esketamine", "protocol": "esk-84",
                        "stages": [{"name": "maintenance", "ideal_gap_days": [7, 7]}]}]
    (p,) = validate_scenario(data).patients
    assert p.sessions == 2 and [w.max_sessions for w in p.per_week] == [1, 1]


# ------------------------------------------------------------------ validation
def test_course_problems_name_their_field_paths() -> None:
    data = clinic([
        {"id": "P01", "protocol": "esk-84", "course": {"id": "esk-xyz"}},
        {"id": "P02", "protocol": "esk-84", "sessions": 2, "course": {"id": "esk-trd",
                                                                     "dose": 70}},
        {"id": "P03", "protocol": "esk-84", "course": {"id": "esk-trd",
                                                       "history": ["2026-12-08"]}},
        {"id": "P04", "protocol": "esk-84",
         "per_week": [{"week": "2026-12-08", "max_sessions": 1}]},
    ], weeks=2)
    with pytest.raises(InvalidInput) as caught:
        validate_scenario(data)
    paths = {i.path: i.message for i in caught.value.issues}
    assert paths["patients[0].course.id"].startswith("unknown course 'esk-xyz' (known: ")
    assert paths["patients[1].sessions"] == ("is derived from the course; leave it out (or "
                                             "drop the course)")
    assert paths["patients[1].course.dose"] == "70 mg is not a dose step of esk-trd (56, 84)"
    assert paths["patients[2].course.history[0]"].startswith("2026-12-08 is not before")
    assert "is a Tuesday; name the Monday" in paths["patients[3].per_week[0]"]


def test_scenario_without_courses_is_unchanged_by_expansion() -> None:
    data = clinic([{"id": "P01", "protocol": "esk-84", "rems_enrolled": True,
                    "sessions": 2}], weeks=1)
    scenario = validate_scenario(data)
    assert expand(scenario) is scenario
    assert scenario.patients[0].per_week == []


def test_weeks_outside_one_to_eight_are_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_input(None, None, 9)
    assert str(caught.value.issues[0]) == "weeks: 9 is not between 1 and 8"


# ------------------------------------------------------------------ per_week: kept / broken
def _capped(cap: int) -> Any:
    data = base()
    data["patients"][0] |= {"sessions": 3, "per_week": [{"week": "2026-12-07",
                                                         "max_sessions": cap}]}
    return validate_scenario(data)


def _three_sessions() -> dict[str, Any]:
    return {"appointments": [appointment("A1", "P01", "2026-12-07T09:00"),
                             appointment("A2", "P01", "2026-12-09T09:00"),
                             appointment("A3", "P01", "2026-12-11T09:00")]}


def test_per_week_kept() -> None:
    assert check(_capped(3), _three_sessions()) == []


def test_per_week_broken() -> None:
    (v,) = check(_capped(2), _three_sessions())
    assert (v.rule, v.appointment) == ("patients", "A3")
    assert v.what == "P01 has 3 appointments in the week of 2026-12-07; at most 2 wanted"


def test_per_week_counts_calendar_weeks_not_horizon_days() -> None:
    data = base()
    data["horizon"] = {"start": "2026-12-10", "days": 7}  # Thursday to Wednesday
    data["patients"][0] |= {"sessions": 3, "per_week": [
        {"week": "2026-12-07", "max_sessions": 1}, {"week": "2026-12-14", "max_sessions": 2}]}
    scenario = validate_scenario(data)
    doc = {"appointments": [appointment("A1", "P01", "2026-12-11T09:00"),
                            appointment("A2", "P01", "2026-12-14T09:00"),
                            appointment("A3", "P01", "2026-12-16T09:00")]}
    assert check(scenario, doc) == []
    doc["appointments"][1] = appointment("A2", "P01", "2026-12-13T09:00")
    assert [v.appointment for v in check(scenario, doc)] == ["A2"]


@pytest.mark.solve
def test_solver_and_greedy_keep_the_week_cap() -> None:
    data = clinic([{"id": "P01", "protocol": "esk-84", "rems_enrolled": True, "sessions": 4,
                    "per_week": [{"week": "2026-12-07", "max_sessions": 1},
                                 {"week": "2026-12-14", "max_sessions": 2}]}], weeks=2)
    scenario, doc = solve_data(data, seconds=1)
    assert per_week(doc, "P01") == {START: 1, START + timedelta(days=7): 2}
    first_fit = greedy_solve(to_problem(scenario))
    weeks = Counter(a.day // 7 for a in first_fit.appointments)
    assert weeks == {0: 1, 1: 2}
    assert first_fit.unplaced[0].sessions == 1


@pytest.mark.solve
def test_spacing_is_kept_close_to_the_ideal() -> None:
    scenario, doc = solve_data(clinic([esk("P01", WEEKS_1_TO_3[:4])], weeks=2), seconds=3)
    days = session_days(doc, "P01")
    gaps = [(b - a).days for a, b in zip([date(2026, 11, 26), *days], days, strict=False)]
    assert len(days) == 4
    assert all(3 <= g <= 4 for g in gaps[1:]), gaps  # the twice-weekly ideal: 3-4 days
    assert check(scenario, doc) == []


def test_the_demo_clinics_patients_carry_courses() -> None:
    from scheduler.library import DEMO, data_text
    from scheduler.validate import parse_text

    raw = parse_text(data_text(DEMO))
    assert all("course" in p for p in raw["patients"])
    week = load_input()
    # the busy demo week as before, and P113, a new esketamine patient stepping 56 -> 84 mg
    assert sum(p.sessions for p in week.patients) == 129 + 2
    assert sum(p.follow_up is not None for p in week.patients) == 5  # KAP integration
    # and two KAP patients in preparation (kap-prep, by video), who want no integration yet
    assert sorted((p.id, p.protocol) for p in week.patients if p.protocol == "kap-prep") == [
        ("P046", "kap-prep"), ("P090", "kap-prep")]
    month = load_input(None, None, 4)
    assert all(len(p.per_week) == 4 for p in month.patients)
    assert all(p.sessions == sum(w.max_sessions for w in p.per_week) for p in month.patients)


PATIENTS = st.lists(st.tuples(st.sampled_from(("esk-trd", "esk-mdsi")), st.integers(0, 20),
                              st.sampled_from((None, 1, 2)), st.booleans(),
                              st.integers(2, 16)), min_size=1, max_size=5)


@settings(max_examples=6, deadline=None)
@given(PATIENTS, st.integers(2, 4))
@pytest.mark.solve
@pytest.mark.slow
def test_every_multi_week_schedule_passes_check_on_the_expanded_scenario(
        mix: list[tuple[str, int, int | None, bool, int]], weeks: int) -> None:
    patients = []
    for n, (cid, done, every, worsening, since) in enumerate(mix):
        p = esk(f"P{n:02d}", [], done=done, every_weeks=every, worsening=worsening)
        p["course"]["id"] = cid
        if done:
            p["last_session"] = str(START - timedelta(days=since))
        else:
            p["course"]["dose"] = 84 if cid == "esk-mdsi" else 56
            p["protocol"] = "esk-84" if cid == "esk-mdsi" else "esk-56"
        patients.append(p)
    scenario, doc = solve_data(clinic(patients, weeks=weeks, rooms=1), seconds=1)
    assert check(scenario, doc) == []  # solve_data's own check ran on the same scenario
    for expanded in scenario.patients:
        caps = {w.week: w.max_sessions for w in expanded.per_week}
        assert all(n <= caps[w] for w, n in per_week(doc, expanded.id).items())
