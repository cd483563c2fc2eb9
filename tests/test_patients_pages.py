"""Patients through the pages without a browser, on SQLite and on PostgreSQL (issue 23): the
intake form of a new referral, edit, discharge and re-admission; every problem beside its
field at once, what was typed kept, nothing stored on error, a 409 with a reload link when
someone saved first; a change that breaks a published session names it by date and time; the
CSV import's preview with each problem beside its row and column, then its confirmation.
The browser's walk is tests/test_patients_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.storage import repo
from scheduler.storage.db import session_scope
from tests.conftest import fresh_database
from tests.test_feeds_http import feeds_service, publish_draft
from tests.test_pages_desk import csrf, messages, sign_in
from tests.test_service import Service

pytestmark = [pytest.mark.solve]

REFERRAL = {"id": "P04", "name": "Gia Hayes", "phone": "+1 555 010 2000",
            "email": "gia@example.org", "date_of_birth": "1980-03-15", "protocol": "esk",
            "rems_enrolled": "yes", "rems_number": "RP-7741", "rems_enrolled_on": "2026-11-30",
            "avail.mon": "09:00-17:00", "priority": "2", "notes": "Prefers mornings."}


@pytest.fixture(scope="module")
def desk(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The small clinic (Mon-Tue, R1 and R2, nurse N1, prescriber D1, P01-P03), the front desk
    signed in: one service a database for the module, each test on patients of its own (the
    referral P04/P05, the stale form P02, the discharge P03, the broken session and the
    import P01)."""
    folder = tmp_path_factory.mktemp("patients")
    with fresh_database(database_kind, folder) as url, feeds_service(url, folder) as service:
        sign_in(service.client, "front_desk")
        yield service


def version(service: Service) -> int:
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        return repo.scenario_version(session, 1).number


def stored(service: Service, pid: str) -> dict[str, Any] | None:
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        data = repo.scenario_version(session, 1).data
    return next((p for p in data["patients"] if p["id"] == pid), None)


def post_form(service: Service, path: str, fields: dict[str, Any], action: str = "") -> Any:
    """Fill the form of page ``path`` (posted to ``action``, default the page itself)."""
    page = service.client.get(path)
    number = re.search(r'name="version" value="(\d+)"', page.text)
    assert number is not None
    return service.client.post(action or path, data={"csrf": csrf(page.text),
                                                     "version": number.group(1), **fields},
                               follow_redirects=False)


def test_a_referral_is_taken_in_and_found_by_its_words_in_any_order(desk: Service) -> None:
    before = version(desk)
    form = desk.client.get("/patients/new")
    suggested = re.search(r'id="f-id" name="id" type="text" value="([^"]+)"', form.text)
    assert suggested is not None and stored(desk, suggested.group(1)) is None  # a free id
    assert 'name="preferred_staff" value="N1"' in form.text
    made = post_form(desk, "/patients/new", {**REFERRAL, "preferred_staff": ["N1"]})
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/patients/P04?saved=1"
    assert version(desk) == before + 1
    assert stored(desk, "P04") == {
        "id": "P04", "name": "Gia Hayes", "protocol": "esk", "priority": 2,
        "contact": {"phone": "+1 555 010 2000", "email": "gia@example.org"},
        "date_of_birth": "1980-03-15", "rems_enrolled": True,
        "rems": {"number": "RP-7741", "enrolled_on": "2026-11-30"},
        "availability": {"mon": [["09:00", "17:00"]]}, "notes": "Prefers mornings.",
        "preferred_staff": ["N1"]}
    page = desk.client.get("/patients/P04").text
    assert "RP-7741" in page and "gia@example.org" in page
    for query in ("hayes gia", "Gia Hayes", "GIA", "hay"):
        assert "/patients/P04" in desk.client.get("/patients", params={"q": query}).text
    missed = desk.client.get("/patients", params={"q": "hayes tom"}).text
    assert "/patients/P04" not in missed and "No patient matches" in missed


