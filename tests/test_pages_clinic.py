"""The clinic's data through the pages without a browser, on SQLite and on PostgreSQL: each
form's validation as a kept/broken pair (every message beside its field, all at once, what was
typed kept, nothing stored), a 409 when someone saved first, who may change what, the sick
call at 07:00 on the pages' clock and the re-plan it offers, and a clinic started from nothing.
The browser's walk is tests/test_clinic_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from scheduler.pages.forms import week_summary
from tests.conftest import fresh_database
from tests.test_feeds_http import feeds_service
from tests.test_pages_desk import csrf, messages
from tests.test_service import Service

CLOCK = "2026-12-08T07:00:00-05:00"
"""Tuesday of the small clinic's week (Mon-Tue), before it opens."""


@pytest.fixture(scope="module")
def clinic(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The small clinic (N1, D1, R1, R2, P01-P03) with a solved draft; the pages' clock stands
    at 07:00 on its Tuesday. Tests sign in as they need and read the version they post."""
    folder = tmp_path_factory.mktemp("clinic")
    with fresh_database(database_kind, folder) as url, \
            feeds_service(url, folder, clock=CLOCK) as service:
        service.draft()
        yield service


def as_role(service: Service, role: str) -> None:
    """Signed in as ``role``: the page cookie holds one of the API's tokens (signing in through
    the form, argon2 and all, is tests/test_pages_desk.py's)."""
    service.client.cookies.clear()
    service.client.cookies.set("chairtime_session", service.tokens[role])


def form_of(service: Service, path: str) -> dict[str, str]:
    """The CSRF token and the scenario version a page's forms carry."""
    text = service.client.get(path).text
    found = re.search(r'name="version" value="(\d+)"', text)
    assert found is not None, f"{path} has a form with the version it read"
    return {"csrf": csrf(text), "version": found.group(1)}


def scenario(service: Service) -> dict[str, Any]:
    body: dict[str, Any] = service.call("GET", "/clinics/1/scenario").json()["scenario"]
    return body


def version(service: Service) -> int:
    return int(service.call("GET", "/clinics/1/scenario").json()["version"])


def staff(service: Service, sid: str) -> dict[str, Any]:
    found: dict[str, Any] = service.call("GET", f"/clinics/1/staff/{sid}").json()
    return found


def test_a_staff_member_broken_every_message_beside_its_field_kept_saved(clinic: Service
                                                                          ) -> None:
    as_role(clinic, "manager")
    before = version(clinic)
    base = {**form_of(clinic, "/clinic/staff/N1"), "name": "Ana Ruiz", "role": "nurse",
            "qualifications": "spravato, iv", "max_patients": "3"}
    broken = clinic.client.post("/clinic/staff/N1", data={
        **base, "max_patients": "three", "shifts.mon": "09:00-08:00", "shifts.tue": "8-5"})
    assert broken.status_code == 422
    shown = messages(broken.text)
    assert set(shown) == {"max_patients", "shifts.tue"}  # the form's own problems first
    assert "is not a whole number of patients" in shown["max_patients"][0]
    assert "&#39;8-5&#39; is not a span of time written HH:MM-HH:MM" in shown["shifts.tue"][0]
    assert 'value="three"' in broken.text and 'value="8-5"' in broken.text
    reversed_ = clinic.client.post("/clinic/staff/N1", data={
        **base, "shifts.mon": "09:00-08:00", "shifts.tue": "08:00-18:00"})
    assert messages(reversed_.text) == {
        "shifts.mon": ["ends at 08:00, not after it starts at 09:00"]}
    assert version(clinic) == before  # nothing stored
    kept = clinic.client.post("/clinic/staff/N1", data={
        **base, "shifts.mon": "8:00-12:00, 12:30-18:00", "shifts.tue": "08:00-18:00"},
        follow_redirects=False)
    assert kept.status_code == 303, kept.text
    saved = staff(clinic, "N1")
    assert saved["name"] == "Ana Ruiz" and saved["max_patients"] == 3
    assert saved["shifts"]["mon"] == [["08:00", "12:00"], ["12:30", "18:00"]]
    assert saved["qualifications"] == ["spravato", "iv"]
    assert version(clinic) == before + 1
    listed = clinic.client.get("/clinic/staff").text
    assert "Ana Ruiz" in listed and "front_desk@example.org" in listed  # the linked account


def test_a_new_staff_member_with_a_taken_id_then_a_free_one(clinic: Service) -> None:
    as_role(clinic, "manager")
    new = {**form_of(clinic, "/clinic/staff/new"), "name": "Ben Ode", "role": "nurse",
           "qualifications": "spravato", "max_patients": "4", "shifts.mon": "08:00-18:00"}
    taken = clinic.client.post("/clinic/staff", data={**new, "id": "D1"})
    assert taken.status_code == 422
    assert messages(taken.text) == {"id": ["&#39;D1&#39; is taken: another staff member has "
                                           "this id"]}
    bad = clinic.client.post("/clinic/staff", data={**new, "id": "N 2", "role": ""})
    assert set(messages(bad.text)) == {"id", "role"}
    kept = clinic.client.post("/clinic/staff", data={**new, "id": "N2"}, follow_redirects=False)
    assert kept.headers["location"] == "/clinic/staff/N2?saved=1"
    assert staff(clinic, "N2")["name"] == "Ben Ode"


def test_removing_someone_a_patient_prefers_is_refused_naming_it_then_allowed(
        clinic: Service) -> None:
    as_role(clinic, "manager")
    added = clinic.client.post("/clinic/staff", data={
        **form_of(clinic, "/clinic/staff/new"), "id": "N9", "name": "Spare", "role": "nurse",
        "max_patients": "1"}, follow_redirects=False)
    assert added.status_code == 303
    patient = clinic.call("GET", "/clinics/1/patients/P01").json()
    prefers = {k: v for k, v in patient.items() if v is not None}
    assert clinic.call("PUT", "/clinics/1/patients/P01",
                       json={**prefers, "preferred_staff": ["N9"]}).status_code == 200
    before = version(clinic)
    refused = clinic.client.post("/clinic/staff/N9/remove",
                                 data=form_of(clinic, "/clinic/staff"))
    assert refused.status_code == 422
    assert "patients[0].preferred_staff[0]</a>: unknown staff &#39;N9&#39;" in refused.text
    assert version(clinic) == before  # nothing stored
    assert clinic.call("PUT", "/clinics/1/patients/P01", json={
        **prefers, "preferred_staff": []}).status_code == 200
    kept = clinic.client.post("/clinic/staff/N9/remove", data=form_of(clinic, "/clinic/staff"),
                              follow_redirects=False)
    assert kept.headers["location"] == "/clinic/staff?removed=1"
    assert clinic.call("GET", "/clinics/1/staff/N9").status_code == 404


def test_someone_saved_first_is_a_409_with_a_reload_link_and_nothing_stored(clinic: Service
                                                                            ) -> None:
    as_role(clinic, "manager")
    stale = form_of(clinic, "/clinic/rooms/R2")
    fresh = form_of(clinic, "/clinic/rooms/R2")
    first = clinic.client.post("/clinic/rooms/R2", data={
        **fresh, "name": "Bay", "chairs": "2", "features": "recliner"}, follow_redirects=False)
    assert first.status_code == 303
    second = clinic.client.post("/clinic/rooms/R2", data={
        **stale, "name": "Quiet room", "chairs": "1", "features": "recliner"})
    assert second.status_code == 409
    assert "Someone saved a change first" in second.text
    assert 'href="/clinic/rooms/R2">Reload the page' in second.text
    assert 'value="Quiet room"' in second.text  # what was typed, kept
    room = clinic.call("GET", "/clinics/1/rooms/R2").json()
    assert room["name"] == "Bay" and room["chairs"] == 2


def test_a_room_broken_then_kept_with_its_own_hours(clinic: Service) -> None:
    as_role(clinic, "manager")
    base = {**form_of(clinic, "/clinic/rooms/R1"), "name": "Room 1", "features": "recliner"}
    broken = clinic.client.post("/clinic/rooms/R1", data={**base, "chairs": "0",
                                                          "hours.mon": "noon"})
    assert messages(broken.text) == {
        "hours.mon": ["&#39;noon&#39; is not a span of time written HH:MM-HH:MM (several: "
                      "comma between)"]}
    zero = clinic.client.post("/clinic/rooms/R1", data={**base, "chairs": "0"})
    assert messages(zero.text) == {"chairs": ["input should be greater than or equal to 1"]}
    kept = clinic.client.post("/clinic/rooms/R1", data={**base, "chairs": "1",
                                                        "hours.mon": "08:00-13:00"},
                              follow_redirects=False)
    assert kept.status_code == 303
    room = clinic.call("GET", "/clinics/1/rooms/R1").json()
    assert room["hours"] == {"mon": [["08:00", "13:00"]]}
    cleared = clinic.client.post("/clinic/rooms/R1", data={
        **form_of(clinic, "/clinic/rooms/R1"), "name": "Room 1", "features": "recliner",
        "chairs": "1"}, follow_redirects=False)
    assert cleared.status_code == 303
    assert clinic.call("GET", "/clinics/1/rooms/R1").json()["hours"] is None  # the clinic's


def test_the_clinic_broken_then_kept_with_address_and_arrival(clinic: Service) -> None:
    as_role(clinic, "manager")
    base = {**form_of(clinic, "/clinic"), "name": "Test Clinic",
            "hours.mon": "08:00-18:00", "hours.tue": "08:00-18:00"}
    broken = clinic.client.post("/clinic", data={**base, "timezone": "Mars/Olympus",
                                                 "name": "", "address": "1 Main St"})
    assert broken.status_code == 422
    shown = messages(broken.text)
    assert shown["timezone"] == ["&#39;Mars/Olympus&#39; is not an IANA time zone name such "
                                 "as America/New_York"]
    assert set(shown) == {"timezone", "name"}
    assert "1 Main St" in broken.text
    kept = clinic.client.post("/clinic", data={
        **base, "timezone": "America/New_York", "address": "1 Main St\nBrooklyn, NY",
        "arrival_instructions": "Ring at the side door; bring a driver."},
        follow_redirects=False)
    assert kept.status_code == 303
    saved = scenario(clinic)["clinic"]
    assert saved["address"] == "1 Main St\nBrooklyn, NY"
    assert saved["arrival_instructions"] == "Ring at the side door; bring a driver."


def test_a_rems_protocol_keeps_two_hours_of_monitoring_the_rule_beside_the_phases(
        clinic: Service) -> None:
    as_role(clinic, "manager")
    view = clinic.client.get("/clinic/protocols/esk").text
    assert "monitored for at least 2 hours (120 minutes)" in view
    base = {**form_of(clinic, "/clinic/protocols/esk"), "name": "Esketamine 84 mg",
            "phases.0.minutes": "10", "phases.1.minutes": "15", "phases.3.minutes": "5",
            "turnover_minutes": "10", "room_features": "recliner", "requires_rems": "on",
            "staff.0.qualification": "spravato"}
    broken = clinic.client.post("/clinic/protocols/esk", data={**base,
                                                                "phases.2.minutes": "60"})
    assert broken.status_code == 422
    beside = re.search(r'<fieldset id="f-phases" class="week invalid".*?</fieldset>',
                       broken.text, re.S)
    assert beside is not None
    assert ("must keep at least 120 minutes with an on-site prescriber (on_site role "
            "prescriber); they keep 60") in beside.group(0)
    assert "monitored for at least 2 hours" in beside.group(0)  # the rule's own words
    assert 'value="60"' in beside.group(0)
    kept = clinic.client.post("/clinic/protocols/esk", data={**base,
                                                              "phases.2.minutes": "150"},
                              follow_redirects=False)
    assert kept.status_code == 303
    phases = clinic.call("GET", "/clinics/1/protocols/esk").json()["phases"]
    assert [p["minutes"] for p in phases] == [10, 15, 150, 5]


def test_protocols_from_the_library_by_name_as_they_are_or_as_a_copy(clinic: Service
                                                                      ) -> None:
    as_role(clinic, "manager")
    listed = clinic.client.get("/clinic/protocols").text
    assert '<option value="iv-ketamine" >IV ketamine 0.5 mg/kg</option>' in listed
    unknown = clinic.client.post("/clinic/protocols", data={
        **form_of(clinic, "/clinic/protocols"), "protocol": "lsd"})
    assert messages(unknown.text) == {"protocol": ["&#39;lsd&#39; is not a protocol of the "
                                                   "library"]}
    kept = clinic.client.post("/clinic/protocols", data={
        **form_of(clinic, "/clinic/protocols"), "protocol": "iv-ketamine"},
        follow_redirects=False)
    assert kept.headers["location"] == "/clinic/protocols/iv-ketamine?saved=1"
    assert ('<option value="iv-ketamine" >IV ketamine 0.5 mg/kg · in the clinic: add a copy'
            in clinic.client.get("/clinic/protocols").text)
    twice = clinic.client.post("/clinic/protocols", data={
        **form_of(clinic, "/clinic/protocols"), "protocol": "iv-ketamine",
        "as_id": "esk", "as_name": "IV, 60 minutes"})
    assert messages(twice.text) == {"as_id": ["the clinic has a protocol &#39;esk&#39; "
                                              "already"]}
    assert 'value="IV, 60 minutes"' in twice.text
    copy = clinic.client.post("/clinic/protocols", data={
        **form_of(clinic, "/clinic/protocols"), "protocol": "iv-ketamine",
        "as_id": "iv-60", "as_name": "IV, 60 minutes"}, follow_redirects=False)
    assert copy.headers["location"] == "/clinic/protocols/iv-60?saved=1"
    assert clinic.call("GET", "/clinics/1/protocols/iv-60").json()["name"] == "IV, 60 minutes"


def test_the_front_desk_enters_absences_and_closures_but_edits_nothing_else(clinic: Service
                                                                          ) -> None:
    as_role(clinic, "front_desk")
    assert clinic.client.get("/clinic/protocols/esk").status_code == 200  # readable by all
    page = clinic.client.get("/clinic/staff/D1").text
    assert 'name="role"' not in page  # no roster form for the desk
    token = form_of(clinic, "/clinic/staff/D1")
    for path, data in (("/clinic/staff/D1", {"role": "nurse", "max_patients": "1"}),
                       ("/clinic/rooms/R1", {"chairs": "3"}),
                       ("/clinic/protocols/esk", {"name": "x"}),
                       ("/clinic", {"name": "x", "timezone": "UTC"}),
                       ("/clinic/closed", {"date": "2026-12-08"}),
                       ("/clinic/staff/D1/remove", {})):
        refused = clinic.client.post(path, data={**token, **data})
        assert refused.status_code == 403, path
    before = version(clinic)
    broken = clinic.client.post("/clinic/rooms/R1/closures", data={
        **token, "date": "2026-12-07", "from": "14:00", "to": "12:00"})
    assert broken.status_code == 422
    assert messages(broken.text) == {"to": ["ends at 12:00, not after it starts at 14:00"]}
    assert 'value="14:00"' in broken.text and version(clinic) == before
    typo = clinic.client.post("/clinic/staff/D1/absences", data={
        **token, "date": "2026-13-01", "from": "9am"})
    assert messages(typo.text) == {
        "date": ["&#39;2026-13-01&#39; is not a date written YYYY-MM-DD"],
        "from": ["&#39;9am&#39; is not a time of day written HH:MM (00:00 to 24:00)"]}
    assert version(clinic) == before
    kept = clinic.client.post("/clinic/rooms/R1/closures", data={
        **form_of(clinic, "/clinic/rooms/R1"), "date": "2026-12-07", "from": "12:00",
        "to": "17:00"}, follow_redirects=False)
    assert kept.headers["location"] == "/clinic/rooms/R1?closed=2026-12-07&start=12:00&end=17:00"
    offered = clinic.client.get(kept.headers["location"]).text
    assert "is out of service 2026-12-07 12:00–17:00" in offered
    assert '<input type="hidden" name="type" value="room_closed">' in offered
    assert clinic.call("GET", "/clinics/1/rooms/R1").json()["closures"] == [
        {"date": "2026-12-07", "from": "12:00", "to": "17:00"}]


def test_another_clinics_ids_are_404s(clinic: Service) -> None:
    as_role(clinic, "manager")
    assert clinic.client.get("/clinic/staff?clinic=2").status_code == 404
    assert clinic.client.get("/clinic/staff/NOBODY").status_code == 404
    assert clinic.client.get("/clinic/rooms/R9").status_code == 404
    assert clinic.client.post("/clinic/staff/NOBODY/sick",
                              data=form_of(clinic, "/clinic/staff")).status_code == 404


def test_a_sick_call_at_seven_is_one_click_then_the_replan_it_offers(clinic: Service) -> None:
    """The pages' clock stands at Tuesday 07:00: "Sick today" makes Tuesday a day off and
    offers the re-plan of the week's draft, with the sessions it touches."""
    as_role(clinic, "front_desk")
    token = form_of(clinic, "/clinic/staff")
    called = clinic.client.post("/clinic/staff/N1/sick", data=token, follow_redirects=False)
    assert called.status_code == 303
    assert called.headers["location"] == "/clinic/staff/N1?absent=2026-12-08"
    assert "2026-12-08" in staff(clinic, "N1")["time_off"]
    offered = clinic.client.get(called.headers["location"]).text
    assert "is absent 2026-12-08" in offered
    assert re.search(r'<form method="post" action="/schedules/\d+/replan">', offered)
    for name, value in (("type", "staff_absent"), ("staff", "N1"), ("date", "2026-12-08")):
        assert f'<input type="hidden" name="{name}" value="{value}">' in offered
    again = clinic.client.post("/clinic/staff/N1/sick", data=token)
    assert again.status_code == 409  # the form's version is gone: someone (we) saved first
    taken_back = clinic.client.post("/clinic/staff/N1/absences/remove", data={
        **form_of(clinic, "/clinic/staff/N1"), "which": "time_off:2026-12-08"},
        follow_redirects=False)
    assert taken_back.status_code == 303
    assert "2026-12-08" not in staff(clinic, "N1").get("time_off", [])


def test_a_holiday_broken_then_kept_offers_the_replan(clinic: Service) -> None:
    as_role(clinic, "manager")
    broken = clinic.client.post("/clinic/closed", data={**form_of(clinic, "/clinic"),
                                                         "date": "24/12/2026"})
    assert messages(broken.text) == {"date": ["&#39;24/12/2026&#39; is not a date "
                                              "(YYYY-MM-DD)"]}
    kept = clinic.client.post("/clinic/closed", data={**form_of(clinic, "/clinic"),
                                                       "date": "2026-12-08"},
                              follow_redirects=False)
    assert kept.headers["location"] == "/clinic?closed=2026-12-08"
    offered = clinic.client.get(kept.headers["location"]).text
    assert '<input type="hidden" name="type" value="clinic_closed">' in offered
    assert "2026-12-08" in scenario(clinic)["clinic"]["closed_dates"]
    twice = clinic.client.post("/clinic/closed", data={**form_of(clinic, "/clinic"),
                                                        "date": "2026-12-08"})
    assert messages(twice.text) == {"date": ["2026-12-08 is already a closed date"]}
    reopened = clinic.client.post("/clinic/closed/remove", data={
        **form_of(clinic, "/clinic"), "date": "2026-12-08"}, follow_redirects=False)
    assert reopened.status_code == 303
    assert scenario(clinic)["clinic"].get("closed_dates", []) == []


def test_a_clinic_from_nothing_every_problem_at_once_then_made(clinic: Service) -> None:
    as_role(clinic, "admin")
    token = csrf(clinic.client.get("/admin/clinics").text)
    broken = clinic.client.post("/admin/clinics", data={
        "csrf": token, "name": "Harbor", "slug": "Harbor!", "start": "empty",
        "timezone": "Harbor/Time"})
    assert broken.status_code == 422
    assert set(messages(broken.text)) == {"slug", "timezone"}
    assert "pick at least one protocol of the library" in broken.text
    made = clinic.client.post("/admin/clinics", data={
        "csrf": token, "name": "Harbor", "slug": "harbor", "start": "empty",
        "timezone": "America/Chicago", "protocols": ["esk-84", "iv-ketamine"]},
        follow_redirects=False)
    assert made.headers["location"] == "/admin/clinics?added=empty"
    new_id = max(c["id"] for c in clinic.call("GET", "/clinics").json())
    data = clinic.call("GET", f"/clinics/{new_id}/scenario").json()["scenario"]
    assert data["clinic"]["timezone"] == "America/Chicago"
    assert [p["id"] for p in data["protocols"]] == ["esk-84", "iv-ketamine"]
    assert data["rooms"] == [{"id": "R1", "name": "Room 1", "chairs": 1,
                              "features": ["iv-pump", "recliner"]}]
    assert data["staff"] == [] and data["patients"] == []
    assert clinic.client.get(f"/clinic/staff?clinic={new_id}").status_code == 200
    # ... and set up in the pages alone: hours, a room, staff, one more protocol
    cookie = {"clinic": str(new_id)}
    clinic.client.get("/clinic/staff", params=cookie)  # the pages now show the new clinic

    def post(path: str, **fields: Any) -> None:
        answer = clinic.client.post(path, data={**form_of(clinic, "/clinic"), **fields},
                                    follow_redirects=False)
        assert answer.status_code == 303, messages(answer.text) or answer.text[-600:]

    post("/clinic", name="Harbor", timezone="America/Chicago", **{
        "hours.mon": "07:30-16:00", "hours.wed": "07:30-16:00"},
        address="9 Pier Rd", arrival_instructions="Ring twice.")
    post("/clinic/rooms/R1", name="Bay", chairs="2", features="recliner, iv-pump")
    post("/clinic/staff", id="N1", name="Ida Moss", role="nurse",
         qualifications="spravato, iv", max_patients="3", **{"shifts.mon": "07:30-16:00",
                                                              "shifts.wed": "07:30-16:00"})
    post("/clinic/staff", id="D1", name="Dr Lee", role="prescriber", max_patients="0",
         **{"shifts.mon": "07:30-16:00", "shifts.wed": "07:30-16:00"})
    post("/clinic/protocols", protocol="im-ketamine")
    made_up = clinic.call("GET", f"/clinics/{new_id}/scenario").json()["scenario"]
    assert made_up["clinic"]["hours"] == {"mon": [["07:30", "16:00"]],
                                          "wed": [["07:30", "16:00"]]}
    assert [s["name"] for s in made_up["staff"]] == ["Ida Moss", "Dr Lee"]
    assert [p["id"] for p in made_up["protocols"]] == ["esk-84", "iv-ketamine", "im-ketamine"]
    assert made_up["rooms"][0]["chairs"] == 2


def test_weekly_hours_read_in_one_line_alike_days_together() -> None:
    lunch = [["07:45", "12:00"], ["12:30", "16:15"]]
    assert week_summary({"mon": lunch, "tue": lunch, "wed": lunch, "fri": lunch,
                         "sat": [["09:00", "13:00"]]}) == (
        "Mon–Wed 07:45–12:00, 12:30–16:15; Fri 07:45–12:00, 12:30–16:15; Sat 09:00–13:00")
    assert week_summary({}, "closed every day") == "closed every day"
