"""Rolling weekly plans (``chairtime roll``): the last published schedule folded into the
course history, its sessions ahead kept as fixed, the next week planned."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.check import check
from scheduler.cli import main
from scheduler.courses import library, monday
from scheduler.documents import Schedule
from scheduler.errors import InvalidInput
from scheduler.library import DEMO, data_text
from scheduler.model import CourseSpec
from scheduler.usecases import load_input, plan_week
from scheduler.usecases.roll import (
    RollOptions,
    course_status,
    keep_courses,
    raw_scenario,
    roll,
    roll_scenario,
)
from scheduler.validate import parse_text, validate_scenario
from solver import Options
from tests.test_courses import clinic, esk

SEARCH = ["--time-limit", "2", "--workers", "1", "--seed", "0"]
DEMO_START = date(2026, 12, 7)


def _doc(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "schedule.json").read_text(encoding="utf-8"))
    return data


def _raw(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    return data


def _day(a: dict[str, Any]) -> date:
    return datetime.fromisoformat(a["start"]).date()


def _history(raw: dict[str, Any]) -> dict[str, list[str]]:
    return {p["id"]: [str(d) for d in p["course"].get("history") or []]
            for p in raw["patients"] if p.get("course")}


@pytest.fixture(scope="module")
def demo_week_1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("roll") / "week-1"
    assert main(["-q", "solve", "--out", str(out), *SEARCH]) == 0
    return out


@pytest.mark.solve
@pytest.mark.slow
def test_three_weeks_rolled_on_the_demo(demo_week_1: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Week 1 solved and published, then rolled twice (the second roll plans two weeks, the
    third keeps the second's week 3 as fixed): per-week counts within each patient's course
    label and every wanted session placed or listed, history grown by exactly the sessions
    published before each new horizon, published sessions ahead kept with their ids and
    times, new ids never reusing an earlier week's, and check valid on each week."""
    weeks: list[tuple[Path, date | None]] = [(demo_week_1, None)]
    rolls = [(tmp_path / "week-2", ["--weeks", "2"]), (tmp_path / "week-3", [])]
    previous = demo_week_1
    raw_before: dict[str, Any] = yaml.safe_load(
        Path(__file__).parents[1].joinpath("scheduler", "data", "demo.yaml").read_text(
            encoding="utf-8"))
    seen_ids = {a["id"] for a in _doc(demo_week_1)["appointments"]}
    for out, extra in rolls:
        scenario_args = [] if previous == demo_week_1 else [str(previous / "scenario.yaml")]
        code = main(["-q", "roll", *scenario_args, str(previous / "schedule.json"),
                     "--out", str(out), *SEARCH, *extra, "--json"])
        assert code == 0
        summary = json.loads(capsys.readouterr().out)
        raw_after = _raw(out)
        start = date.fromisoformat(str(raw_after["horizon"]["start"]))
        assert start == date.fromisoformat(str(raw_before["horizon"]["start"])) + timedelta(7)
        # history grows by exactly the published sessions before the new horizon
        before, after = _history(raw_before), _history(raw_after)
        published: dict[str, list[str]] = defaultdict(list)
        follow_ups = {p.id: p.follow_up.protocol for p in load_input(
            None if previous == demo_week_1 else previous / "scenario.yaml").patients
            if p.follow_up}
        for a in _doc(previous)["appointments"]:
            if _day(a) < start and follow_ups.get(a["patient"]) != a["protocol"]:
                published[a["patient"]].append(str(_day(a)))
        for pid, dates in after.items():
            assert dates == sorted({*before[pid], *published[pid]}), pid
        assert sum(map(len, summary["folded"].values())) == sum(map(len, published.values()))
        # published sessions ahead stay, same ids and times; new ids are new
        doc = _doc(out)
        by_id = {a["id"]: a for a in doc["appointments"]}
        ahead = [a for a in _doc(previous)["appointments"] if _day(a) >= start]
        assert sorted(summary["kept"]) == sorted(a["id"] for a in ahead)
        for a in ahead:
            kept = by_id[a["id"]]
            assert (kept["start"], kept["room"], kept["staff"]) == (
                a["start"], a["room"], a["staff"])
        new_ids = set(by_id) - {a["id"] for a in ahead}
        assert not new_ids & seen_ids
        seen_ids |= new_ids
        # check passes on the expanded scenario (file with courses, as check expands it)
        scenario = load_input(out / "scenario.yaml")
        assert check(scenario, doc) == []
        assert main(["check", str(out / "scenario.yaml"), str(out / "schedule.json")]) == 0
        capsys.readouterr()
        _counts_follow_the_label(raw_after, scenario, doc)
        weeks.append((out, start))
        previous, raw_before = out, raw_after
    assert len(weeks) == 3