def test_intake_problems_all_beside_their_fields_typed_values_kept_nothing_stored(
        desk: Service) -> None:
    before = version(desk)
    broken = post_form(desk, "/patients/new", {
        **REFERRAL, "id": "P02", "email": "gia(at)example", "date_of_birth": "15/03/1980",
        "rems_enrolled": "no", "avail.tue": "9-noon", "priority": "7", "name": ""})
    assert broken.status_code == 422
    found = messages(broken.text)
    assert set(found) == {"id", "name", "email", "date_of_birth", "rems_enrolled", "avail.tue",
                          "priority"}, found
    assert found["id"] == ["is taken by P02: pick another id"]
    assert "not an e-mail address" in found["email"][0]
    assert "not a date" in found["date_of_birth"][0]
    assert "not hours written HH:MM-HH:MM" in found["avail.tue"][0]
    assert "less than or equal to 5" in found["priority"][0]
    assert 'value="gia(at)example"' in broken.text and 'value="9-noon"' in broken.text
    assert version(desk) == before and stored(desk, "P05") is None
    kept = post_form(desk, "/patients/new", {**REFERRAL, "id": "P05"})
    assert kept.status_code == 303
    assert version(desk) == before + 1 and stored(desk, "P05") is not None


def test_a_stale_form_is_a_409_with_a_reload_link_and_nothing_stored(desk: Service) -> None:
    page = desk.client.get("/patients/P02/edit")
    token = csrf(page.text)
    number = int(re.search(r'name="version" value="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    first = post_form(desk, "/patients/P01/edit", {"name": "Ada One", "protocol": "esk",
                                                   "rems_enrolled": "yes",
                                                   "rems_number": "R-1"})
    assert first.status_code == 303
    late = desk.client.post("/patients/P02/edit", data={
        "csrf": token, "version": str(number), "name": "Bo Two", "protocol": "esk"},
        follow_redirects=False)
    assert late.status_code == 409
    assert "Saved by someone else first" in late.text
    assert 'href="/patients/P02/edit">Reload' in late.text
    assert 'value="Bo Two"' in late.text
    assert stored(desk, "P02") == {"id": "P02", "protocol": "esk", "rems_enrolled": True}


def test_discharge_hides_a_patient_from_the_list_and_the_plan_and_readmit_brings_them_back(
        desk: Service) -> None:
    out = post_form(desk, "/patients/P03", {"action": "discharge", "date": "2026-12-01"},
                    "/patients/P03/discharge")
    assert out.status_code == 303, out.text
    assert stored(desk, "P03") == {"id": "P03", "protocol": "esk", "rems_enrolled": True,
                                   "discharged": "2026-12-01"}
    listed = desk.client.get("/patients").text
    assert "/patients/P03" not in listed and "1 discharged patient not shown" in listed
    assert "/patients/P03" in desk.client.get("/patients?discharged=1").text
    draft = desk.draft()
    assert "P03" not in {a["patient"] for a in draft["schedule"]["appointments"]}
    assert "P01" in {a["patient"] for a in draft["schedule"]["appointments"]}
    assert all(u["patient"] != "P03" for u in draft["schedule"]["unplaced"])
    back = post_form(desk, "/patients/P03", {"action": "readmit"}, "/patients/P03/discharge")
    assert back.status_code == 303
    assert stored(desk, "P03") == {"id": "P03", "protocol": "esk", "rems_enrolled": True}
    listed = desk.client.get("/patients").text
    assert "/patients/P03" in listed and "discharged patient" not in listed


def test_a_change_that_breaks_a_published_session_names_it_by_date_and_time(
        desk: Service) -> None:
    published = publish_draft(desk)
    booked = next(a for a in published["schedule"]["appointments"] if a["patient"] == "P01")
    start = datetime.fromisoformat(booked["start"]).astimezone(ZoneInfo("America/New_York"))
    kept = post_form(desk, "/patients/P01/edit", {  # the whole booked day: nothing breaks
        "protocol": "esk", "name": "Ada One", "rems_enrolled": "yes", "rems_number": "R-1",
        f"avail.{start:%a}".lower(): "08:00-18:00"})
    assert kept.status_code == 303
    assert "The clinic's data now breaks" not in desk.client.get("/patients/P01").text
    other = "tue" if f"{start:%a}".lower() == "mon" else "mon"
    saved = post_form(desk, "/patients/P01/edit", {
        "protocol": "esk", "name": "Ada One", "rems_enrolled": "yes", "rems_number": "R-1",
        f"avail.{other}": "08:00-18:00"})
    assert saved.status_code == 303
    page = desk.client.get("/patients/P01").text
    assert "The clinic's data now breaks a published session of Ada One" in page
    assert f"{start:%a %d %b %Y %H:%M}" in page
    assert "P01 is not available for the whole session" in page


