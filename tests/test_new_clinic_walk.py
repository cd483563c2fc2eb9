"""A new clinic from nothing to its first published week, in the pages only (issue 23's "done
when"), in Debian's Chromium against ``chairtime serve`` on a fresh database (SQLite and
PostgreSQL): the first admin (the one-time password the first start logs) adds a clinic started
from nothing and two accounts for it; the manager sets its hours and a holiday, adds two rooms,
three staff with shifts and the library's esketamine protocols, and imports eight patients from
an EHR export (extra columns, US dates) through the preview; the front desk solves the first
week (a tiny time limit), sees it on the board by name, publishes it and makes a patient's
calendar link. The database is read only at the end, to check the published week against every
hard rule. Each stage's form submissions, fields typed and wall time are logged."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from scheduler.check import check
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions
from tests.conftest import CHROMIUM, fresh_database, needs
from tests.test_feeds_http import server
from tests.test_pages import AXE, Site, _watch_csp, violations

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]
log = logging.getLogger(__name__)

CLOCK = "2026-12-09T10:00:00-05:00"
"""A Wednesday: a clinic started from nothing plans next week, Monday 14 to Sunday 20."""
ADMIN = "admin@chairtime.local"
MANAGER, DESK = "maria@northside.example", "desk@northside.example"
CLINIC = "Northside Ketamine"
HOLIDAY = "2026-12-18"

EXPORT = (
    "Patient ID,First Name,Last Name,MRN,Protocol,Sessions,Phone,DOB,REMS Number,REMS Date,"
    "Availability,Insurance\n"
    "P01,Gia,Hayes,10001,esk-84,2,555-010-1001,03/15/1980,RP-101,11/30/2026,,Aetna\n"
    "P02,Omar,Diaz,10002,esk-84,2,555-010-1002,07/02/1975,RP-102,12/01/2026,,Cigna\n"
    "P03,Lena,Park,10003,esk-56,2,555-010-1003,11/21/1990,RP-103,12/02/2026,"
    "mon 08:00-18:00; wed 08:00-18:00,Aetna\n"
    "P04,Ravi,Shah,10004,esk-56,1,555-010-1004,01/09/1968,RP-104,12/03/2026,,self-pay\n"
    "P05,Mina,Cho,10005,esk-84,1,555-010-1005,05/30/1985,RP-105,12/04/2026,"
    "tue 12:00-18:00; thu 12:00-18:00,Cigna\n"
    "P06,Tom,Reyes,10006,im-ketamine,1,555-010-1006,09/12/1979,,,,self-pay\n"
    "P07,Ada,Moss,10007,im-ketamine,1,555-010-1007,12/24/1992,,,,Aetna\n"
    "P08,Ben,Cole,10008,esk-84,2,555-010-1008,02/28/1959,RP-108,11/28/2026,,Medicare\n")
"""An EHR's export: header synonyms, ``MRN`` and ``Insurance`` no patient field, US dates."""


@dataclass
class Walk:
    """What a user does, stage by stage: forms submitted, fields filled or ticked, seconds."""
    page: Any
    stages: list[tuple[str, int, int, float]] = field(default_factory=list)
    submits: int = 0
    fields: int = 0
    started: float = field(default_factory=time.monotonic)

    def fill(self, label: str, text: str) -> None:
        self.page.get_by_label(label, exact=True).fill(text)
        self.fields += 1

    def pick(self, field_label: str, **option: str) -> None:
        self.page.get_by_label(field_label, exact=True).select_option(**option)
        self.fields += 1

    def tick(self, label: str) -> None:
        self.page.get_by_label(label, exact=True).check()
        self.fields += 1

    def submit(self, button: str, locator: Any = None) -> None:
        (locator or self.page).get_by_role("button", name=button).click()
        self.page.wait_for_load_state()
        self.submits += 1

    def go(self, path: str) -> None:
        """A page the user reaches by a link of the navigation (one click)."""
        self.page.goto(path)
        self.submits += 1

    def link(self, name: str) -> None:
        self.page.get_by_role("link", name=name, exact=True).first.click()
        self.page.wait_for_load_state()
        self.submits += 1

    def done(self, stage: str) -> None:
        seconds = time.monotonic() - self.started
        self.stages.append((stage, self.submits, self.fields, seconds))
        log.info("stage %-28s %2d submits/clicks %3d fields %6.1f s", stage, self.submits,
                 self.fields, seconds)
        self.submits, self.fields, self.started = 0, 0, time.monotonic()