def _counts_follow_the_label(raw: dict[str, Any], scenario: Any, doc: dict[str, Any]) -> None:
    """Every patient's sessions per calendar week stay within the course's cadence (the
    stage's per_week; the previous stage's for worsening maintenance) and the expanded cap,
    and placed plus unplaced is what the course wants in the horizon."""
    courses = {**library(), **{c["id"]: CourseSpec.model_validate(c)
                               for c in raw.get("courses") or []}}
    plain = {p.id: p for p in scenario.patients}
    unplaced = Counter({u["patient"]: u["sessions"] for u in doc["unplaced"]})
    placed: dict[str, Counter[date]] = defaultdict(Counter)
    follow_ups = {p.id: p.follow_up.protocol for p in scenario.patients if p.follow_up}
    for a in doc["appointments"]:
        if follow_ups.get(a["patient"]) != a["protocol"]:  # a follow-up is not a course session
            placed[a["patient"]][monday(_day(a))] += 1
    for p in raw["patients"]:
        if not p.get("course"):
            continue
        course = courses[p["course"]["id"]]
        most = max(s.per_week for s in course.stages)
        caps = {w.week: w.max_sessions for w in plain[p["id"]].per_week}
        for week, n in placed[p["id"]].items():
            assert n <= caps[week] <= most, (p["id"], week)
        if p["id"] not in follow_ups:  # unplaced follow-ups are listed with their patient
            assert sum(placed[p["id"]].values()) + unplaced[p["id"]] == plain[p["id"]].sessions


@pytest.mark.solve
@pytest.mark.slow
def test_missed_session_in_week_2_still_completes_induction_within_45_days() -> None:
    """A new esketamine patient (induction: 8 sessions, twice a week, within 45 days) misses
    one session in week 2: weekly rolls continue the series (the missed date is not in the
    history), and the eighth session comes within 45 days of the first."""
    new = esk("P01", [])
    new["protocol"] = "esk-56"
    new["course"].pop("dose")
    data = clinic([new, esk("P02", ["2026-11-30", "2026-12-03"])], weeks=1, rooms=1)
    options = Options(time_limit=2, workers=1, seed=0)
    scenario = validate_scenario(data)
    schedule: Schedule = plan_week(scenario, options).schedule
    assert check(scenario, schedule.to_json()) == []
    first = min(a.start.date() for a in schedule.appointments if a.patient == "P01")
    missed: str | None = None
    missed_day = first
    for week in range(2, 9):
        result = roll(data, schedule, RollOptions(missed=(missed,) if missed else ()), options)
        assert result.violations == []
        assert check(result.rolled.scenario, result.schedule.to_json()) == []
        if missed:
            history = next(p for p in result.rolled.data["patients"]
                           if p["id"] == "P01")["course"]["history"]
            assert len(history) >= 3 and missed_day.isoformat() not in history
        data, schedule = result.rolled.data, result.schedule
        missed = None
        if week == 2:  # the first of P01's week-2 sessions does not take place
            taken = sorted((a.start, a.id) for a in schedule.appointments if a.patient == "P01")
            missed, missed_day = taken[0][1], taken[0][0].date()
        course = next(p for p in data["patients"] if p["id"] == "P01")["course"]
        if len(course.get("history", [])) >= 8:
            break
    history = sorted(date.fromisoformat(str(d)) for d in course["history"])
    assert history[0] == first and len(history) >= 8
    assert (history[7] - history[0]).days < 45
    assert course["dose"] == 56  # the dose received is kept until the clinician steps it up


