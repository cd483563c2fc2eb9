"""Names in the checker's words and the live schedule's data (issue 22): the checker's
messages in a live edit's 422, "why not here?" and the unplaced reasons name people, rooms and
patients ("Dana Fischer (N1)"), while ``check`` itself keeps its ids; the next free slots start
from now inside the published week, else from its first day; a patient added to the clinic's
data since the published version can be booked, judged against (and stored under) the data
it was booked with. The service tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.check import check
from scheduler.naming import Namer
from scheduler.service import slots
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.usecases import Options, plan_week
from scheduler.validate import validate_scenario
from tests.test_display import named_clinic
from tests.test_feeds_http import feeds_service, link
from tests.test_live import FREE, publish, published, starts
from tests.test_pages_desk import csrf, sign_in
from tests.test_service import Service

BARE = re.compile(r"(?<![\w(-])(N1|D1|R1|R2|P0[1-4])(?![\w)-])")
"""An id said without its name (beside a name, it is in parentheses)."""


# ----------------------------------------------------------------------------- the namer
def test_ids_become_names_with_the_id_beside_once() -> None:
    say = Namer({"N4": "Dana Fischer", "R1": "Room 1", "P01": "Ana Ruiz", "kap": "KAP"},
                bare=["kap"])
    assert say("N4 is hands-on with two patients at once around Tue 09:00") == \
        "Dana Fischer (N4) is hands-on with two patients at once around Tue 09:00"
    assert say("room R1 holds more than 1 session(s)") == "Room 1 (R1) holds more than 1 session(s)"
    assert say("P01's sessions on 2026-12-07 and 2026-12-08; P01 again") == \
        "Ana Ruiz (P01)'s sessions on 2026-12-07 and 2026-12-08; Ana Ruiz again"
    assert say("no room has what kap sessions need") == "no room has what KAP sessions need"


def test_what_is_not_an_id_is_left_as_it_is() -> None:
    say = Namer({"N4": "Dana Fischer", "P01": "Ana Ruiz", "kap": "KAP", "N5": "N5", "N6": ""})
    kept = "P010 and N44, kap-prep, AN4, x.N4, N5 and N6 (no names), already Dana Fischer (N4)"
    assert say(kept) == kept
    assert say(say("N4 and P01")) == say("N4 and P01")  # translating twice changes nothing
    assert Namer({})("N4") == "N4"


def test_the_checkers_own_words_keep_their_ids() -> None:
    """``check`` (the CLI's contract) is unchanged: the names are the service's and pages'."""
    planned = plan_week(validate_scenario(named_clinic()), Options(time_limit=1, workers=1))
    away = named_clinic()
    away["staff"][0]["time_off"] = ["2026-12-07", "2026-12-08"]
    words = [v.what for v in check(validate_scenario(away), planned.schedule.to_json())]
    assert words and all(w.startswith("N1 is on time off") for w in words), words


# ----------------------------------------------------------------------------- the service
@pytest.fixture
def named(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The named small clinic (tests.test_display) with its week published."""
    with feeds_service(database_url, tmp_path) as service:
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            repo.add_scenario_version(session, repo.clinic(session, 1), named_clinic())
        assert publish(service, service.draft()).status_code == 200
        yield service


def test_a_refused_live_edit_says_names_in_its_422(named: Service) -> None:
    live = published(named)
    first, other = live["schedule"]["appointments"][:2]
    clash = named.call("POST", f"/clinics/1/appointments/{other['id']}/move", "front_desk",
                       json={"number": 1, "start": first["start"], "room": first["room"]})
    assert clash.status_code == 422, clash.text
    messages = [d["message"] for d in clash.json()["detail"]]
    assert any(re.search(r"(Quiet suite \(R1\)|Garden bay \(R2\))", m) for m in messages), \
        messages
    assert any("'s session (A-" in m or "Dana Fischer (N1)" in m for m in messages), messages
    assert not any(BARE.search(m) for m in messages), messages
    early = named.call("POST", f"/clinics/1/appointments/{first['id']}/move", "front_desk",
                       json={"number": 1, "start": "2026-12-07T06:00:00-05:00"})
    assert early.status_code == 422
    assert "breaks the hours rule" in early.text and not BARE.search(early.text), early.text
    assert published(named)["number"] == 1


def test_why_not_here_and_unplaced_reasons_say_names(named: Service) -> None:
    live = published(named)
    gone = live["schedule"]["appointments"][0]
    cancelled = named.call("POST", f"/clinics/1/appointments/{gone['id']}/cancel",
                           "front_desk", json={"number": 1, "reason": "N1 is away; R2 shut"})
    assert cancelled.status_code == 200, cancelled.text
    sign_in(named.client, "front_desk")
    board = named.client.get("/board").text
    assert "Dana Fischer (N1) is away; Garden bay (R2) shut" in board
    unplaced = named.client.get(f"/schedules/{cancelled.json()['id']}/unplaced").text
    assert "Dana Fischer (N1) is away" in unplaced
    # "why not here?" at 06:00, before opening: the checker's words, in names
    answer = named.client.post(f"/schedules/{cancelled.json()['id']}/whynot", data={
        "csrf": csrf(unplaced), "patient": gone["patient"], "date": "2026-12-07",
        "time": "06:00", "room": "R1"})
    assert answer.status_code == 200
    verdict = answer.text.split('id="verdict"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>([^<]+)</li>", verdict)
    assert items and any("Dana Fischer (N1)" in i or "Quiet suite (R1)" in i for i in items)
    assert not any(BARE.search(i) for i in items), items


def test_next_free_slots_start_now_inside_the_week_else_on_its_first_day(
        named: Service) -> None:
    live = published(named)
    gone = live["schedule"]["appointments"][0]
    assert named.call("POST", f"/clinics/1/appointments/{gone['id']}/cancel", "front_desk",
                      json={"number": 1}).status_code == 200
    first_day = datetime.fromisoformat("2026-12-07T00:00:00-05:00")
    with session_scope(named.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        def found(at: datetime) -> list[datetime]:
            return [s.start for s in slots.next_slots(session, 1, gone["patient"], 20,
                                                      at=at).slots]

        whole = found(first_day - timedelta(days=3))  # the week to come: from its first day
        assert whole and whole == found(first_day + timedelta(days=9))  # a week gone by
        midway = datetime.fromisoformat("2026-12-07T12:02:00-05:00")  # now, inside the week
        later = found(midway)
        assert later and all(s >= midway for s in later)
        after = [s for s in whole if s >= midway]
        assert later[:len(after)] == after
        assert any(s < midway for s in whole)  # the morning was offered before noon only
        early = found(datetime.fromisoformat("2026-12-07T00:30:00-05:00"))
        assert early == whole


def _with(scenario: dict[str, Any], change: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(scenario)
    change(data)
    return data


def add_version(service: Service, data: dict[str, Any]) -> int:
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        return repo.add_scenario_version(session, repo.clinic(session, 1), data).id


def stored_under(service: Service, schedule_id: int) -> tuple[int, list[Any]]:
    """The scenario version a schedule is stored under, and ``check`` against it."""
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        row = repo.schedule_row(session, schedule_id)
        return row.scenario_version_id, check(repo.scenario_for(session, row),
                                              repo.to_schedule(row).to_json())


def newcomer(data: dict[str, Any]) -> None:
    data["patients"].append({**data["patients"][0], "id": "P04", "name": "Nora Quist"})


def test_a_patient_added_since_the_publish_is_found_a_slot_and_booked(named: Service) -> None:
    version = add_version(named, _with(named_clinic(), newcomer))
    feed = link(named, "/clinics/1/patients/P04")
    found = named.call("GET", "/clinics/1/patients/P04/slots", "front_desk")
    assert found.status_code == 200, found.text
    slot = found.json()["slots"][0]
    sign_in(named.client, "front_desk")  # why not here? on the live schedule knows her too
    live_id = published(named)["id"]
    unplaced = named.client.get(f"/schedules/{live_id}/unplaced").text
    assert re.search(r'<option value="P04"[^>]*>Nora Quist · P04', unplaced)
    start = datetime.fromisoformat(slot["start"])
    asked = named.client.post(f"/schedules/{live_id}/whynot", data={
        "csrf": csrf(unplaced), "patient": "P04", "date": f"{start:%Y-%m-%d}",
        "time": f"{start:%H:%M}", "room": slot["room"]})
    assert asked.status_code == 200 and "It fits" in asked.text, asked.text[-2000:]
    booked = named.call("POST", "/clinics/1/appointments", "front_desk", json={
        "number": 1, "patient": "P04", "start": slot["start"]})
    assert booked.status_code == 200, booked.text
    mine = [a for a in booked.json()["schedule"]["appointments"] if a["patient"] == "P04"]
    assert [a["start"] for a in mine] == [slot["start"]]
    assert stored_under(named, booked.json()["id"]) == (version, [])
    assert starts(named, feed) == {datetime.fromisoformat(slot["start"])}
    page = named.client.get("/patients/P04").text
    assert "Nora Quist" in page and "published v2" in page


def test_data_for_another_week_or_that_the_week_breaks_is_not_booked_against(
        named: Service) -> None:
    """The broken half: the clinic's data moved on to the next week, or changed so that the
    published week breaks a rule of it (the nurse on time off all week): a live edit is judged
    against the data the published week was made from, where the newcomer is no patient."""
    with session_scope(named.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        own = repo.schedule_row(session, published(named)["id"]).scenario_version_id

    def next_week(data: dict[str, Any]) -> None:
        newcomer(data)
        data["horizon"]["start"] = "2026-12-14"

    def nurse_away(data: dict[str, Any]) -> None:
        newcomer(data)
        data["staff"][0]["time_off"] = ["2026-12-07", "2026-12-08"]

    number = 1
    for change in (next_week, nurse_away):
        add_version(named, _with(named_clinic(), change))
        assert named.call("GET", "/clinics/1/patients/P04/slots",
                          "front_desk").status_code == 404
        refused = named.call("POST", "/clinics/1/appointments", "front_desk", json={
            "number": number, "patient": "P04", "start": FREE})
        assert refused.status_code == 422 and "not a patient" in refused.text, refused.text
        first = published(named)["schedule"]["appointments"][0]
        moved = named.call("POST", f"/clinics/1/appointments/{first['id']}/cancel",
                           "front_desk", json={"number": number})
        assert moved.status_code == 200, moved.text
        assert stored_under(named, moved.json()["id"]) == (own, [])
        number += 1


def test_the_boards_drag_is_answered_in_json(named: Service) -> None:
    """What the board's script reads: 200 with the new version, 422 with the checker's words
    in names, 409 when the schedule moved on, 403 without the form's token; only the 200
    stores anything."""
    live = published(named)
    first, other = live["schedule"]["appointments"][:2]
    sign_in(named.client, "front_desk")
    board = named.client.get("/board").text
    assert 'data-live="1"' in board and 'name="number" value="1"' in board
    local = datetime.fromisoformat(other["start"]).astimezone(validate_scenario(
        named_clinic()).tz)
    form = {"csrf": csrf(board), "number": "1", "date": f"{local:%Y-%m-%d}",
            "time": f"{local:%H:%M}", "room": other["room"]}
    url = f"/live/appointments/{first['id']}/move.json"
    assert named.client.post(url, data={**form, "csrf": "x"}).status_code == 403
    clash = named.client.post(url, data=form)
    assert clash.status_code == 422, clash.text
    problems = clash.json()["problems"]
    assert problems and all("breaks the" in p and not BARE.search(p) for p in problems)
    assert published(named)["number"] == 1
    moved = named.client.post(url, data={**form, "date": "2026-12-08", "time": "15:00",
                                         "room": "R1"})  # R2 is closed Tuesday afternoon
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"schedule": published(named)["id"], "number": 2,
                            "moved": first["id"]}
    stale = named.client.post(url, data={**form, "time": "16:00"})
    assert stale.status_code == 409 and "version 2" in stale.json()["problems"][0]
    assert published(named)["number"] == 2
    shown = named.client.get(f"/board?schedule={moved.json()['schedule']}&live=1"
                             f"&moved={first['id']}").text
    assert re.search(r'<p class="ok moved" role="status">Moved (Ana Ruiz|Ben Okafor|Chen Wei) '
                     r"to Tue 08 Dec 15:00–\d\d:\d\d in Quiet suite with Dana Fischer", shown)
    assert "Undo the last change" in shown
