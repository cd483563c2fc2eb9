"""The clinic's data in a real browser (issue 23), on SQLite and on PostgreSQL: Debian's
Chromium driven by Playwright against ``chairtime serve`` (its job runner, tiny solver time
limits), the pages' clock standing at 07:00 on the Tuesday of a small published week (Mon-Tue,
nurses Ana Ruiz and Ben Ode). A nurse's sick call entered at 07:00 and the re-plan it offers;
a holiday added and the week re-planned; axe-core on the new pages, and the roster usable by
keyboard at 820 px."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import Options, plan_week
from scheduler.validate import validate_scenario
from tests.conftest import (
    CHROMIUM,
    fresh_database,
    needs,
    password_hash,
    patients,
    scenario_dict,
)
from tests.test_feeds_http import server
from tests.test_pages import AXE, PASSWORD, USERS, Site, _context, axe, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]

CLOCK = "2026-12-08T07:00:00-05:00"
"""07:00 on the Tuesday of the week, before the clinic opens."""


def week() -> dict[str, Any]:
    """Mon-Tue 08:00-18:00, two recliner rooms, two Spravato nurses and a prescriber, four
    patients with two sessions each (one a day)."""
    days = {d: [["08:00", "18:00"]] for d in ("mon", "tue")}
    data = scenario_dict(patients=patients(4, rems_enrolled=True, sessions=2))
    data["clinic"]["hours"] = days
    data["horizon"] = {"start": "2026-12-07", "days": 2}
    data["rooms"] = [{"id": "R1", "name": "Room 1", "features": ["recliner"], "chairs": 1},
                     {"id": "R2", "name": "Room 2", "features": ["recliner"], "chairs": 1}]
    data["staff"] = [
        {"id": "N1", "name": "Ana Ruiz", "role": "nurse", "qualifications": ["spravato"],
         "max_patients": 2, "shifts": days},
        {"id": "N2", "name": "Ben Ode", "role": "nurse", "qualifications": ["spravato"],
         "max_patients": 2, "shifts": days},
        {"id": "D1", "name": "Dr Kim", "role": "prescriber", "max_patients": 0,
         "shifts": days}]
    for i, p in enumerate(data["patients"]):
        p["name"] = ("Gia Hayes", "Omar Diaz", "Lena Park", "Ravi Shah")[i]
    return data


@pytest.fixture(scope="module")
def site(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The service on a fresh database with the small week solved and published."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("clinic-browser")
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with session_scope(sessions(engine)) as session:
            clinic = repo.add_clinic(session, "small", week())
            for role, email in USERS.items():
                repo.add_user(session, email, password_hash(PASSWORD), role)
            version = repo.scenario_version(session, clinic.id)
            planned = plan_week(validate_scenario(week()),
                                Options(time_limit=1, workers=1, soft_goals=False))
            assert len(planned.schedule.appointments) == 8
            row = repo.add_schedule(session, clinic.id, version, planned.schedule)
            repo.publish(session, row, row.row_version)
        engine.dispose()
        with server(url, folder, {"CHAIRTIME_CLOCK": CLOCK, "CHAIRTIME_TIME_LIMIT": "2",
                                  "CHAIRTIME_SCHEDULER": "false"}) as (base, _, log):
            yield Site(base, log)


def test_a_nurses_sick_call_at_seven_and_the_replan_it_offers(browser: Any, site: Site
                                                              ) -> None:
    context = _context(browser, site, width=820, height=1000)
    page = context.new_page()
    sign_in(page, "front_desk")
    page.get_by_role("link", name="Clinic", exact=True).click()
    page.get_by_role("navigation", name="The clinic's data").get_by_role(
        "link", name="Staff").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 820  # no sideways page
    sick = page.get_by_role("button", name="Ana Ruiz is sick today")
    sick.focus()  # by keyboard: the first click
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/clinic/staff/N1\?absent=2026-12-08$"))
    offer = page.locator("section.notice")
    assert "Ana Ruiz is absent 2026-12-08" in offer.inner_text()
    assert re.search(r"has \d sessions? it touches", offer.inner_text())  # hers, Tuesday
    assert "2026-12-08 (all day)" in page.locator("#absences-title + ul").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    page.get_by_role("button", name="Re-plan the week").click()  # the second click
    page.wait_for_url(re.compile(r"/schedules/\d+/changes"), timeout=120_000)
    changes = page.locator("table.changes").all_inner_texts()
    text = " ".join(changes)
    assert "Ana Ruiz (N1) absent 2026-12-08" in text  # the reason, in names
    assert "Ben Ode" in text  # who takes her patients
    context.close()


def test_a_holiday_added_and_the_week_replanned(browser: Any, site: Site) -> None:
    context = _context(browser, site)
    page = context.new_page()
    sign_in(page, "manager")
    page.goto("/clinic")
    page.get_by_label("Closed on").fill("2026-12-08")
    page.get_by_role("button", name="Add closed date").click()
    page.wait_for_url(re.compile(r"/clinic\?closed=2026-12-08$"))
    assert "Tue 08 Dec 2026" in page.locator("#closed-title + ul").inner_text()
    offer = page.locator("section.notice")
    assert "The clinic is closed 2026-12-08" in offer.inner_text()
    page.get_by_role("button", name="Re-plan the week").click()
    page.wait_for_url(re.compile(r"/schedules/\d+/changes"), timeout=120_000)
    text = " ".join(page.locator("table.changes").all_inner_texts())
    assert "clinic closed 2026-12-08" in text
    assert "→ cancelled" in text  # Monday is full: Tuesday's sessions find no other day
    context.close()


def test_no_serious_accessibility_violation_on_the_clinic_pages(browser: Any, site: Site,
                                                                database_kind: str) -> None:
    if database_kind != "sqlite":
        pytest.skip("the pages' markup is the same on both databases: axe runs on SQLite's")
    pages = ["/clinic", "/clinic/staff", "/clinic/staff/N1", "/clinic/rooms",
             "/clinic/rooms/R1", "/clinic/protocols", "/clinic/protocols/esk"]
    found = axe(browser, site, "manager", [*pages, "/clinic/staff/new", "/clinic/rooms/new",
                                           "/clinic?closed=2026-12-08"])
    found |= axe(browser, site, "front_desk", ["/clinic", "/clinic/staff/N1",
                                               "/clinic/rooms/R1", "/clinic/protocols/esk"])
    assert found == {}