def _bad(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-q", "roll", *args]) == 2
    return capsys.readouterr().err


@pytest.mark.solve
def test_bad_input_exits_2_naming_the_field(demo_week_1: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Another clinic's schedule, a horizon going backwards, a missed id not in the schedule
    and a missed session not yet due: exit 2, each message naming its field."""
    previous = demo_week_1 / "schedule.json"
    out = ["--out", str(tmp_path / "out")]
    other = json.loads(previous.read_text(encoding="utf-8"))
    other["scenario"] = "Lakeside Infusion Center"
    other["appointments"][0]["patient"] = "P999"
    foreign = tmp_path / "lakeside.json"
    foreign.write_text(json.dumps(other), encoding="utf-8")
    err = _bad([str(foreign), *out], capsys)
    assert "lakeside.json.scenario: is 'Lakeside Infusion Center', not this scenario's " \
           "clinic 'Riverside Ketamine Clinic'" in err
    assert "lakeside.json.appointments[0].patient: unknown patient 'P999'" in err
    err = _bad([str(previous), "--start", "2026-11-30", *out], capsys)
    assert "--start: 2026-11-30 is not after the previous horizon's start (2026-12-07)" in err
    err = _bad([str(previous), "--missed", "A-0002, A-9999", *out], capsys)
    assert "--missed[1]: unknown appointment 'A-9999': not in schedule.json" in err
    assert "--missed[0]" not in err
    err = _bad([str(previous), "--now", "2026-12-15T09:00:00-05:00", "--weeks", "9", *out],
               capsys)
    assert "--now: 2026-12-15T09:00:00-05:00 is after the new horizon starts" in err
    assert "--weeks: 9 is not between 1 and 8" in err
    assert not (tmp_path / "out").exists()


def test_the_roll_names_its_own_options_not_the_flags(demo_week_1: Path) -> None:
    """The use case speaks in its options (``start``, ``missed[j]``, ``now``, ``weeks``); the
    command line alone says ``--start`` and the like."""
    previous = Schedule.model_validate(_doc(demo_week_1))
    with pytest.raises(InvalidInput) as caught:
        roll_scenario(raw_scenario(None), previous, RollOptions(
            start=date(2026, 11, 30), missed=("A-9999",), weeks=9,
            now=datetime.fromisoformat("2026-12-15T09:00:00-05:00")))
    assert {i.path for i in caught.value.issues} == {"missed[0]", "now", "start", "weeks"}


def test_a_replanned_scenario_keeps_its_courses() -> None:
    """What a re-plan stores (the scenario after its events, expanded) goes back to the form
    the clinic keeps: courses as they were, the events' changes (an absence) kept; when an
    event changed what a course patient wants (more sessions), the plain form stays."""
    given = clinic([esk("P01", ["2026-11-30", "2026-12-03"])], weeks=1)
    expanded = validate_scenario(given)
    absent = expanded.model_copy(update={"staff": [
        s.model_copy(update={"time_off": [date(2026, 12, 9)]}) if s.id == "N1" else s
        for s in expanded.staff]})
    kept = keep_courses(given, absent)
    assert isinstance(kept, dict)
    assert kept["patients"][0]["course"] == given["patients"][0]["course"]
    assert "sessions" not in kept["patients"][0]
    assert next(s for s in kept["staff"] if s["id"] == "N1")["time_off"] == ["2026-12-09"]
    assert validate_scenario(kept).patients == absent.patients
    more = absent.model_copy(update={"patients": [
        p.model_copy(update={"sessions": p.sessions + 1}) for p in absent.patients]})
    assert keep_courses(given, more) is more


def test_course_status_reads_the_stages_the_scenario_has() -> None:
    """The patient page's course status: a KAP patient one preparation in is in preparation
    where the clinic has ``kap-prep``, and in dosing where it has not (the derivation plans that
    course without its preparation stage, and the status says the same)."""
    data = parse_text(data_text(DEMO))
    start = date.fromisoformat(str(data["horizon"]["start"]))
    status = course_status(data, "P090", start)
    assert status is not None and (status.stage, status.in_stage) == ("preparation", 1)
    data["protocols"] = [p for p in data["protocols"] if p["id"] != "kap-prep"]
    status = course_status(data, "P090", start)
    assert status is not None and status.stage == "dosing"
