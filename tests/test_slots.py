"""Find a slot (issue 22, finding 3), each test on SQLite and on PostgreSQL: the next free
slots of a patient on the published schedule's week, every one of which the checker accepts
when it is booked; limit and from honoured; an unknown patient or clinic is a 404, a bad limit
or from a 422; on the patient's page a slot is booked in one click."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scheduler.check import check
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.validate import validate_scenario
from tests.test_feeds_http import feeds_service
from tests.test_live import publish, published
from tests.test_pages_desk import csrf, sign_in
from tests.test_service import Service


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    with feeds_service(database_url, tmp_path) as service:
        yield service


def freed(service: Service) -> tuple[dict[str, Any], dict[str, Any]]:
    """A published small-clinic week with its first appointment cancelled (so its patient
    wants one more session): the cancelled appointment and the published schedule."""
    assert publish(service, service.draft()).status_code == 200
    gone = published(service)["schedule"]["appointments"][0]
    answer = service.call("POST", f"/clinics/1/appointments/{gone['id']}/cancel",
                          json={"number": 1})
    assert answer.status_code == 200, answer.text
    return gone, answer.json()


def slots(service: Service, patient: str, query: str = "", role: str = "front_desk") -> Any:
    return service.call("GET", f"/clinics/1/patients/{patient}/slots{query}", role)


def test_every_listed_slot_is_accepted_by_the_checker_when_booked(service: Service) -> None:
    gone, live = freed(service)
    answer = slots(service, gone["patient"], "?limit=20")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["schedule_id"], body["number"], body["patient"]) == (live["id"], 2,
                                                                     gone["patient"])
    found = body["slots"]
    assert found, "the cancelled session's own slot is free again"
    assert any(s["start"] == gone["start"] for s in found) or len(found) == 20
    starts = [datetime.fromisoformat(s["start"]) for s in found]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    number = 2
    for slot in found:
        booked = service.call("POST", "/clinics/1/appointments", "front_desk", json={
            "number": number, "patient": gone["patient"], "start": slot["start"],
            "room": slot["room"], "staff": slot["staff"]})
        assert booked.status_code == 200, (slot, booked.text)
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            scenario = repo.scenario_of(repo.scenario_version(session, 1))
        assert check(validate_scenario(scenario.model_dump(mode="json", by_alias=True,
                                                           exclude_none=True)),
                     booked.json()["schedule"]) == []
        undone = service.call("POST", "/clinics/1/undo", "front_desk",
                              json={"number": number + 1})
        assert undone.status_code == 200, undone.text
        number += 2


def test_slots_honour_limit_and_from(service: Service) -> None:
    gone, _ = freed(service)
    every = slots(service, gone["patient"], "?limit=20").json()["slots"]
    assert len(slots(service, gone["patient"]).json()["slots"]) == min(5, len(every))
    assert slots(service, gone["patient"], "?limit=1").json()["slots"] == every[:1]
    if len(every) > 1:
        later = every[1]["start"]
        answer = service.client.get(
            f"/api/v1/clinics/1/patients/{gone['patient']}/slots",
            params={"limit": 20, "from": later}, headers=service.auth("front_desk"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["slots"][:len(every) - 1] == every[1:]  # nothing before ``from``


def test_slots_of_an_unknown_patient_or_clinic_are_a_404(service: Service) -> None:
    freed(service)
    assert slots(service, "P999").status_code == 404
    assert service.call("GET", "/clinics/2/patients/P01/slots",
                        "front_desk").status_code == 404


@pytest.mark.parametrize("query", ["?limit=0", "?limit=21", "?limit=x",
                                   "?from=2026-12-08T09:00:00", "?from=tuesday"])
def test_a_bad_limit_or_from_is_a_422(service: Service, query: str) -> None:
    gone, _ = freed(service)
    answer = slots(service, gone["patient"], query)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert ("limit" if "limit" in query else "from") in str(detail)


def test_a_slot_is_booked_in_one_click_on_the_patients_page(service: Service) -> None:
    gone, _ = freed(service)
    sign_in(service.client, "front_desk")
    patient = service.client.get(f"/patients/{gone['patient']}")
    assert patient.status_code == 200
    assert "Next free slots" in patient.text
    first = slots(service, gone["patient"], "?limit=1").json()["slots"][0]
    form = re.search(r'<form method="post" action="/patients/[^"]+/book".*?</form>',
                     patient.text, re.S)
    assert form is not None, "a Book button per slot"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert fields["start"] == datetime.fromisoformat(first["start"]).isoformat()
    booked = service.client.post(f"/patients/{gone['patient']}/book", data=fields)
    assert booked.status_code == 200, booked.text  # the patient's page, after the redirect
    assert booked.url.path == f"/patients/{gone['patient']}"
    live = published(service)
    assert live["number"] == 3
    mine = [a for a in live["schedule"]["appointments"] if a["patient"] == gone["patient"]
            and datetime.fromisoformat(a["start"]) == datetime.fromisoformat(first["start"])]
    assert len(mine) == 1
    assert f"published v3 #{live['id']}" in booked.text
    # the same click again is refused (someone changed it first: the version moved on)
    again = service.client.post(f"/patients/{gone['patient']}/book", data=fields)
    assert again.status_code == 409 and published(service)["number"] == 3


def test_a_patient_with_no_free_slot_this_week_is_told_so(service: Service) -> None:
    assert publish(service, service.draft()).status_code == 200
    live = published(service)["schedule"]
    short = {u["patient"] for u in live["unplaced"]}
    booked = next(a["patient"] for a in live["appointments"] if a["patient"] not in short)
    assert slots(service, booked).json()["slots"] == []  # every session wanted is booked
    sign_in(service.client, "front_desk")
    text = service.client.get(f"/patients/{booked}").text
    assert "No free slot fits" in text and 'action="/patients/' + booked + '/book"' not in text


def test_why_not_here_offers_the_nearest_slots_that_fit(service: Service) -> None:
    gone, live = freed(service)
    sign_in(service.client, "front_desk")
    form = service.client.get(f"/schedules/{live['id']}/unplaced")
    assert f'action="/schedules/{live["id"]}/whynot#verdict"' in form.text  # scrolls to it
    assert f'href="/patients/{gone["patient"]}#slots"' in form.text  # from the unplaced list
    late = service.client.post(f"/schedules/{live['id']}/whynot", data={
        "csrf": csrf(form.text), "patient": gone["patient"], "date": gone["start"][:10],
        "time": "17:00", "room": gone["room"]})
    assert "Not here: the checker says" in late.text and 'id="verdict"' in late.text
    assert "The nearest slots that fit" in late.text
    offered = re.findall(r'href="(/schedules/\d+/unplaced\?patient=[^"]+)"', late.text)
    assert 1 <= len(offered) <= 3
    for href in offered:  # each one, tried, fits
        query = dict(re.findall(r"(\w+)=([^&]*)", href.split("?")[1].replace("&amp;", "&")))
        tried = service.client.post(f"/schedules/{live['id']}/whynot", data={
            "csrf": csrf(form.text), "patient": gone["patient"], "date": query["date"],
            "time": query["time"].replace("%3A", ":"), "room": query["room"]})
        assert "It fits" in tried.text, href
