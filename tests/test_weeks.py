"""Week after week (issue 22), each test on SQLite and on PostgreSQL: the board moves between
weeks (previous, next, a date; the URL names the week); a week not planned yet offers to plan
it from the rolling solve, whose draft knows the published week's sessions and leaves out the
no-shows as missed; the weeks before the published one stay in patients' calendars and are
read-only, as are past sessions of the live week; the front desk's attendance marks are kept by
ref across later versions, audited, clinic-scoped, and counted on the board."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from scheduler.jobs import draft_next_weeks
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import AuditEntry
from scheduler.worker import run_job
from tests.test_courses_service import course_clinic
from tests.test_feeds_http import feeds_service, link, parse, publish_draft
from tests.test_pages_desk import csrf, sign_in
from tests.test_service import Service

WEEK_1, WEEK_2 = "2026-12-07", "2026-12-14"
BEFORE = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
"""A Friday before the first week: every week of these tests is still to come."""


@pytest.fixture
def clinic(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The course clinic (Mon-Fri; P01 new to induction, P02 in week 2 of it, P03 weekly).
    Its settings' clock is unset: each test travels in time (time_machine) around the week."""
    with feeds_service(database_url, tmp_path, clock=None) as service:
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            repo.add_scenario_version(session, repo.clinic(session, 1), course_clinic())
        yield service


def _factory(service: Service) -> Any:
    return service.client.app.state.sessions  # type: ignore[attr-defined]


def _mark(service: Service, ref: str, mark: str | None, clinic_id: int = 1,
          role: str = "front_desk") -> Any:
    return service.call("POST", f"/clinics/{clinic_id}/appointments/{ref}/mark", role,
                        json={"mark": mark})


def _plan(service: Service, week: str) -> Any:
    """Plan ``week`` through the board's button, run its job here; the answer of the POST."""
    board = service.client.get(f"/board?week={week}")
    answer = service.client.post(f"/weeks/{week}/plan", data={"csrf": csrf(board.text)},
                                 follow_redirects=False)
    if answer.status_code == 303:
        job = answer.headers["location"].removeprefix("/jobs/")
        with session_scope(_factory(service)) as session:
            assert repo.claim_job(session, job)
        run_job(service.url, job)
    return answer


def _history(service: Service, version: int | None = None) -> dict[str, list[str]]:
    with session_scope(_factory(service)) as session:
        data = repo.scenario_version(session, 1, version).data
        return {p["id"]: list(p.get("course", {}).get("history", [])) for p in data["patients"]}


def _confirmed(service: Service, path: str) -> set[str]:
    """The starts (UTC, ISO) of the confirmed events of a feed."""
    feed = parse(service.client.get(path).content)
    return {e.decoded("dtstart").astimezone(UTC).isoformat() for e in feed.walk("VEVENT")
            if str(e.get("status")) == "CONFIRMED"}


def _fresh_tokens(service: Service) -> None:
    """New API tokens for every role (a test that travels days ahead outlives the first)."""
    with session_scope(_factory(service)) as session:
        for role in list(service.tokens):
            user = repo.user_by_email(session, f"{role}@example.org")
            assert user is not None
            service.tokens[role] = repo.issue_token(session, user, 30)[0]


def _nudged(service: Service, a: dict[str, Any], number: int) -> Any:
    """Appointment ``a`` moved by the smallest step the checker accepts (5 to 60 minutes,
    later or earlier), as published version ``number + 1``."""
    start = datetime.fromisoformat(a["start"])
    for minutes in (m * sign for m in range(5, 65, 5) for sign in (1, -1)):
        answer = service.call("POST", f"/clinics/1/appointments/{a['id']}/move", json={
            "number": number, "start": (start + timedelta(minutes=minutes)).isoformat()})
        if answer.status_code != 422:
            return answer
    raise AssertionError(f"{a['id']} moves nowhere within an hour")


def _utc(text_: str) -> str:
    return datetime.fromisoformat(text_).astimezone(UTC).isoformat()