@pytest.fixture(scope="module")
def site(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``chairtime serve`` on a fresh database: nothing but what its first start makes."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("new-clinic")
    with fresh_database(database_kind, folder) as url, server(url, folder, {
            "CHAIRTIME_CLOCK": CLOCK, "CHAIRTIME_TIME_LIMIT": "2",
            "CHAIRTIME_SCHEDULER": "false"}) as (base, _, server_log):
        yield Site(base, server_log, url=url)


def _browser_page(browser: Any, site: Site, bypass_csp: bool = False) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=site.base,
                                  bypass_csp=bypass_csp)
    context.set_default_timeout(30_000)
    page = context.new_page()
    if not bypass_csp:
        _watch_csp(page, site)
    return context, page


def _axe(page: Any, paths: list[str]) -> dict[str, list[str]]:
    """axe-core's serious and critical violations on each page (its context bypasses the CSP
    for the injected script only)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        page.goto(path)
        if bad := violations(page):
            found[path] = bad
    return found


def _first_sign_in(walk: Walk, email: str, once: str, chosen: str) -> None:
    """Sign in with a one-time password, and change it as the page insists."""
    walk.page.goto("/login")
    walk.fill("Email", email)
    walk.fill("Password", once)
    walk.submit("Sign in")
    walk.page.wait_for_url(re.compile("/account/password"))
    walk.fill("One-time password", once)
    walk.fill("New password", chosen)
    walk.fill("New password again", chosen)
    walk.submit("Change password")
    walk.page.wait_for_url(re.compile("/account"))


def _problems(page: Any) -> str:
    """The messages beside the fields, if a form was refused (for the assert's message)."""
    return " | ".join(page.locator(".message, .error-text, [role=alert]").all_inner_texts())


def _add_account(walk: Walk, email: str, role: str) -> str:
    page = walk.page
    walk.go("/admin/users")
    walk.fill("Email", email)
    walk.pick("Role", label=role)
    walk.tick(CLINIC)
    walk.submit("Add with a one-time password")  # "Role": not each account's row's
    secret = page.locator("code.secret")
    assert secret.count() == 1, _problems(page)
    once: str = secret.inner_text()
    row = page.locator("tr", has_text=email)
    assert f"{CLINIC}: {role}" in row.inner_text(), "a member of the new clinic only"
    return once


def test_a_new_clinic_from_nothing_to_its_first_published_week(browser: Any, site: Site
                                                               ) -> None:
    context, page = _browser_page(browser, site)
    walk = Walk(page)

    # --- the admin: a clinic from nothing, a manager and a front desk for it
    once = re.search(r"one-time password: (\S+)", site.log.read_text())
    assert once is not None, "the first start logs the first admin's one-time password"
    _first_sign_in(walk, ADMIN, once.group(1), "the admin's own long secret")
    walk.go("/admin/clinics")
    walk.fill("Name", CLINIC)
    walk.fill("Short name", "northside")
    page.get_by_role("radio", name=re.compile("^Nothing")).check()
    walk.fields += 1
    walk.fill("Time zone (a start from nothing)", "America/Chicago")
    walk.tick("IM ketamine")
    walk.submit("Add clinic")
    page.wait_for_url(re.compile("added=empty"), timeout=10_000)
    assert CLINIC in page.locator("table").inner_text()
    manager_once = _add_account(walk, MANAGER, "manager")
    desk_once = _add_account(walk, DESK, "front desk")
    walk.done("admin: clinic and accounts")
    context.close()

    # the new clinic's empty pages, as its admin sees them (not part of the walk's figures)
    context, page = _browser_page(browser, site, bypass_csp=True)
    page.goto("/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("the admin's own long secret")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile("/board"))
    page.get_by_label("Clinic").select_option(label=CLINIC)
    page.get_by_role("button", name="Open").click()
    page.wait_for_load_state()
    assert CLINIC in page.locator("h1").inner_text()
    assert _axe(page, ["/board", "/clinic", "/clinic/staff", "/clinic/rooms",
                       "/clinic/protocols", "/patients", "/patients/import", "/versions"]) == {}
    context.close()
    walk.started = time.monotonic()

    # --- the manager: hours, a holiday, rooms, staff, protocols, patients
    context, page = _browser_page(browser, site)
    walk.page = page
    _first_sign_in(walk, MANAGER, manager_once, "maria's own long secret")
    walk.done("manager: first sign-in")
    walk.link("Clinic")
    page.wait_for_url(re.compile("/clinic$"))
    assert CLINIC in page.locator("h1").inner_text()
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday"):
        walk.fill(day, "08:00-18:00")
    walk.fill("Friday", "08:00-14:00")
    walk.fill("Address", "12 Lake St, Chicago IL")
    walk.fill("Arrival instructions", "Ring at the side door; bring a driver after dosing.")
    walk.submit("Save")
    assert page.locator(".message").count() == 0, _problems(page)
    walk.fill("Closed on", HOLIDAY)
    walk.submit("Add closed date")
    page.wait_for_url(re.compile(rf"/clinic\?closed={HOLIDAY}$"))
    assert "Fri 18 Dec 2026" in page.locator("#closed-title + ul").inner_text()
    walk.done("manager: hours and holiday")

    nav = page.get_by_role("navigation", name="The clinic's data")
    nav.get_by_role("link", name="Protocols").click()
    walk.submits += 1
    for label, pid in (("Esketamine 84 mg", "esk-84"), ("Esketamine 56 mg", "esk-56")):
        walk.pick("Protocol", label=label)
        walk.submit("Add protocol")
        assert page.locator(".message").count() == 0, _problems(page)
        page.wait_for_url(re.compile(rf"/clinic/protocols/{pid}\?saved=1"))
        assert label in page.locator("h1").inner_text()
        walk.go("/clinic/protocols")  # back to the list, by the clinic's navigation
    assert "Esketamine 56 mg" in page.locator("table").inner_text()
    walk.done("manager: protocols")

    for room, name in (("R2", "Recliner 2"), ("R3", "Recliner 3")):
        walk.go("/clinic/rooms")
        walk.link("Add a room")
        walk.fill("Id", room)
        walk.fill("Name", name)
        walk.fill("Chairs", "1")
        walk.fill("Features", "recliner")
        walk.submit("Add room")
        assert page.locator(".message").count() == 0, _problems(page)
    page.goto("/clinic/rooms")
    rooms = page.locator("main").inner_text()
    assert "Recliner 2" in rooms and "Recliner 3" in rooms
    walk.done("manager: rooms")

    week = {"Monday": "08:00-18:00", "Tuesday": "08:00-18:00", "Wednesday": "08:00-18:00",
            "Thursday": "08:00-18:00", "Friday": "08:00-14:00"}
    for sid, name, role, quals, most in (("D1", "Dr Kim", "prescriber", "", "0"),  # first
                                         ("N1", "Ana Ruiz", "nurse", "spravato, im", "2"),
                                         ("N2", "Ben Ode", "nurse", "spravato", "2")):
        walk.go("/clinic/staff")
        walk.link("Add a staff member")
        walk.fill("Id", sid)
        walk.fill("Name", name)
        walk.fill("Role", role)
        if quals:
            walk.fill("Qualifications", quals)
        walk.fill("Patients at once", most)
        for day, hours in week.items():
            walk.fill(day, hours)
        walk.submit("Add staff member")
        assert page.locator(".message").count() == 0, _problems(page)
    page.goto("/clinic/staff")
    staff = page.locator("main").inner_text()
    assert all(n in staff for n in ("Ana Ruiz", "Ben Ode", "Dr Kim"))
    walk.done("manager: staff and shifts")

    walk.go("/patients")
    walk.link("Import from a CSV")
    page.wait_for_url(re.compile("/patients/import"))
    upload = {"name": "ehr-export.csv", "mimeType": "text/csv", "buffer": EXPORT.encode()}
    page.get_by_label("CSV file").set_input_files(files=[upload])
    walk.fields += 1
    walk.pick("Dates in the file", value="us")
    walk.submit("Preview")
    text = page.locator("main").inner_text()
    assert "8 new, 0 updated" in text and "No problems." in text, text
    assert "MRN: is not a patient field: ignored" in text
    walk.tick("Make US dates the clinic's setting")
    walk.submit("Import 8 new and 0 updated")
    page.wait_for_url(re.compile(r"/patients\?imported=8"))
    assert "Gia Hayes" in page.locator("main").inner_text()
    walk.done("manager: patients from CSV")
    context.close()

    # --- the front desk: the first week solved, seen and published; a calendar link
    context, page = _browser_page(browser, site)
    walk.page = page
    _first_sign_in(walk, DESK, desk_once, "the desk's own long secret")
    walk.go("/board")
    walk.fill("Solve time limit (seconds)", "1")
    walk.submit("Solve the week")
    page.wait_for_url(re.compile(r"/board\?schedule=\d+"), timeout=120_000)
    blocks = page.locator("a.appt")
    assert blocks.count() >= 8, page.locator("main").inner_text()
    labels = " ".join(blocks.nth(i).get_attribute("aria-label") or ""
                      for i in range(blocks.count()))
    assert "Gia Hayes" in labels and "Esketamine 84 mg" in labels, labels
    assert re.search(r"Ana Ruiz|Ben Ode", labels)
    status = page.locator("p.status").inner_text()
    log.info("the first week: %s", status)
    assert f"{blocks.count()} sessions placed of 12 wanted" in status, status  # 2+2+2+1+1+1+1+2
    walk.submit("Publish this draft")
    page.wait_for_url(re.compile("published="))
    assert "Published" in page.locator("main").inner_text()
    walk.done("front desk: plan and publish")

    walk.go("/patients")
    walk.link("Gia Hayes")
    walk.submit("Make a calendar link")
    feed = page.get_by_label("Web address", exact=True).input_value()
    got = page.request.get(feed)  # what the patient's calendar app does with the link
    assert got.status == 200 and "BEGIN:VEVENT" in got.text()
    walk.done("front desk: a calendar link")
    assert site.csp_errors == []
    context.close()

    total = sum(s[3] for s in walk.stages)
    log.info("the walk: %d submits/clicks, %d fields, %.1f s", sum(s[1] for s in walk.stages),
             sum(s[2] for s in walk.stages), total)

    # --- only now the database: the published week keeps every hard rule, nothing on the holiday
    engine = connect(site.url)
    with session_scope(sessions(engine)) as session:
        clinic = next(c for c in repo.clinics(session) if c.slug == "northside")
        published = repo.published(session, clinic.id)
        scenario = repo.scenario_for(session, published)
        current = repo.scenario_of(repo.scenario_version(session, clinic.id))
        document = repo.to_schedule(published).model_dump(mode="json")
        assert len(document["appointments"]) >= 8
        assert check(scenario, document) == []
        assert check(current, document) == []
        assert not [a for a in document["appointments"] if a["start"].startswith(HOLIDAY)]
        assert {s.id for s in current.staff} == {"N1", "N2", "D1"}
        assert len(current.patients) == 8
        assert all(p.rems_enrolled for p in current.patients if p.protocol.startswith("esk"))
        assert current.clinic.timezone == "America/Chicago"
        assert HOLIDAY in {d.isoformat() for d in current.clinic.closed_dates}
        assert [list(map(str, h)) for h in current.clinic.hours["fri"]] == [["08:00", "14:00"]]
    engine.dispose()
