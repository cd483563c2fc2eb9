"""A re-plan's first answer (solver/repair.py): only what the events touched is rebooked,
everything else pinned unless a neighbour must move to rebook a touched session; the final
answer starts from it and is never worse."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.check import check
from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.usecases import Replanned, read_events, replan
from scheduler.usecases.replan import _frozen_scenario, split_affected
from solver import Day, Options, Patient, Phase, Placement, Problem, Protocol, Room, solve
from solver.repair import first_answer, pinned, replan_key, settled
from tests.conftest import solve_data
from tests.test_replan import EARLY, _base, _events, _same, _week

# ----------------------------------------------------------------------------- the solver
DAY = Day(0, "Mon 07 Dec", ((0, 600),), tuple(range(0, 600, 100)))
"""One day of six 100-minute starts (0, 100, ..., 500), one chair: a session fills a start."""
SESSION = Protocol("p", "Session", (Phase("dose", 100),), 0, frozenset(), ())


def _problem(patients: list[Patient], previous: list[Placement], touched: set[str],
             days: tuple[Day, ...] = (DAY,)) -> Problem:
    return Problem(days=days, protocols={"p": SESSION}, rooms=(Room("R1", "R1", frozenset(), 1),),
                   staff=(), patients=tuple(patients), previous=tuple(previous),
                   touched=frozenset(touched))


def _at(patient: str, start: int, day: int = 0) -> Placement:
    return Placement(patient, day, day * 1440 + start, "R1", {}, f"A-{patient}-{day}")


def _crowded(a_known: bool) -> Problem:
    """B, C, D, E booked at 100, 200, 400 and 500: only 300 is free, and both A (priority 1) and
    W (priority 5) could come then. A had 0, now touched (A can no longer come before 100),
    when ``a_known``; else A is new."""
    a = Patient("A", "p", 1, availability=((100, 400),))
    w = Patient("W", "p", 1, availability=((300, 400),), priority=5)
    others = [Patient(x, "p", 1) for x in "BCDE"]
    booked = [_at(x, t) for x, t in zip("BCDE", (100, 200, 400, 500), strict=True)]
    return _problem([a, w, *others], [*booked, *([_at("A", 0)] if a_known else [])],
                    {"A-A-0"} if a_known else set())


def _placed(problem: Problem, appointments: list[Placement]) -> dict[str, int]:
    return {a.patient: a.start for a in appointments}


def test_the_first_answer_rebooks_a_touched_patient_before_placing_a_waiting_one() -> None:
    problem = _crowded(a_known=True)
    first = first_answer(problem, Options(time_limit=1, workers=1))
    assert _placed(problem, first.appointments) == {"A": 300, "B": 100, "C": 200, "D": 400,
                                                    "E": 500}
    assert {u.patient for u in first.unplaced} == {"W"}


def test_a_new_patient_gets_no_such_precedence_and_priority_decides() -> None:
    problem = _crowded(a_known=False)
    first = first_answer(problem, Options(time_limit=1, workers=1))
    assert _placed(problem, first.appointments)["W"] == 300
    assert {u.patient for u in first.unplaced} == {"A"}


def test_pinned_fixes_untouched_appointments_of_untouched_patients() -> None:
    problem = _crowded(a_known=True)
    sub = pinned(problem)
    assert {a.patient for a in sub.fixed} == set("BCDE")
    assert [a.id for a in sub.previous] == ["A-A-0"]


def test_pinned_keeps_a_touched_follow_up_patients_other_sessions_known() -> None:
    days = (DAY, Day(1, "Tue 08 Dec", ((1440, 2040),), tuple(range(1440, 2040, 100))))
    plain = _problem([Patient("A", "p", 2), Patient("B", "p", 1)],
                     [_at("A", 0), _at("A", 0, 1), _at("B", 100)], {"A-A-0"}, days)
    linked = _problem([Patient("A", "p", 2, follow_up=("p", 1, 1)), Patient("B", "p", 1)],
                      [_at("A", 0), _at("A", 0, 1), _at("B", 100)], {"A-A-0"}, days)
    assert [a.id for a in pinned(plain).previous] == ["A-A-0"]  # A's Tuesday is pinned
    assert [a.id for a in pinned(linked).previous] == ["A-A-0", "A-A-1"]  # it may follow up
    assert [a.id for a in pinned(linked).fixed] == ["A-B-0"]


def _blocked() -> Problem:
    """A (touched) can no longer come at 0, only at 100 or 200; B (untouched, any time) is
    booked at 100, C at 200, D, E and F at 300, 400 and 500: A's old start 0 is the only one
    free. W (priority 5, waiting) could come only at 100."""
    a = Patient("A", "p", 1, availability=((100, 300),))
    w = Patient("W", "p", 1, availability=((100, 200),), priority=5)
    c = Patient("C", "p", 1, availability=((200, 300),))
    others = [Patient(x, "p", 1) for x in "BDEF"]
    booked = [_at(x, t) for x, t in zip("BCDEF", (100, 200, 300, 400, 500), strict=True)]
    return _problem([a, w, c, *others], [_at("A", 0), *booked], {"A-A-0"})


def test_the_first_answer_moves_an_untouched_neighbour_when_that_rebooks_a_touched_session(
        ) -> None:
    problem = _blocked()
    first = first_answer(problem, Options(time_limit=1, workers=1))
    assert _placed(problem, first.appointments) == {"A": 100, "B": 0, "C": 200, "D": 300,
                                                    "E": 400, "F": 500}
    assert first.model_size["freed"] >= 1
    full = solve(problem, Options(time_limit=1, workers=1))  # the one-step re-plan's ranking
    assert replan_key(problem, first.appointments) == replan_key(problem, full.appointments)
    # with no move allowed, A stays out: moving B was the only way in
    fixed = replace(problem, weights=replace(problem.weights, extra_moves=0))
    placed = _placed(fixed, first_answer(fixed, Options(time_limit=1, workers=1)).appointments)
    assert "A" not in placed and placed["B"] == 100


def test_no_untouched_neighbour_moves_to_fit_a_waiting_patient_in() -> None:
    """E has gone (cancelled and dropped), so 0 and 400 are free and A, now at 400 or later
    only, is rebooked there without a move. B could still move to 0 for W (priority 5) to
    come at 100, but keeping an untouched appointment ranks above placing one more session:
    nothing moves and no neighbourhood is tried."""
    problem = _blocked()
    a = Patient("A", "p", 1, availability=((400, 500),))
    problem = replace(problem,
                      patients=(a, *(p for p in problem.patients[1:] if p.id != "E")),
                      previous=tuple(x for x in problem.previous if x.patient != "E"))
    first = first_answer(problem, Options(time_limit=1, workers=1))
    assert _placed(problem, first.appointments) == {"A": 400, "B": 100, "C": 200, "D": 300,
                                                    "F": 500}
    assert {u.patient for u in first.unplaced} == {"W"}
    assert "freed" not in first.model_size


def test_the_full_re_plan_never_ranks_below_the_first_answer_it_starts_from() -> None:
    problem = _crowded(a_known=True)
    first = first_answer(problem, Options(time_limit=1, workers=1))
    final = solve(problem, Options(time_limit=1, workers=1), start=first)
    assert replan_key(problem, final.appointments) >= replan_key(problem, first.appointments)
    worse = [a for a in first.appointments if a.patient != "A"]  # the floor without A
    assert replan_key(problem, worse) < replan_key(problem, first.appointments)


def test_a_stage_the_first_answer_settled_is_held_without_a_search_and_one_short_is_not(
        ) -> None:
    problem = _crowded(a_known=True)
    first = first_answer(problem, Options(time_limit=1, workers=1)).appointments
    assert settled(problem, "rebook", first) == 5 and settled(problem, "keep", first) == 4
    without_a = [a for a in first if a.patient != "A"]
    assert settled(problem, "rebook", without_a) is None  # A's session could still come back
    b_moved = [replace(a, start=300) if a.patient == "B" else a for a in without_a]
    assert settled(problem, "keep", b_moved) is None
    assert settled(problem, "placement", first) is None  # never skipped


# ----------------------------------------------------------------------------- the use case
def _two_steps(scenario: Scenario, doc: dict[str, Any], events: list[dict[str, Any]],
               limit: float = 2) -> tuple[Replanned, Replanned, set[str]]:
    """The first and the final answer, and the ids of the appointments no event touched."""
    previous = Schedule.from_json(doc)
    parsed = [e for _, e in read_events({"events": events}, scenario, previous, EARLY)]
    firsts: list[Replanned] = []
    final = replan(scenario, previous, parsed, EARLY, Options(time_limit=limit, workers=2),
                   on_first=firsts.append)
    updated, future = _frozen_scenario(scenario, previous, parsed, EARLY)
    untouched, _ = split_affected(updated, previous, future, parsed)
    assert len(firsts) == 1
    return firsts[0], final, {a.id for a in untouched}


def _rank(doc: dict[str, Any], after: Replanned, untouched: set[str]) -> tuple[int, int, int]:
    """The re-planning stages' ranking, read off the documents: sessions of patients who had
    appointments (up to as many), untouched appointments exactly kept, weighted placed."""
    had: dict[str, int] = {}
    for a in doc["appointments"]:
        had[a["patient"]] = had.get(a["patient"], 0) + 1
    now = after.schedule.to_json()["appointments"]
    mine: dict[str, int] = {}
    for a in now:
        mine[a["patient"]] = mine.get(a["patient"], 0) + 1
    by_id = {a["id"]: a for a in now}
    kept = sum(1 for a in doc["appointments"]
               if a["id"] in untouched and a["id"] in by_id and _same(by_id[a["id"]], a))
    assert after.schedule.kpis is not None
    return (sum(min(k, mine.get(p, 0)) for p, k in had.items()), kept,
            after.schedule.kpis.weighted)


@pytest.mark.solve
def test_the_first_answer_pins_every_untouched_appointment_and_passes_the_checker() -> None:
    scenario, doc = solve_data(_week(10, preferred_staff=["N2"]))
    day = next(a["start"][:10] for a in doc["appointments"] if a["staff"]["nurse"] == "N2")
    other = next(a for a in doc["appointments"] if not a["start"].startswith(day))
    first, final, untouched = _two_steps(scenario, doc, [
        {"type": "staff_absent", "staff": "N2", "date": day},
        {"type": "cancel", "appointment": other["id"]}])
    for answer in (first, final):
        assert answer.violations == []
        assert check(answer.scenario, answer.schedule.to_json()) == []
    after = {a["id"]: a for a in first.schedule.to_json()["appointments"]}
    assert untouched and other["id"] not in untouched
    for a in doc["appointments"]:
        if a["id"] in untouched:
            assert _same(after[a["id"]], a), a["id"]
    assert not any(c.reason.startswith(("moved to make room", "no longer fits"))
                   for c in first.changes)
    assert _rank(doc, final, untouched) >= _rank(doc, first, untouched)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
@pytest.mark.solve
def test_first_and_final_answers_agree_with_the_checker_and_the_final_ranks_no_lower(
        data: st.DataObject) -> None:
    scenario, doc = _base()
    events = data.draw(_events(copy.deepcopy(doc)))
    first, final, untouched = _two_steps(scenario, doc, events)
    for answer in (first, final):
        assert answer.violations == []
        assert check(answer.scenario, answer.schedule.to_json()) == []
    assert _rank(doc, final, untouched) >= _rank(doc, first, untouched)
    kept = {a["id"] for a in first.schedule.to_json()["appointments"]}
    assert untouched <= kept  # no patient here has a step or follow-ups: all pinned


def test_a_one_step_re_plan_offers_no_first_answer() -> None:
    scenario, doc = solve_data(_week(4))
    previous = Schedule.from_json(doc)
    parsed = [e for _, e in read_events({"events": [
        {"type": "cancel", "appointment": doc["appointments"][0]["id"]}]}, scenario, previous,
        EARLY)]
    firsts: list[Replanned] = []
    result = replan(scenario, previous, parsed, EARLY, Options(time_limit=1, workers=2),
                    on_first=firsts.append, two_step=False)
    assert firsts == [] and result.violations == []