# ----------------------------------------------------------------------------- weeks
@pytest.mark.solve
def test_next_week_is_planned_from_the_roll_with_no_shows_left_out(clinic: Service) -> None:
    """Week 1 published; the board's next week says "not planned yet" and plans it from the
    roll: P02's session marked no-show stays out of the course history (the course goes on
    without it) while P01's attended sessions go in; the draft numbers after every published
    id; once week 2 is published, week 1 is history on the board and stays, unchanged, in the
    patients' calendars."""
    with time_machine.travel(BEFORE, tick=False):
        week_1 = publish_draft(clinic)["schedule"]["appointments"]
        p01 = [a for a in week_1 if a["patient"] == "P01"]
        p02 = [a for a in week_1 if a["patient"] == "P02"]
        assert p01 and len(p02) >= 2
        paths = {pid: link(clinic, f"/clinics/1/patients/{pid}") for pid in ("P01", "P02")}
        sign_in(clinic.client, "front_desk")
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        assert 'rel="next"' in board and f"/board?week={WEEK_2}" in board
        assert "Not planned yet" not in board and "week of 07 December 2026" in board
        moved = clinic.client.get("/board?week=2026-12-16&view=nurses", follow_redirects=False)
        assert moved.status_code == 303  # any day names its week, by the week's first day
        assert moved.headers["location"] == f"/board?week={WEEK_2}&view=nurses"
        empty = clinic.client.get(moved.headers["location"]).text
        assert "week of 14 December 2026" in empty and "Not planned yet" in empty
        assert "Plan the week of 14 December" in empty
        missed = p02[0]
        assert _mark(clinic, missed["id"], "no_show").status_code == 200
        assert _mark(clinic, p02[1]["id"], "completed").status_code == 200
        assert _plan(clinic, WEEK_2).status_code == 303
    history = _history(clinic)
    assert history["P01"] == sorted(a["start"][:10] for a in p01)  # attended: folded
    assert history["P02"] == ["2026-11-30", "2026-12-03",  # the no-show: left out
                              *sorted(a["start"][:10] for a in p02[1:])]
    with time_machine.travel(BEFORE, tick=False):
        board = clinic.client.get(f"/board?week={WEEK_2}").text
        assert "Publish this draft" in board and "week of 14 December 2026" in board
        draft_id = int(re.search(r'action="/schedules/(\d+)/publish"', board).group(1))  # type: ignore[union-attr]
        draft = clinic.call("GET", f"/schedules/{draft_id}").json()
        numbers = [int(a["id"][2:]) for a in week_1]
        assert all(int(a["id"][2:]) > max(numbers) for a in draft["schedule"]["appointments"])
        assert all(a["start"] >= WEEK_2 for a in draft["schedule"]["appointments"])
        published = clinic.call("POST", f"/schedules/{draft_id}/publish",
                                json={"version": draft["version"]})
        assert published.status_code == 200, published.text
        old = clinic.client.get(f"/board?week={WEEK_1}").text
        assert 'id="history"' in old and "week of 07 December 2026" in old
        assert "Publish this draft" not in old and "Re-plan after an event" not in old
        assert "Re-plan after an event" in clinic.client.get(f"/board?week={WEEK_2}").text
        refused = _plan(clinic, WEEK_1)  # a week before the published one: not again
        assert refused.status_code == 409 and "is published" in refused.text
    week_2 = draft["schedule"]["appointments"]
    for pid, path in paths.items():  # both weeks, neither shown cancelled
        assert _confirmed(clinic, path) == {_utc(a["start"]) for a in week_1 + week_2
                                            if a["patient"] == pid}


def test_the_weekly_draft_job_leaves_the_no_shows_out_too(clinic: Service) -> None:
    """Thursday's scheduled draft rolls as the board's button does: the no-show is missed."""
    with time_machine.travel(BEFORE, tick=False):
        week_1 = publish_draft(clinic)["schedule"]["appointments"]
        p02 = sorted((a for a in week_1 if a["patient"] == "P02"), key=lambda a: a["start"])
        assert _mark(clinic, p02[-1]["id"], "no_show").status_code == 200
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tick=False):
        assert draft_next_weeks(clinic.url, workers=1, time_limit=1) == ["week-1-20261214"]
    history = _history(clinic)
    assert history["P02"] == ["2026-11-30", "2026-12-03",
                              *(a["start"][:10] for a in p02[:-1])]
    assert history["P01"] == sorted(a["start"][:10] for a in week_1 if a["patient"] == "P01")


