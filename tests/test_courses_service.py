"""The service keeps course state (each test on SQLite and on PostgreSQL): scenarios are stored
as given (``course:``, the clinic's ``courses:``) and expanded only to solve; the API shows the
course; the weekly draft rolls the published week into the course history and plans the next;
the patient page says where the patient stands in the course."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from scheduler.jobs import draft_next_weeks
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.worker import run_job
from tests.test_courses import clinic, esk
from tests.test_feeds_http import feeds_service, publish_draft
from tests.test_pages_desk import sign_in
from tests.test_service import Service

WEEK_1 = date(2026, 12, 7)
NEXT_WEEK = "2026-12-14"


def course_clinic() -> dict[str, Any]:
    """Mon-Fri, two recliner rooms: P01 new to esketamine induction (first dose 56 mg), P02 in
    week 2 of it (Mon 30 Nov and Thu 3 Dec done), P03 in maintenance on the clinic's own
    weekly course."""
    new = esk("P01", [])
    new["protocol"] = "esk-56"
    new["course"].pop("dose")
    weekly = esk("P03", [])
    weekly["course"] = {"id": "esk-weekly", "done": 3}
    data = clinic([new, esk("P02", ["2026-11-30", "2026-12-03"]), weekly], weeks=1)
    data["courses"] = [{"id": "esk-weekly", "name": "Esketamine weekly (this clinic's own)",
                        "protocol": "esk-84",
                        "stages": [{"name": "maintenance", "per_week": 1, "min_gap_days": 5,
                                    "ideal_gap_days": [7, 7], "priority": 2}]}]
    return data


@pytest.fixture
def courses(database_url: str, tmp_path: Path) -> Iterator[Service]:
    with feeds_service(database_url, tmp_path) as service:
        factory = service.client.app.state.sessions  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            repo.add_scenario_version(session, repo.clinic(session, 1), course_clinic())
        yield service


def _latest(service: Service) -> dict[str, Any]:
    factory = service.client.app.state.sessions  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        data: dict[str, Any] = repo.scenario_version(session, 1).data
        return data


def _patient(data: dict[str, Any], pid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in data["patients"] if p["id"] == pid)
    return found


def test_scenarios_are_stored_as_given_and_the_api_shows_the_course(courses: Service) -> None:
    """The stored scenario keeps each patient's course and the clinic's own courses (no
    derived sessions); the scenario and the patient routes show them, and an edit through the
    API (a new room) keeps them too, while a solve still gets the expanded sessions."""
    scenario = courses.call("GET", "/clinics/1/scenario").json()["scenario"]
    p02 = _patient(scenario, "P02")
    assert p02["course"] == {"id": "esk-trd", "history": ["2026-11-30", "2026-12-03"],
                             "dose": 84}
    assert "sessions" not in p02 and "per_week" not in p02
    assert scenario["courses"][0]["id"] == "esk-weekly"
    patient = courses.call("GET", "/clinics/1/patients/P03").json()
    assert patient["course"]["id"] == "esk-weekly" and patient["course"]["done"] == 3
    added = courses.call("POST", "/clinics/1/rooms",
                         json={"id": "R9", "features": ["recliner"]})
    assert added.status_code == 201, added.text
    data = _latest(courses)
    assert _patient(data, "P01")["course"]["id"] == "esk-trd"
    assert data["courses"][0]["id"] == "esk-weekly"
    draft = courses.draft()  # solved from the expanded scenario
    counts = {pid: sum(1 for a in draft["schedule"]["appointments"] if a["patient"] == pid)
              for pid in ("P01", "P02", "P03")}
    assert counts == {"P01": 2, "P02": 2, "P03": 1}
    assert {a["protocol"] for a in draft["schedule"]["appointments"]
            if a["patient"] == "P01"} == {"esk-56"}


@pytest.mark.solve
def test_the_weekly_draft_rolls_the_published_week_into_the_history(courses: Service) -> None:
    """Thursday's draft job folds the published week's sessions into each patient's course
    history (a new version, as given), queues next week's solve once, and the draft it makes
    follows the courses and numbers its appointments after every published id."""
    published = publish_draft(courses)
    week_1 = published["schedule"]["appointments"]
    days: dict[str, list[str]] = {}
    for a in sorted(week_1, key=lambda a: a["start"]):
        days.setdefault(a["patient"], []).append(a["start"][:10])
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tick=False):
        first = draft_next_weeks(courses.url, workers=1, time_limit=2)
        again = draft_next_weeks(courses.url, workers=1, time_limit=2)
    assert (first, again) == (["week-1-20261214"], [])
    data = _latest(courses)
    assert data["horizon"]["start"] == NEXT_WEEK
    assert _patient(data, "P01")["course"]["history"] == days["P01"]
    assert _patient(data, "P01")["course"]["dose"] == 56  # the dose received
    assert _patient(data, "P02")["course"]["history"] == ["2026-11-30", "2026-12-03",
                                                          *days["P02"]]
    assert _patient(data, "P03")["course"]["done"] == 3 + len(days["P03"])
    factory = courses.client.app.state.sessions  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        assert repo.claim_job(session, "week-1-20261214")
    run_job(courses.url, "week-1-20261214")
    with session_scope(factory) as session:
        job = repo.job(session, "week-1-20261214")
        assert job.status == "done", job.error
        draft = repo.to_schedule(repo.schedule_row(session, job.result_schedule_id or 0))
    numbers = [int(a["id"].removeprefix("A-")) for a in week_1]
    assert all(int(a.id.removeprefix("A-")) > max(numbers) for a in draft.appointments)
    assert all(a.start.date() >= date(2026, 12, 14) for a in draft.appointments)
    counts = {pid: sum(1 for a in draft.appointments if a.patient == pid)
              for pid in ("P01", "P02", "P03")}
    assert counts == {"P01": 2, "P02": 2, "P03": 1}  # induction twice a week, weekly


def test_the_patient_page_shows_the_course(courses: Service) -> None:
    """Name, stage, sessions done, the last one and the next due date, and the dose."""
    sign_in(courses.client, "front_desk")
    page = courses.client.get("/patients/P02")
    assert page.status_code == 200, page.text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    assert "Treatment course" in text
    assert "Esketamine" in text and "esk-trd" in text
    assert "Stage induction: session 3 of 8 next" in text
    assert "Sessions done 2, the last on Thu 03 Dec 2026" in text
    assert "Next due Mon 07 Dec 2026" in text  # Thu + 3 days is a Sunday: the clinic's next day
    assert "Dose 84 mg" in text
    plain = courses.client.get("/patients/P03")
    assert "maintenance" in plain.text and "Sessions done" in plain.text


def test_next_due_falls_on_an_open_day_not_a_closed_one(courses: Service) -> None:
    """A course's "next due" fell on a closed day (P02's ideal gap from Thursday lands on a
    Sunday); with Monday 7 December closed too, it is Tuesday."""
    factory = courses.client.app.state.sessions  # type: ignore[attr-defined]
    data = course_clinic()
    data["clinic"]["closed_dates"] = ["2026-12-07"]
    with session_scope(factory) as session:
        repo.add_scenario_version(session, repo.clinic(session, 1), data)
    sign_in(courses.client, "front_desk")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", courses.client.get("/patients/P02").text))
    assert "Next due Tue 08 Dec 2026" in text
