"""The front desk's pages without a browser, on SQLite and on PostgreSQL: sign-in, CSRF,
security headers, who may open what, and forms that keep what was typed and show the
checker's words beside the field. The browser's walk is tests/test_pages.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from scheduler.pages.web import CSP
from scheduler.service.jobs import FIRST_ANSWER
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions
from scheduler.storage.tables import now
from tests.test_feeds_http import feeds_service
from tests.test_service import Service

PASSWORD = "correct horse battery"  # tests.test_feeds_http.password_hash()


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The small clinic (Mon-Tue, two rooms, one nurse N1, one prescriber D1, P01-P03) with
    a solved draft, and a browser-like client signed in as the front desk."""
    with feeds_service(database_url, tmp_path) as service:
        service.draft()
        sign_in(service.client, "front_desk")
        yield service


def csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None, "the page has a form with its CSRF token"
    return found.group(1)


def sign_in(client: TestClient, role: str) -> None:
    form = client.get("/login")
    answer = client.post("/login", data={"email": f"{role}@example.org", "password": PASSWORD,
                                         "csrf": csrf(form.text), "next": "/board"},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/board"


def messages(text: str) -> dict[str, list[str]]:
    """The messages shown beside each field, by the field's name."""
    out: dict[str, list[str]] = {}
    for block in re.findall(r'<div class="field invalid">(.*?)</div>', text, re.S):
        name = re.search(r'for="f-([^"]+)"', block)
        assert name is not None
        out[name.group(1)] = re.findall(r'class="message"[^>]*>([^<]+)<', block)
    return out


def test_signed_out_is_sent_to_sign_in_and_back_after(database_url: str, tmp_path: Path
                                                      ) -> None:
    with feeds_service(database_url, tmp_path) as service:
        client = service.client
        answer = client.get("/patients/P01?x=1", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/patients/P01%3Fx%3D1"
        form = client.get(answer.headers["location"])
        assert 'name="next" value="/patients/P01?x=1"' in form.text
        wrong = client.post("/login", data={"email": "front_desk@example.org",
                                            "password": "nope", "csrf": csrf(form.text)})
        assert wrong.status_code == 422
        assert messages(wrong.text) == {"password": ["wrong email or password"]}
        assert 'value="front_desk@example.org"' in wrong.text  # what was typed stays
        # somewhere else after signing in: only a path of this site
        evil = client.post("/login", data={"email": "front_desk@example.org",
                                           "password": PASSWORD, "csrf": csrf(form.text),
                                           "next": "//evil.example/x"}, follow_redirects=False)
        assert evil.headers["location"] == "/board"
        cookie = evil.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_every_form_needs_its_token_and_sign_out_ends_the_session(desk: Service) -> None:
    client = desk.client
    board = client.get("/board")
    token = csrf(board.text)
    refused = client.post("/solve", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert "did not come from Chairtime" in refused.text
    assert client.post("/solve", data={}).status_code == 403
    out = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    assert client.get("/board", follow_redirects=False).status_code == 303
    # the token itself is dead, not just the cookie gone
    client.cookies.set("chairtime_session", board.request.headers["cookie"].split("=", 1)[1])
    assert client.get("/board", follow_redirects=False).status_code == 303


def test_pages_send_a_strict_content_security_policy(desk: Service) -> None:
    board = desk.client.get("/board")
    assert board.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP
    assert board.headers["x-frame-options"] == "DENY"
    assert board.headers["cache-control"] == "no-store"
    assert "<script>" not in board.text and " style=" not in board.text
    assert " on" not in re.sub(r"\s+", " ", "".join(re.findall(r"<[^>]+>", board.text))
                               ).replace(' on"', "")  # no onclick= handlers
    # the API keeps its own answers
    api = desk.client.get("/api/v1/schedules/999")
    assert api.headers["content-type"] == "application/json"


def test_unknown_ids_and_roles_get_pages_not_json(desk: Service, database_url: str) -> None:
    missing = desk.client.get("/schedules/999/appointments/A-1")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "no schedule &#39;999&#39;" in missing.text
    assert desk.client.get("/patients/NOBODY").status_code == 404
    forbidden = desk.client.get("/whatif")
    assert forbidden.status_code == 403
    assert "for manager, admin" in forbidden.text


def test_the_board_shows_every_appointment_in_its_room(desk: Service) -> None:
    board = desk.client.get("/board")
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    schedule = desk.call("GET", f"/schedules/{drafted['id']}").json()["schedule"]
    blocks = re.findall(r'data-id="([^"]+)" data-x="[^"]+" data-room="([^"]+)"', board.text)
    assert sorted(blocks) == sorted((a["id"], a["room"]) for a in schedule["appointments"])
    assert f"{len(blocks)} sessions placed of 3 wanted" in board.text


def test_a_move_that_breaks_a_rule_shows_the_checker_beside_the_time(desk: Service) -> None:
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    ref = desk.call("GET", f"/schedules/{drafted['id']}").json()["schedule"][
        "appointments"][0]["id"]
    page = desk.client.get(f"/schedules/{drafted['id']}/appointments/{ref}")
    form = {"csrf": csrf(page.text), "version": str(drafted["version"]),
            "date": "2026-12-07", "time": "06:30", "room": "R1"}
    answer = desk.client.post(f"/schedules/{drafted['id']}/appointments/{ref}/move", data=form)
    assert answer.status_code == 422
    beside = messages(answer.text)
    assert list(beside) == ["time"]
    assert any("breaks the hours rule" in m for m in beside["time"])
    assert 'value="06:30"' in answer.text
    typo = desk.client.post(f"/schedules/{drafted['id']}/appointments/{ref}/move",
                            data={**form, "date": "2026-02-30", "time": "7pm"})
    assert messages(typo.text) == {"date": ["&#39;2026-02-30&#39; is not a date (YYYY-MM-DD)"],
                                   "time": ["&#39;7pm&#39; is not a time of day (HH:MM)"]}
    assert 'value="2026-02-30"' in typo.text and 'value="7pm"' in typo.text
    # the draft did not change
    assert desk.call("GET", f"/schedules/{drafted['id']}").json()["version"] == \
        drafted["version"]


def test_cancel_then_why_not_here_then_place_it_back(desk: Service) -> None:
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    sid, version = drafted["id"], drafted["version"]
    gone = desk.call("GET", f"/schedules/{sid}").json()["schedule"]["appointments"][0]
    token = csrf(desk.client.get("/board").text)
    desk.client.post(f"/schedules/{sid}/appointments/{gone['id']}/cancel",
                     data={"csrf": token, "version": str(version), "reason": "flat tyre"})
    board = desk.client.get("/board")
    assert "flat tyre" in board.text
    # a slot before opening: the checker's words; the slot it had: it fits
    late = desk.client.post(f"/schedules/{sid}/whynot", data={
        "csrf": token, "patient": gone["patient"], "date": "2026-12-07", "time": "17:00",
        "room": gone["room"]})
    assert "Not here: the checker says" in late.text
    assert "is not inside one interval of the clinic&#39;s hours" in late.text
    start = gone["start"][11:16]
    fits = desk.client.post(f"/schedules/{sid}/whynot", data={
        "csrf": token, "patient": gone["patient"], "date": gone["start"][:10], "time": start,
        "room": gone["room"]})
    assert "It fits" in fits.text
    version = desk.call("GET", f"/schedules/{sid}").json()["version"]
    placed = desk.client.post(f"/schedules/{sid}/place", data={
        "csrf": token, "version": str(version), "patient": gone["patient"],
        "date": gone["start"][:10], "time": start, "room": gone["room"],
        **{f"staff.{k}": v for k, v in gone["staff"].items()}}, follow_redirects=False)
    assert placed.status_code == 303
    after = desk.call("GET", f"/schedules/{sid}").json()["schedule"]
    back = [a for a in after["appointments"] if a["patient"] == gone["patient"]]
    assert [(a["start"], a["room"], a["staff"]) for a in back] == [
        (gone["start"], gone["room"], gone["staff"])]
    assert after["unplaced"] == []
    stale = desk.client.post(f"/schedules/{sid}/appointments/{back[0]['id']}/cancel",
                             data={"csrf": token, "version": str(version)})
    assert stale.status_code == 409  # another clerk's change meanwhile: nothing overwritten
    assert "changed" in stale.text.lower()
    assert len(desk.call("GET", f"/schedules/{sid}").json()["schedule"]["appointments"]) == \
        len(after["appointments"])


def test_a_bad_event_is_shown_beside_its_field_and_nothing_is_queued(desk: Service) -> None:
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    page = desk.client.get(f"/schedules/{drafted['id']}/replan")
    answer = desk.client.post(f"/schedules/{drafted['id']}/replan", data={
        "csrf": csrf(page.text), "type": "staff_absent", "staff": "N1", "date": "2026-12-32",
        "yaml": "- {type: room_closed, room: R9, date: 2026-12-07}"})
    assert answer.status_code == 422
    beside = messages(answer.text)
    assert beside["date"] == ["&#39;2026-12-32&#39; is not a date written YYYY-MM-DD"]
    assert any(m.startswith("events[1].room") for m in beside["yaml"])
    assert "R9" in answer.text and 'value="2026-12-32"' in answer.text
    assert desk.call("GET", "/clinics/1/schedules").json()[-1]["id"] == drafted["id"]


def test_publish_from_the_board_and_the_patient_link_reads_back(desk: Service) -> None:
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    token = csrf(desk.client.get("/board").text)
    published = desk.client.post(f"/schedules/{drafted['id']}/publish", data={
        "csrf": token, "version": str(drafted["version"])}, follow_redirects=False)
    assert published.status_code == 303
    board = desk.client.get(published.headers["location"])
    assert "patients' calendars now show this version" in board.text
    patient = desk.call("GET", f"/schedules/{drafted['id']}").json()["schedule"][
        "appointments"][0]["patient"]
    made = desk.client.post(f"/patients/{patient}/feed", data={"csrf": token,
                                                               "action": "issue"})
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    url = re.search(r'id="feed-url" class="copy" readonly value="([^"]+)"', made.text)
    assert url is not None
    assert 'src="data:image/svg+xml' in made.text  # the QR code, inline (no request leaks it)
    feed = desk.client.get(url.group(1).split("/feeds/", 1)[1].join(["/feeds/", ""]))
    assert feed.status_code == 200
    calendar = Calendar.from_ical(feed.content)
    assert len(calendar.walk("VEVENT")) >= 1
    # the page never shows the link again, only that one is in force
    again = desk.client.get(f"/patients/{patient}")
    assert url.group(1) not in again.text and "A private link is in force" in again.text


def test_a_solve_queued_from_the_board_can_be_cancelled_once(desk: Service) -> None:
    token = csrf(desk.client.get("/board").text)
    queued = desk.client.post("/solve", data={"csrf": token, "time_limit": "5"},
                              follow_redirects=False)
    assert queued.status_code == 303
    job = queued.headers["location"]  # /jobs/{id}: no runner in this service, so it waits
    page = desk.client.get(job)
    assert "Waiting for a free worker" in page.text
    assert desk.client.get(f"{job}/progress.json").json()["status"] == "queued"
    bad = desk.client.post("/solve", data={"csrf": token, "time_limit": "0"})
    assert bad.status_code == 422
    assert messages(bad.text) == {"time_limit": ["&#39;0&#39;: give seconds between 1 and 3600"]}
    assert 'name="time_limit" type="number" value="0"' in bad.text  # what was typed stays
    desk.client.post(f"{job}/cancel", data={"csrf": token})
    assert desk.client.get(f"{job}/progress.json").json()["status"] == "cancelled"
    again = desk.client.post(f"{job}/cancel", data={"csrf": token})
    assert again.status_code == 409
    assert "cancelled already" in again.text


def test_favicon_is_served_not_a_404_on_every_page(desk: Service) -> None:
    signed_out = TestClient(desk.client.app)
    icon = signed_out.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    board = desk.client.get("/board")
    assert '<link rel="icon" href="/favicon.ico"' in board.text
    assert "img-src 'self'" in board.headers["content-security-policy"]  # same origin: allowed


def test_a_re_plan_job_offers_its_first_answer_while_it_improves_and_not_after(
        desk: Service) -> None:
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    token = csrf(desk.client.get(f"/schedules/{drafted['id']}/replan").text)
    queued = desk.client.post(f"/schedules/{drafted['id']}/replan", data={
        "csrf": token, "type": "staff_absent", "staff": "N1", "date": "2026-12-08"},
        follow_redirects=False)
    job = queued.headers["location"]  # no runner here: the job's row is written below
    assert "First answer ready" not in desk.client.get(job).text

    def job_row(**fields: object) -> None:
        engine = connect(desk.url)
        with session_scope(sessions(engine)) as session:
            row = repo.job(session, job.removeprefix("/jobs/"))
            for k, v in fields.items():
                setattr(row, k, v)
        engine.dispose()

    first = {"schedule_id": drafted["id"], "placed": 5, "wanted": 6, "moved": 2,
             "seconds": 1.2, "version": 1}
    job_row(status="running", started_at=now(),
            progress={"stage": "placement", "objective": 5, FIRST_ANSWER: first})
    page = desk.client.get(job).text
    assert ("First answer ready: 5 of 6 sessions placed, 2 appointments moved — "
            f'<a href="/schedules/{drafted["id"]}/changes">accept it</a>, or wait for the '
            "improved one.") in page
    assert "<dt>first_answer</dt>" not in page and "<dt>stage</dt>" in page
    assert desk.client.get(f"{job}/progress.json").json()["first"] == {
        "placed": 5, "wanted": 6, "moved": 2, "href": f"/schedules/{drafted['id']}/changes"}
    api = desk.call("GET", f"/jobs/{job.removeprefix('/jobs/')}").json()["first_answer"]
    assert (api["schedule_id"], api["placed"], api["moved"]) == (drafted["id"], 5, 2)
    assert api["url"].endswith(f"/schedules/{drafted['id']}")
    job_row(status="done", finished_at=now(), result_schedule_id=drafted["id"])
    assert "First answer ready" not in desk.client.get(job).text  # the final one is the result
    assert desk.client.get(f"{job}/progress.json").json()["first"] is None