def test_a_week_that_has_begun_is_not_planned_here(clinic: Service) -> None:
    with time_machine.travel(BEFORE, tick=False):
        sign_in(clinic.client, "front_desk")
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        assert "Plan the week of 07 December" in board  # nothing published: its own week
    with time_machine.travel(datetime(2026, 12, 8, 12, 0, tzinfo=UTC), tick=False):
        sign_in(clinic.client, "front_desk")
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        assert "Plan the week of" not in board and "has begun" in board
        answer = _plan(clinic, WEEK_1)
        assert answer.status_code == 409 and "has begun" in answer.text
    with session_scope(_factory(clinic)) as session:
        assert repo.jobs_of(session, 1) == []


# ----------------------------------------------------------------------------- the past
def test_past_sessions_are_read_only(clinic: Service) -> None:
    """On Tuesday, Monday's session can be neither moved nor cancelled (409, saying why), a
    session cannot be moved into the past (422 on start), a later one still moves; the
    appointment page offers no edit of a past session, the board marks past days."""
    with time_machine.travel(BEFORE, tick=False):
        week = publish_draft(clinic)["schedule"]["appointments"]
    monday = [a for a in week if a["start"][:10] == WEEK_1]
    later = [a for a in week if a["start"][:10] >= "2026-12-09"]
    assert monday and later
    with time_machine.travel(datetime(2026, 12, 8, 14, 0, tzinfo=UTC), tick=False):
        _fresh_tokens(clinic)
        past = monday[0]
        moved = clinic.call("POST", f"/clinics/1/appointments/{past['id']}/move",
                            json={"number": 1, "start": later[0]["start"]})
        cancelled = clinic.call("POST", f"/clinics/1/appointments/{past['id']}/cancel",
                                json={"number": 1})
        for answer in (moved, cancelled):
            assert answer.status_code == 409, answer.text
            assert f"{past['id']} began on Mon 07 Dec" in answer.json()["detail"]
            assert "read-only" in answer.json()["detail"]
        back = clinic.call("POST", f"/clinics/1/appointments/{later[0]['id']}/move",
                           json={"number": 1, "start": "2026-12-07T15:00:00-05:00"})
        assert back.status_code == 422
        assert back.json()["detail"][0]["path"] == "start"
        assert "is in the past" in back.json()["detail"][0]["message"]
        assert clinic.call("GET", "/clinics/1/schedules/published").json()["number"] == 1
        sign_in(clinic.client, "front_desk")
        page = clinic.client.get(f"/schedules/1/appointments/{past['id']}").text
        assert 'id="read-only"' in page and "Move it" not in page
        assert "No-show" in page  # marks are still offered
        future = clinic.client.get(f"/schedules/1/appointments/{later[0]['id']}").text
        assert 'id="read-only"' not in future and "Move it" in future
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        assert board.count("past: read-only") == 1  # Monday only


# ----------------------------------------------------------------------------- marks
def test_marks_are_kept_by_ref_audited_and_counted(clinic: Service) -> None:
    """A mark is stored and audited; it survives a later version of the week (a move keeps the
    ref); a cleared mark is gone; the board counts the week's marks; a mark that is not one of
    the three is a 422 naming the field; a ref no published week has is a 404."""
    with time_machine.travel(BEFORE, tick=False):
        week = publish_draft(clinic)["schedule"]["appointments"]
        first, second = week[-1], week[0]  # the week's last session has room to move
        answer = _mark(clinic, first["id"], "arrived")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"ref": first["id"], "patient": first["patient"],
                                 "mark": "arrived", "schedule_id": 1}
        assert _mark(clinic, second["id"], "no_show").status_code == 200
        moved = _nudged(clinic, first, 1)
        assert moved.status_code == 200, moved.text  # version 2: the marks go with the refs
        assert moved.json()["number"] == 2
        sign_in(clinic.client, "front_desk")
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        unmarked = len(week) - 2
        assert (f"attendance: 1 arrived, 0 completed, 1 no-show, {unmarked} not marked"
                in board)
        assert board.count('class="mark-glyph') == 2
        assert _mark(clinic, first["id"], None).json()["mark"] is None
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        assert "attendance: 0 arrived, 0 completed, 1 no-show" in board
        sign_in(clinic.client, "manager")
        report = clinic.client.get("/utilization").text  # the week's figures count them too
        assert (f"version 2 · attendance: 0 arrived, 0 completed, 1 no-show, "
                f"{len(week) - 1} not marked") in report
        bad = _mark(clinic, first["id"], "late")
        assert bad.status_code == 422 and bad.json()["detail"][0]["path"] == "body.mark"
        assert _mark(clinic, "A-9999", "arrived").status_code == 404
    with session_scope(_factory(clinic)) as session:
        audited = [(e.before, e.after) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "mark attendance")
            .order_by(AuditEntry.id))]
    assert audited == [(None, {"mark": "arrived", "patient": first["patient"]}),
                       (None, {"mark": "no_show", "patient": second["patient"]}),
                       ({"mark": "arrived", "patient": first["patient"]}, None)]


