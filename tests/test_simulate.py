"""The day's replay (scheduler.usecases.simulate): closed-form days worked out by hand, the
vectorised dispatch against the per-run loop, and properties (more slack never raises the risk;
the same seed gives the same figures)."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.simulate import dispatch_loop
from scheduler.check import check
from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Appointment, Phase, Schedule, schedule_from_solution
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.usecases import load_input
from scheduler.usecases.simulate import (
    Delay,
    Draws,
    PatientRecord,
    ProtocolRisk,
    SimulationSettings,
    build,
    dispatch,
    draw,
    read_settings,
    risk_by_day,
    simulate,
    summarise,
)
from scheduler.validate import validate_scenario
from solver import greedy_solve
from tests.conftest import ESK, patients, scenario_dict

MONDAY = date(2026, 12, 7)
CERTAIN = SimulationSettings.certain()


def clinic(until: str = "18:00", chairs: int = 1, max_patients: int = 4,
           slow: bool = False) -> Scenario:
    """The conftest clinic open 08:00-``until`` (nurse and prescriber on shift as long), four
    patients, and a second protocol ``esk-slow`` (the same esketamine session; P01's) when
    ``slow``."""
    hours = {"mon": [["08:00", until]]}
    data = scenario_dict(clinic={"name": "Test Clinic", "timezone": "America/New_York",
                                 "slot_minutes": 5, "hours": hours},
                         patients=patients(4, rems_enrolled=True))
    data["rooms"][0]["chairs"] = chairs
    for member in data["staff"]:
        member["shifts"] = hours
    data["staff"][0]["max_patients"] = max_patients
    if slow:
        data["protocols"].append({**copy.deepcopy(ESK), "id": "esk-slow"})
        data["patients"][0]["protocol"] = "esk-slow"
    return validate_scenario(data)


def book(scenario: Scenario, *sessions: tuple[str, int]) -> Schedule:
    """A hand-written schedule: (protocol, minutes after 08:00 on Monday) per session, ids and
    patients numbered in order, every session in R1 with N1."""
    clock = SlotClock(scenario)
    out = []
    for n, (protocol, minute) in enumerate(sessions, start=1):
        t = clock.wall(MONDAY, "08:00") + timedelta(minutes=minute)
        phases = []
        for spec in scenario.protocol(protocol).phases:
            phases.append(Phase(name=spec.name, start=t, end=t + timedelta(minutes=spec.minutes)))
            t = phases[-1].end
        out.append(Appointment(id=f"A-{n:04d}", patient=f"P{n:02d}", protocol=protocol,
                               room="R1", staff={"nurse": "N1"}, start=phases[0].start,
                               end=phases[-1].end, phases=phases))
    return Schedule(appointments=out)


CHAIN = (0, 160, 320)
"""Three 150-minute sessions back to back in one chair (10 minutes of turnover between)."""


def chain(scenario: Scenario, first: str = "esk") -> Schedule:
    schedule = book(scenario, (first, CHAIN[0]), ("esk", CHAIN[1]), ("esk", CHAIN[2]))
    assert check(scenario, schedule.to_json()) == []
    return schedule


def starts(scenario: Scenario, schedule: Schedule, settings: SimulationSettings,
           runs: int = 3) -> Any:
    """Minutes after 08:00 each session started, per run."""
    plan = build(scenario, schedule, settings)
    outcome = dispatch(plan, draw(plan, runs, 0))
    return outcome.start - plan.booked[0]


# ----------------------------------------------------------------------------- closed form


def test_one_chair_without_randomness_has_no_waits_and_no_overtime() -> None:
    scenario = clinic()
    result = simulate(scenario, chain(scenario), CERTAIN, runs=20, seed=1)
    day = result.days[0]
    assert starts(scenario, chain(scenario), CERTAIN).tolist() == [list(CHAIN)] * 3
    assert (day.sessions, day.p_past_closing, day.p_overtime, day.expected_wait_minutes,
            day.p_chair_wait, day.p_staff_wait, day.expected_idle_chair_minutes) == \
        (3, 0, 0, 0, 0, 0, 0)
    assert day.expected_overtime_minutes == {"nurse": 0, "prescriber": 0}
    assert result.fragile == []
    assert risk_by_day(result) == {MONDAY: 0.0}


def test_a_certain_overrun_of_k_minutes_makes_every_later_session_k_minutes_late() -> None:
    k = 20.0
    scenario = clinic(until="16:00", slow=True)   # the third session ends at 15:50 booked
    slow = SimulationSettings.certain().model_copy(update={"protocols": {"esk-slow": ProtocolRisk(
        overrun=Delay(share=1.0, mean_minutes=k, max_minutes=k, shape="fixed"))}})
    schedule = chain(scenario, first="esk-slow")
    assert starts(scenario, schedule, slow).tolist() == [[0, 160 + k, 320 + k]] * 3
    result = simulate(scenario, schedule, slow, runs=10, seed=0)
    day = result.days[0]
    # by hand: the third session ends 15:50 + 20 = 16:10, its monitoring 15:45 + 20 = 16:05;
    # clinic, nurse and prescriber all stop at 16:00
    assert (day.p_past_closing, day.expected_minutes_past_closing) == (1.0, 10.0)
    assert day.expected_overtime_minutes == {"nurse": 10.0, "prescriber": 5.0}
    assert (day.p_overtime, day.p_overtime_15, day.p_overtime_30) == (1.0, 0.0, 0.0)
    assert (day.expected_wait_minutes, day.mean_wait_minutes) == (2 * k, 2 * k / 3)
    assert (day.p_chair_wait, day.p_staff_wait) == (1.0, 0.0)   # the nurse has room for 4
    assert [(s.id, s.p_late, s.mean_delay_minutes) for s in result.fragile] == \
        [("A-0002", 1.0, k), ("A-0003", 1.0, k)]
    assert risk_by_day(result, beyond=9) == {MONDAY: 1.0}
    assert risk_by_day(result, beyond=10) == {MONDAY: 0.0}


def test_overruns_everywhere_add_up_along_the_chain() -> None:
    scenario = clinic()
    every = CERTAIN.model_copy(update={"overrun": Delay(share=1.0, mean_minutes=15,
                                                        max_minutes=15, shape="fixed")})
    assert starts(scenario, chain(scenario), every).tolist() == [[0, 175, 350]] * 3


def test_a_late_patient_pushes_their_own_session_not_the_next_one_beyond_it() -> None:
    scenario = clinic()
    late = CERTAIN.model_copy(update={"late": Delay(share=1.0, mean_minutes=30, max_minutes=30,
                                                    shape="fixed")})
    # each patient 30 min late: the chair is free again exactly when the next one arrives
    assert starts(scenario, chain(scenario), late).tolist() == [[30, 190, 350]] * 3
    assert simulate(scenario, chain(scenario), late, runs=5).days[0].p_chair_wait == 0.0


def test_a_no_show_rate_of_one_leaves_the_booked_chair_minutes_idle() -> None:
    scenario = clinic()
    result = simulate(scenario, chain(scenario), CERTAIN.model_copy(update={"no_show_rate": 1.0}),
                      runs=50, seed=3)
    day = result.days[0]
    assert day.expected_idle_chair_minutes == 3 * 150
    assert (day.expected_no_shows, day.p_overtime, day.expected_wait_minutes) == (3, 0, 0)


def test_the_nurse_ratio_holds_in_real_time() -> None:
    """Two chairs, a nurse for one patient at a time: the first session's overrun makes the
    second (in the other chair, booked when the first should end) wait for the nurse."""
    scenario = clinic(chairs=2, max_patients=1, slow=True)
    schedule = book(scenario, ("esk-slow", 0), ("esk", 150))
    assert check(scenario, schedule.to_json()) == []
    slow = CERTAIN.model_copy(update={"protocols": {"esk-slow": ProtocolRisk(
        overrun=Delay(share=1.0, mean_minutes=25, max_minutes=25, shape="fixed"))}})
    assert starts(scenario, schedule, slow).tolist() == [[0, 175]] * 3
    day = simulate(scenario, schedule, slow, runs=4).days[0]
    assert (day.p_staff_wait, day.p_chair_wait) == (1.0, 0.0)


def test_a_late_first_patient_holds_the_nurses_hands_through_intake_and_dosing() -> None:
    """Sessions 25 minutes apart in two chairs: the first patient 10 minutes late keeps the
    nurse hands-on until 08:35, so the second (booked 08:25) waits 10 minutes."""
    scenario = clinic(chairs=2)
    schedule = book(scenario, ("esk", 0), ("esk", 25))
    assert check(scenario, schedule.to_json()) == []
    plan = build(scenario, schedule, CERTAIN)
    zero = np.zeros((1, 2))
    draws = Draws(no_show=zero.astype(bool), late=np.array([[10.0, 0.0]]), overrun=zero,
                  absent=np.zeros((1, *plan.on_shift.shape), dtype=bool))
    outcome = dispatch(plan, draws)
    assert (outcome.start - plan.booked[0]).tolist() == [[10, 35]]
    assert outcome.wait.tolist() == [[0, 10]]
    assert outcome.staff_wait.tolist() == [[False, True]]


def test_a_patient_who_is_there_goes_before_a_late_one() -> None:
    """Two chairs, one nurse: A (08:00) is 20 minutes late, B (08:10) is on time, so the nurse
    doses B first (hands-on until 08:35) and A waits for her from 08:20 to 08:35."""
    scenario = clinic(chairs=2)
    schedule = book(scenario, ("esk", 0), ("esk", 10))
    plan = build(scenario, schedule, CERTAIN)
    zero = np.zeros((1, 2))
    outcome = dispatch(plan, Draws(no_show=zero.astype(bool), late=np.array([[20.0, 0.0]]),
                                   overrun=zero,
                                   absent=np.zeros((1, *plan.on_shift.shape), dtype=bool)))
    assert (outcome.start - plan.booked[0]).tolist() == [[35, 10]]
    assert outcome.wait.tolist() == [[15, 0]]


def test_an_absent_nurse_without_a_stand_in_cancels_the_session() -> None:
    scenario = clinic()
    result = simulate(scenario, chain(scenario),
                      CERTAIN.model_copy(update={"staff_absence_rate": 1.0}), runs=10)
    day = result.days[0]
    assert (day.expected_cancelled, day.expected_no_shows, day.p_on_site_gap) == (3, 0, 0)


def test_a_stand_in_takes_over_and_an_absent_prescriber_leaves_an_on_site_gap() -> None:
    data = scenario_dict(patients=patients(3, rems_enrolled=True))
    data["staff"].append({**data["staff"][0], "id": "N2"})
    scenario = validate_scenario(data)
    schedule = chain(scenario)
    plan = build(scenario, schedule, CERTAIN)
    assert plan.staff_ids == ("N1", "D1", "N2")
    assert plan.e_cover.tolist() == [2, 2, 2]   # N2 stands in for N1
    absent = np.zeros((2, *plan.on_shift.shape), dtype=bool)
    absent[0, 0, 0] = True   # run 0: N1 away
    absent[1, 1, 0] = True   # run 1: the prescriber away
    zero = np.zeros((2, 3))
    draws = Draws(zero.astype(bool), zero, zero, absent)
    outcome = dispatch(plan, draws)
    assert outcome.covered.tolist() == [[True] * 3, [False] * 3]
    assert outcome.attended.all()
    assert summarise(plan, draws, outcome, CERTAIN, 0).days[0].p_on_site_gap == 0.5


# ----------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def demo() -> tuple[Scenario, Schedule]:
    """The demo week and its greedy schedule (a valid week in a fraction of a second)."""
    scenario = load_input()
    problem = to_problem(scenario)
    return scenario, schedule_from_solution(scenario, problem, greedy_solve(problem))


def test_the_demo_week_holds_on_paper_and_runs_late_on_the_day(
        demo: tuple[Scenario, Schedule]) -> None:
    scenario, schedule = demo
    certain = simulate(scenario, schedule, CERTAIN, runs=5)
    assert all(d.p_overtime == 0 and d.p_chair_wait == 0 and d.p_staff_wait == 0
               and d.expected_wait_minutes == 0 for d in certain.days)
    result = simulate(scenario, schedule, runs=300, seed=0)
    assert [d.first for d in result.days] == [MONDAY + timedelta(days=i) for i in range(5)]
    assert sum(d.sessions for d in result.days) == len(schedule.appointments)
    assert [w.sessions for w in result.weeks] == [len(schedule.appointments)]
    assert 0 < result.weeks[0].p_overtime <= 1
    assert set(result.roles) == {"nurse", "prescriber", "therapist"}
    assert 0 < len(result.fragile) <= 10
    assert result.summary_lines()[0].startswith("300 replays (seed 0)")


def test_the_vectorised_dispatch_is_the_per_run_loop(demo: tuple[Scenario, Schedule]) -> None:
    scenario, schedule = demo
    busy = SimulationSettings(staff_absence_rate=0.2,
                              overrun=Delay(share=0.3, mean_minutes=30, max_minutes=120))
    plan = build(scenario, schedule, busy)
    draws = draw(plan, 40, 7)
    fast, slow = dispatch(plan, draws), dispatch_loop(plan, draws)
    for name in ("attended", "cancelled", "chair_wait", "staff_wait", "covered"):
        assert (getattr(fast, name) == getattr(slow, name)).all(), name
    assert np.allclose(fast.start, slow.start, equal_nan=True)
    assert np.allclose(fast.wait, slow.wait)
    assert fast.staff_wait.any() and fast.covered.any() and fast.cancelled.any()


def test_to_json_is_plain_and_names_every_figure(demo: tuple[Scenario, Schedule]) -> None:
    scenario, schedule = demo
    data = simulate(scenario, schedule, runs=50, seed=2).to_json()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"runs", "seed", "settings", "days", "weeks", "fragile"}
    assert set(data["days"][0]) == {
        "date", "days", "sessions", "p_past_closing", "expected_minutes_past_closing",
        "p_overtime", "p_overtime_15", "p_overtime_30", "expected_overtime_minutes",
        "expected_wait_minutes", "mean_wait_minutes", "p_chair_wait", "p_staff_wait",
        "p_on_site_gap", "expected_no_shows", "expected_idle_chair_minutes",
        "expected_cancelled"}
    assert set(data["fragile"][0]) == {"id", "patient", "start", "p_late",
                                       "mean_delay_minutes", "mean_wait_minutes", "p_no_show"}
    assert data["settings"]["overrun"]["share"] == 0.035


# ----------------------------------------------------------------------------- settings


def test_a_patients_own_record_pulls_their_no_show_rate_from_the_protocols() -> None:
    s = SimulationSettings(no_show_rate=0.1, history_prior_sessions=10,
                           patients={"P01": PatientRecord(attended=5, missed=5)},
                           protocols={"kap": ProtocolRisk(no_show_rate=0.0)})
    assert s.no_show_of("esk", "P01") == pytest.approx((5 + 10 * 0.1) / 20)
    assert s.no_show_of("esk", "P02") == 0.1
    assert s.no_show_of("kap", "P02") == 0.0


def test_settings_naming_an_unknown_protocol_or_phase_are_invalid() -> None:
    scenario = clinic()
    bad = SimulationSettings(protocols={"esk-99": ProtocolRisk(),
                                        "esk": ProtocolRisk(overrun_phase="nap")})
    with pytest.raises(InvalidInput) as caught:
        simulate(scenario, chain(scenario), bad, runs=1)
    assert [i.path for i in caught.value.issues] == ["settings.protocols.esk-99",
                                                     "settings.protocols.esk.overrun_phase"]
    with pytest.raises(InvalidInput):
        simulate(scenario, chain(scenario), runs=0)
    elsewhere = chain(scenario).model_copy(update={"appointments": [
        a.model_copy(update={"room": "R9", "staff": {}}) for a in chain(scenario).appointments]})
    with pytest.raises(InvalidInput) as caught:
        simulate(scenario, elsewhere, runs=1)
    assert [str(i) for i in caught.value.issues][:1] == [
        "schedule.appointments[A-0001].room: unknown room 'R9'"]


def test_settings_read_from_a_file_name_every_bad_field(tmp_path: Path) -> None:
    good = tmp_path / "simulation.yaml"
    good.write_text("overrun: {share: 0.05, mean_minutes: 20, max_minutes: 60}\n"
                    "protocols: {esk: {no_show_rate: 0.02}}\n", encoding="utf-8")
    assert read_settings(good).overrun.share == 0.05
    assert read_settings(good).no_show_of("esk", "P01") == 0.02
    assert read_settings(None) == SimulationSettings()
    with pytest.raises(InvalidInput) as caught:
        read_settings({"no_show_rate": 2, "late": {"share": 0.1}, "naps": 1})
    assert sorted(i.path for i in caught.value.issues) == [
        "settings.late.max_minutes", "settings.late.mean_minutes", "settings.naps",
        "settings.no_show_rate"]


# ----------------------------------------------------------------------------- properties

RISKY = SimulationSettings(overrun=Delay(share=0.3, mean_minutes=30, max_minutes=90),
                           late=Delay(share=0.3, mean_minutes=20, max_minutes=60),
                           no_show_rate=0.1, staff_absence_rate=0.0)
ON_TIME = RISKY.model_copy(update={"late": Delay.never(), "staff_absence_rate": 0.1})
"""Overruns, no-shows and absences, nobody late: the order patients are served in is the
booked one, and the replay is monotone in the booked times. (With late arrivals first come,
first served can reorder patients, and one replay may then run later with more slack: a
patient moved earlier is served before one who then overruns. Such pairs exist; see the
module's simplifications.)"""


@st.composite
def days(draw_: st.DrawFn) -> tuple[Scenario, list[int], list[int]]:
    """A day of up to four sessions (one or two chairs, a nurse for one to three patients),
    their starts, and how much earlier each may move (never more than the one before it, so
    every gap between consecutive sessions grows or stays)."""
    n = draw_(st.integers(1, 4))
    # every session ends by 16:00, when clinic and staff stop (13:30 is the last start)
    booked = sorted(draw_(st.lists(st.integers(0, 66), min_size=n, max_size=n)))
    earlier = sorted(draw_(st.lists(st.integers(0, 12), min_size=n, max_size=n)),
                     reverse=True)
    earlier = [min(e, b) for e, b in zip(earlier, booked, strict=True)]
    earlier = [min(earlier[: i + 1]) for i in range(n)]   # still non-increasing
    scenario = clinic(until="16:00", chairs=draw_(st.integers(1, 2)),
                      max_patients=draw_(st.integers(1, 3)))
    return scenario, [5 * b for b in booked], [5 * e for e in earlier]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days(), st.integers(0, 2**16))
def test_more_slack_never_raises_the_risk(day: tuple[Scenario, list[int], list[int]],
                                          seed: int) -> None:
    scenario, booked, earlier = day
    tight = simulate(scenario, book(scenario, *[("esk", b) for b in booked]), ON_TIME,
                     runs=200, seed=seed)
    loose = simulate(scenario, book(scenario, *[("esk", b - e) for b, e in
                                                zip(booked, earlier, strict=True)]),
                     ON_TIME, runs=200, seed=seed)
    a, b = tight.days[0], loose.days[0]
    assert b.p_overtime <= a.p_overtime
    assert b.p_past_closing <= a.p_past_closing
    assert b.expected_minutes_past_closing <= a.expected_minutes_past_closing + 1e-9
    for role, minutes in b.expected_overtime_minutes.items():
        assert minutes <= a.expected_overtime_minutes[role] + 1e-9
    assert (loose.overtime <= tight.overtime + 1e-9).all()


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_same_seed_gives_the_same_figures(seed: int) -> None:
    scenario = clinic(chairs=2)
    schedule = book(scenario, ("esk", 0), ("esk", 30), ("esk", 160), ("esk", 200))
    first = simulate(scenario, schedule, RISKY, runs=100, seed=seed).to_json()
    assert simulate(scenario, schedule, RISKY, runs=100, seed=seed).to_json() == first


# ----------------------------------------------------------------------------- command line
def test_simulate_on_the_command_line_prints_each_day_and_writes_the_figures(
        demo: tuple[Scenario, Schedule], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from scheduler.cli import main

    _, schedule = demo
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(schedule.to_json()), encoding="utf-8")
    demo_file = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(demo_file)]) == 0
    args = ["-q", "simulate", str(demo_file / "demo.yaml"), str(path), "--runs", "200"]
    assert main([*args, "--out", str(tmp_path / "sim")]) == 0
    printed = capsys.readouterr().out
    assert "200 replays (seed 0)" in printed and "Mon 07 Dec" in printed
    written = json.loads((tmp_path / "sim" / "simulation.json").read_text(encoding="utf-8"))
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == written  # the same seed, the same figures
    assert main([*args[:-1], "0"]) == 2
    assert "--runs: 0 is not between 1 and 1,000,000" in capsys.readouterr().err
