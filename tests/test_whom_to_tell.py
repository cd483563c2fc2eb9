"""Whom to tell (issue 22, finding 6): a re-plan's changes list weighed a patient moved by hours
the same as a staff-only swap, with no contact. Now patients whose date or time moved come
first with old -> new in the clinic's time and their contact, then staff whose day changed,
then the rest; the API gives the same grouping (GET /schedules/{id}/whom-to-tell)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.validate import validate_scenario
from scheduler.worker import run_job
from tests.test_display import named_clinic
from tests.test_feeds_http import feeds_service
from tests.test_pages_desk import sign_in
from tests.test_service import Service

NY = ZoneInfo("America/New_York")


def _two_nurses() -> dict[str, Any]:
    """The named small clinic with a second nurse, so a nurse's absence can be a swap."""
    data = named_clinic()
    second = copy.deepcopy(data["staff"][0])
    second.update(id="N2", name="Eli Brooks")
    data["staff"].append(second)
    return data


@pytest.fixture
def clinic(database_url: str, tmp_path: Path) -> Iterator[Service]:
    with feeds_service(database_url, tmp_path) as service:
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(_two_nurses()))
        yield service


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(NY)


def _replan(service: Service, draft: dict[str, Any], events: list[dict[str, Any]]
            ) -> dict[str, Any]:
    """The draft re-planned after ``events`` as the service's job runs it; the new draft."""
    queued = service.call("POST", f"/schedules/{draft['id']}/replan", "front_desk", json={
        "events": events, "now": "2026-12-06T12:00:00-05:00", "time_limit": 5})
    assert queued.status_code == 202, queued.text
    job = queued.json()["id"]
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert repo.claim_job(session, job)
    run_job(service.url, job)
    done = service.call("GET", f"/jobs/{job}").json()
    assert done["status"] == "done", done
    newest: dict[str, Any] = service.call("GET", "/clinics/1/schedules").json()[-1]
    assert newest["id"] != draft["id"]
    return newest


@pytest.mark.solve
def test_a_patient_moved_by_hours_is_told_first_and_a_staff_swap_only_to_staff(
        clinic: Service) -> None:
    draft = clinic.draft()
    appointments = draft["schedule"]["appointments"]
    moved = appointments[0]
    swapped = next(a for a in appointments if a["patient"] != moved["patient"])
    nurse = swapped["staff"]["nurse"]
    start, end = _local(moved["start"]), _local(swapped["end"])
    begins = _local(swapped["start"])
    replanned = _replan(clinic, draft, [
        {"type": "patient_unavailable", "patient": moved["patient"], "date": str(start.date()),
         "from": f"{start:%H:%M}", "to": "18:00"},
        {"type": "staff_absent", "staff": nurse, "date": str(begins.date()),
         "from": f"{begins:%H:%M}", "to": f"{end:%H:%M}" if end.date() == begins.date()
         else "24:00"}])

    answer = clinic.call("GET", f"/schedules/{replanned['id']}/whom-to-tell", "front_desk")
    assert answer.status_code == 200, answer.text
    tell = answer.json()
    first = tell["patients"][0]
    assert (first["patient"], first["appointment"], first["what"]) == (
        moved["patient"], moved["id"], "moved")
    assert first["contact"] is None and first["name"]  # no contact on file: the name to call
    before, after = datetime.fromisoformat(first["before"]), datetime.fromisoformat(
        first["after"])
    assert before == datetime.fromisoformat(moved["start"])
    assert abs(after - before) >= timedelta(hours=1)  # moved by hours
    assert first["before"].endswith("-05:00")  # the clinic's local time
    # the swap: the same time with the other nurse, told to the nurses, not to the patient
    assert swapped["patient"] not in {n["patient"] for n in tell["patients"]}
    rest = {c["id"]: c for c in tell["rest"]}
    assert swapped["id"] in rest
    assert rest[swapped["id"]]["after"]["staff"]["nurse"] != nurse
    told = {(n["staff"], n["appointment"]) for n in tell["staff"]}
    assert {(nurse, swapped["id"]), ({"N1": "N2", "N2": "N1"}[nurse], swapped["id"])} <= told

    # the page says the same, patients first with old -> new, then staff, then the rest
    sign_in(clinic.client, "front_desk")
    page = clinic.client.get(f"/schedules/{replanned['id']}/changes").text
    order = [page.index(h) for h in ('id="tell-patients"', 'id="tell-staff"', 'id="tell-rest"')]
    assert order == sorted(order)
    patients = page.split('id="tell-patients"', 1)[1].split('id="tell-staff"', 1)[0]
    row = re.sub(r"<[^>]+>|\s+", " ", patients.split("<tbody>", 1)[1].split("</tr>", 1)[0])
    assert first["name"] in row and "no contact on file" in row
    assert f"{before.astimezone(NY):%a %d %b %H:%M}" in row
    assert f"→ {after.astimezone(NY):%a %d %b %H:%M}" in row
    staff = page.split('id="tell-staff"', 1)[1].split('id="tell-rest"', 1)[0]
    assert "Dana Fischer" in staff and "Eli Brooks" in staff
    assert swapped["id"] in page.split('id="tell-rest"', 1)[1]


def test_whom_to_tell_is_for_the_front_desk_of_the_schedules_clinic(clinic: Service) -> None:
    draft = clinic.draft()
    empty = clinic.call("GET", f"/schedules/{draft['id']}/whom-to-tell", "front_desk").json()
    assert empty == {"schedule_id": draft["id"], "patients": [], "staff": [], "rest": []}
    assert clinic.call("GET", "/schedules/999/whom-to-tell", "front_desk").status_code == 404