def test_a_mark_is_set_from_the_appointment_page(clinic: Service) -> None:
    with time_machine.travel(BEFORE, tick=False):
        week = publish_draft(clinic)["schedule"]["appointments"]
        sign_in(clinic.client, "front_desk")
        path = f"/schedules/1/appointments/{week[0]['id']}"
        page = clinic.client.get(path).text
        assert "Not marked yet." in page
        answer = clinic.client.post(f"/appointments/{week[0]['id']}/mark", data={
            "csrf": csrf(page), "mark": "no_show", "next": path}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == path
        page = clinic.client.get(path).text
        assert "Marked <strong>no-show</strong>" in page
        elsewhere = clinic.client.post(f"/appointments/{week[0]['id']}/mark", data={
            "csrf": csrf(page), "mark": "arrived", "next": "//evil.example/"},
            follow_redirects=False)
        assert elsewhere.headers["location"] == "/board"  # only back to a page of ours


def test_a_cancelled_session_loses_its_mark_and_a_new_booking_does_not_inherit_it(
        clinic: Service) -> None:
    """A mark holds while its ref is the same patient's session: cancelled, its mark no longer
    counts, even when a later booking of another patient is given the same ref."""
    with time_machine.travel(BEFORE, tick=False):
        week = publish_draft(clinic)["schedule"]["appointments"]
        last = max(week, key=lambda a: int(a["id"][2:]))
        assert _mark(clinic, last["id"], "arrived").status_code == 200
        assert clinic.call("POST", f"/clinics/1/appointments/{last['id']}/cancel",
                           json={"number": 1}).status_code == 200
        sign_in(clinic.client, "front_desk")
        board = clinic.client.get(f"/board?week={WEEK_1}").text
        assert "attendance: 0 arrived" in board
        assert _mark(clinic, last["id"], "arrived").status_code == 404


def test_migration_0008_adds_and_removes_the_marks(database_url: str) -> None:
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import text

    from scheduler.storage.db import connect, downgrade, upgrade

    engine = connect(database_url)
    upgrade(engine, "0007")
    assert "attendance_marks" not in sa_inspect(engine).get_table_names()
    upgrade(engine, "0008")
    with engine.begin() as db:
        db.execute(text("INSERT INTO organizations (id, name, created_at) VALUES "
                        "(2, 'o', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO clinics (id, organization_id, slug, name, created_at) "
                        "VALUES (7, 2, 'c', 'c', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO attendance_marks (clinic_id, ref, patient, mark, "
                        "marked_at) VALUES (7, 'A-0001', 'P01', 'no_show', "
                        "'2026-12-07 15:00:00')"))
    with pytest.raises(IntegrityError, match=r"(?i)check"), engine.begin() as db:
        db.execute(text("INSERT INTO attendance_marks (clinic_id, ref, patient, mark, "
                        "marked_at) VALUES (7, 'A-0002', 'P01', 'late', "
                        "'2026-12-07 15:00:00')"))
    with pytest.raises(IntegrityError, match=r"(?i)unique"), engine.begin() as db:
        db.execute(text("INSERT INTO attendance_marks (clinic_id, ref, patient, mark, "
                        "marked_at) VALUES (7, 'A-0001', 'P01', 'arrived', "
                        "'2026-12-07 15:00:00')"))
    downgrade(engine, "0007")
    assert "attendance_marks" not in sa_inspect(engine).get_table_names()
    upgrade(engine)
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM attendance_marks")).scalar() == 0
    engine.dispose()


def test_week_start_is_the_clinics_weekday() -> None:
    from scheduler.service.weeks import week_start

    monday = date(2026, 12, 7)
    assert week_start(monday, date(2026, 12, 13)) == monday  # Sunday: still that week
    assert week_start(monday, date(2026, 12, 14)) == date(2026, 12, 14)
    assert week_start(date(2026, 12, 9), date(2026, 12, 8)) == date(2026, 12, 2)  # Wednesdays
