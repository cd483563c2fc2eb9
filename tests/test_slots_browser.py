"""Find a slot in a real browser (issue 22): Debian's Chromium driven by Playwright against
``chairtime serve`` on a SQLite file, the demo clinic with a published week in which one
session was cancelled. A patient calls: the front desk opens their page, books the first of
the next free slots in one click, and the patient page and the patient's calendar feed show
the new session; axe-core finds no serious violation on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from scheduler.security import hash_password
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import Options, cancel_appointment, plan_week
from tests.conftest import CHROMIUM, needs
from tests.test_feeds_http import server
from tests.test_pages import AXE, PASSWORD, USERS, Site, _context, axe, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]


@pytest.fixture(scope="module")
def called(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, str]]:
    """The service on the demo clinic with a published week missing one session (that of
    the patient who calls: their id is the second item)."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("slots")
    url = f"sqlite:///{folder / 'chairtime.db'}"
    engine = connect(url)
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        first_clinic(session)  # the embedded demo, as the first start loads it
        clinic = repo.clinics(session)[0]
        for role, email in USERS.items():
            repo.add_user(session, email, hash_password(PASSWORD), role)
        version = repo.scenario_version(session, clinic.id)
        scenario = repo.scenario_of(version)
        planned = plan_week(scenario, Options(time_limit=3, workers=1))
        own = {p.id: p.protocol for p in scenario.patients}
        gone = next(a for a in planned.schedule.appointments if a.protocol == own[a.patient])
        week = cancel_appointment(scenario, planned.schedule, gone.id)
        row = repo.add_schedule(session, clinic.id, version, week)
        repo.publish(session, row, row.row_version)
    engine.dispose()
    with server(url, folder, {"CHAIRTIME_TIME_LIMIT": "4"}) as (base, _, log):
        yield Site(base, log), gone.patient


def test_a_patient_calls_finds_a_slot_and_books_it_and_the_feed_shows_it(
        browser: Any, called: tuple[Site, str]) -> None:
    site, patient = called
    context = _context(browser, site)
    page = context.new_page()
    sign_in(page, "front_desk")
    page.goto(f"/patients/{patient}")
    assert page.get_by_role("heading", name="Next free slots").is_visible()
    rows = page.locator("table.slots tbody tr")
    assert rows.count() >= 1
    when = rows.first.locator("td").first.inner_text()  # e.g. "Mon 07 Dec 09:00–11:00"
    start = rows.first.locator('input[name="start"]').get_attribute("value")
    assert start is not None
    page.get_by_role("button", name="Make a calendar link").click()
    url = page.locator("#feed-url").input_value()
    before = len(Calendar.from_ical(httpx.get(url).content).walk("VEVENT"))
    rows.first.get_by_role("button", name=re.compile("^Book")).click()
    page.wait_for_url(re.compile(rf"/patients/{patient}\?booked="))
    sessions_table = page.locator("table").first.inner_text()
    assert when in sessions_table and "published v2" in sessions_table
    feed = Calendar.from_ical(httpx.get(url).content)
    starts = [e.decoded("dtstart").astimezone(UTC) for e in feed.walk("VEVENT")]
    assert len(starts) == before + 1
    assert datetime.fromisoformat(start).astimezone(UTC) in starts
    context.close()
    assert site.csp_errors == []
    assert axe(browser, site, "front_desk", [f"/patients/{patient}"]) == {}

