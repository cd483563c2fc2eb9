"""Patients in a real browser (issue 23): Debian's Chromium driven by Playwright against
``chairtime serve``, on SQLite and on PostgreSQL, at a tablet's 820 px. A clinic with a
published week takes a new referral through the intake form (a typo first: its message beside
the field, what was typed kept), finds them by "hayes gia", books their first session from the
next free slots on the live schedule; then imports an EHR export with extra columns and US dates
through the preview. axe-core finds no serious violation on the new pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from scheduler.security import hash_password
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import Options, plan_week
from tests.conftest import CHROMIUM, fresh_database, needs
from tests.test_feeds_http import server
from tests.test_pages import (
    AXE,
    PASSWORD,
    USERS,
    Site,
    _shot,
    _watch_csp,
    axe,
    sign_in,
    violations,
)
from tests.test_service import small_clinic

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]

EXPORT = ("Patient ID,First Name,Last Name,MRN,Protocol,Phone,E-mail,DOB,REMS Number,"
          "REMS Date\n"
          "P20,Omar,Lind,88231,esk,555-010-3000,omar@example.org,03/15/1980,RP-20,12/04/2026\n"
          "P21,Ines,Park,88232,esk,555-010-3001,,11/02/1975,RP-21,11/30/2026\n")


def named_clinic() -> dict[str, Any]:
    """The small clinic with names: staff, rooms and patients are shown by them."""
    data = small_clinic()
    for item, name in zip(data["staff"], ("Dana Fischer", "Dr. Ruiz"), strict=True):
        item["name"] = name
    for item, name in zip(data["rooms"], ("Room 1", "Room 2"), strict=True):
        item["name"] = name
    for item, name in zip(data["patients"], ("Ada Moss", "Ben Cole", "Cy Dunn"), strict=True):
        item["name"] = name
    data["patients"] = data["patients"][:2]  # room left for the referral
    return data


@pytest.fixture(scope="module")
def site(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The service on the named small clinic with its week published, on ``database_kind``."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("patients-browser")
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with session_scope(sessions(engine)) as session:
            clinic = repo.add_clinic(session, "small", named_clinic())
            for role, email in USERS.items():
                repo.add_user(session, email, hash_password(PASSWORD), role,
                              clinic_ids=[clinic.id])
            version = repo.scenario_version(session, clinic.id)
            planned = plan_week(repo.scenario_of(version),
                                Options(time_limit=1, workers=1, soft_goals=False))
            row = repo.add_schedule(session, clinic.id, version, planned.schedule)
            repo.publish(session, row, row.row_version)
        engine.dispose()
        with server(url, folder) as (base, _, log):
            yield Site(base, log)


def test_a_referral_from_intake_to_a_booked_first_session_then_an_ehr_import(
        browser: Any, site: Site) -> None:
    context = browser.new_context(viewport={"width": 820, "height": 1180}, base_url=site.base)
    context.set_default_timeout(90_000)
    page = context.new_page()
    _watch_csp(page, site)
    sign_in(page, "front_desk")
    page.goto("/patients")
    page.get_by_role("link", name="New referral").click()
    page.wait_for_url(re.compile("/patients/new"))
    assert page.get_by_label("Patient id").input_value() == "P03"
    page.get_by_label("Name", exact=True).fill("Gia Hayes")
    page.get_by_label("Phone").fill("+1 555 010 2000")
    page.get_by_label("E-mail").fill("gia(at)example.org")
    page.get_by_label("Date of birth").fill("1980-03-15")
    page.get_by_label("Protocol").select_option(label="Esketamine 84 mg · esk")
    page.get_by_label("REMS enrollment", exact=True).select_option(label="Enrolled")
    page.get_by_label("REMS patient enrollment number").fill("RP-7741")
    page.get_by_label("Monday").fill("08:00-18:00")
    page.get_by_label("Dana Fischer").check()
    page.get_by_label("Priority").select_option("2")
    page.get_by_label("Notes").fill("Prefers mornings.")
    page.get_by_label("Notes").press("Tab")  # the keyboard reaches the button
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    email = page.locator(".field.invalid", has=page.get_by_label("E-mail"))
    assert "is not an e-mail address" in email.inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "Gia Hayes"  # kept
    assert page.get_by_label("Dana Fischer").is_checked()
    _shot(page, "patient-intake-problem")
    page.get_by_label("E-mail").fill("gia@example.org")
    page.get_by_role("button", name="Add patient").click()
    page.wait_for_url(re.compile(r"/patients/P03\?saved=1"))
    assert "Saved." in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 820  # no sideways scroll

    page.goto("/patients")
    page.get_by_label("Find a patient").fill("hayes gia")
    page.get_by_label("Find a patient").press("Enter")
    page.get_by_role("link", name="Gia Hayes").click()
    page.wait_for_url(re.compile("/patients/P03$"))
    rows = page.locator("table.slots tbody tr")
    assert rows.count() >= 1, "the referral's first session fits the published week"
    when = rows.first.locator("td").first.inner_text()
    rows.first.get_by_role("button", name=re.compile("^Book")).click()
    page.wait_for_url(re.compile(r"/patients/P03\?booked="))
    sessions = page.locator("table").first.inner_text()
    assert when in sessions and "published v2" in sessions

    page.goto("/patients/import")
    page.get_by_label("CSV file").set_input_files(files=[{
        "name": "ehr-export.csv", "mimeType": "text/csv", "buffer": EXPORT.encode()}])
    page.get_by_role("button", name="Preview").click()
    assert "is ambiguous" in page.locator("table.preview").inner_text()  # 12/04/2026
    assert page.get_by_role("button", name=re.compile("^Import")).count() == 0
    page.get_by_label("CSV file").set_input_files(files=[{
        "name": "ehr-export.csv", "mimeType": "text/csv", "buffer": EXPORT.encode()}])
    page.get_by_label("Dates in the file").select_option("us")
    page.get_by_role("button", name="Preview").click()
    text = page.locator("main").inner_text()
    assert "2 new, 0 updated" in text and "No problems." in text
    assert "MRN: is not a patient field: ignored" in text
    _shot(page, "patients-import-preview")
    page.get_by_label("Make US dates the clinic's setting").check()
    page.get_by_role("button", name="Import 2 new and 0 updated").click()
    page.wait_for_url(re.compile(r"/patients\?imported=2"))
    page.goto("/patients/P20")
    facts = page.locator("dl.facts").first.inner_text()
    assert "omar@example.org" in facts and "15 Mar 1980" in facts
    assert "RP-20 since 04 Dec 2026" in facts
    context.close()
    assert site.csp_errors == []
    assert axe(browser, site, "front_desk", ["/patients", "/patients/new", "/patients/import",
                                             "/patients/P03/edit", "/patients/P03",
                                             "/patients?q=nobody"]) == {}


def test_the_forms_with_their_problems_and_the_preview_are_axe_clean(browser: Any,
                                                                     site: Site) -> None:
    """axe-core on what a GET does not show: the intake form with its messages, the preview
    with a problem beside a cell (CSP bypassed for the injected script only)."""
    context = browser.new_context(viewport={"width": 820, "height": 1180}, base_url=site.base,
                                  bypass_csp=True)
    context.set_default_timeout(90_000)
    page = context.new_page()
    sign_in(page, "front_desk")
    found: dict[str, list[str]] = {}

    def run(name: str) -> None:
        if bad := violations(page):
            found[name] = bad

    page.goto("/patients/new")
    page.get_by_label("E-mail").fill("nobody")
    page.get_by_label("Monday").fill("mornings")
    page.get_by_role("button", name="Add patient").click()
    assert page.locator(".field.invalid").count() >= 3  # name, protocol, e-mail, Monday
    run("intake with problems")
    page.goto("/patients/import")
    page.get_by_label("CSV file").set_input_files(files=[{
        "name": "export.csv", "mimeType": "text/csv",
        "buffer": b"Patient ID,Protocol,Priority,MRN\nP30,esk,9,1\n"}])
    page.get_by_role("button", name="Preview").click()
    assert page.locator("table.preview .message").count() == 1  # the priority
    run("preview with problems")
    context.close()
    assert found == {}