US_EXPORT = ("Patient ID,First Name,Last Name,MRN,Protocol,Phone,E-mail,DOB,Last Session,"
             "REMS Number,REMS Date\n"
             "P10,Gia,Hayes,88231,esk,555-010-2000,gia@example.org,03/15/1980,12/04/2026,"
             "RP-1,11/30/2026\n"
             "P01,,,88232,esk,555-010-2001,,,,,\n")


def upload(service: Service, text: str, **fields: str) -> Any:
    page = service.client.get("/patients/import")
    return service.client.post("/patients/import", data={"csrf": csrf(page.text),
                                                         "action": "preview", **fields},
                               files={"file": ("export.csv", text.encode(), "text/csv")},
                               follow_redirects=False)


def test_an_ehr_export_with_extra_columns_and_us_dates_is_previewed_then_imported(
        desk: Service) -> None:
    before = version(desk)
    ambiguous = upload(desk, US_EXPORT)
    assert ambiguous.status_code == 422
    row = re.search(r'<tr class="bad"><th scope="row">2</th>(.*?)</tr>', ambiguous.text, re.S)
    assert row is not None, "row 2 is marked"
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert "&#39;12/04/2026&#39; is ambiguous" in cells[8]
    assert cells[10] == "11/30/2026", "a slashed date that reads one way only is read"
    assert "MRN: is not a patient field: ignored" in ambiguous.text
    assert version(desk) == before
    preview = upload(desk, US_EXPORT, date_format="us")
    assert preview.status_code == 200, preview.text
    assert re.search(r"2 rows: 1 new, 1 updated; \d+ patients not in the file kept",
                     preview.text)
    confirm = re.search(r'<form method="post" action="/patients/import" class="confirm">(.*?)'
                        r"</form>", preview.text, re.S)
    assert confirm is not None
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', confirm.group(1)))
    assert version(desk) == before, "a preview stores nothing"
    done = desk.client.post("/patients/import", data={**fields, "action": "import",
                                                      "remember": "1"},
                            follow_redirects=False)
    assert done.status_code == 303, done.text
    assert stored(desk, "P10") == {
        "id": "P10", "name": "Gia Hayes", "protocol": "esk", "date_of_birth": "1980-03-15",
        "last_session": "2026-12-04",
        "contact": {"phone": "555-010-2000", "email": "gia@example.org"},
        "rems": {"number": "RP-1", "enrolled_on": "2026-11-30"}}
    assert stored(desk, "P01")["contact"] == {"phone": "555-010-2001"}  # type: ignore[index]
    with session_scope(desk.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert repo.scenario_version(session, 1).data["clinic"]["date_format"] == "us"


def test_an_import_problem_stands_beside_its_row_and_column_and_nothing_is_stored(
        desk: Service) -> None:
    before = version(desk)
    bad = upload(desk, "Patient ID,Name,Protocol,Priority\nP11,Al Bo,esk,9\nP12,Cy Do,esx,1\n")
    assert bad.status_code == 422
    rows = dict(re.findall(r'<th scope="row">(\d+)</th>(.*?)</tr>', bad.text, re.S))
    assert "less than or equal to 5" in re.findall(r"<td>(.*?)</td>", rows["2"], re.S)[3]
    assert "unknown protocol &#39;esx&#39;" in re.findall(r"<td>(.*?)</td>", rows["3"], re.S)[2]
    assert 'class="confirm"' not in bad.text
    assert version(desk) == before


def test_a_patient_with_history_is_never_deleted_one_without_may_be(desk: Service) -> None:
    assert post_form(desk, "/patients/new", {**REFERRAL, "id": "P06"}).status_code == 303
    assert desk.call("DELETE", "/clinics/1/patients/P06", "front_desk").status_code == 204
    assert stored(desk, "P06") is None
    kept = desk.call("DELETE", "/clinics/1/patients/P01", "front_desk")  # booked earlier
    assert kept.status_code == 409
    assert "discharge them instead" in kept.text
    assert stored(desk, "P01") is not None
