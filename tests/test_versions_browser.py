"""Every change is a version, in a real browser (Debian's Chromium driven by Playwright against
``chairtime serve``), on SQLite and on PostgreSQL: a published week, then a nurse's day off
entered after it; the manager sees the board's banner, opens the versions page, reads what
changed and which published sessions now break a rule, and re-plans in one click. axe-core
finds no serious violation on the versions and audit pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from scheduler.security import hash_password
from scheduler.service import clinics
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import Options, plan_week
from tests.conftest import CHROMIUM, fresh_database, needs
from tests.test_feeds_http import server
from tests.test_pages import AXE, PASSWORD, USERS, Site, _context, axe, sign_in
from tests.test_versions import named_clinic

pytestmark = [pytest.mark.slow, pytest.mark.solve]


@pytest.fixture(scope="module")
def changed(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The named small clinic's week published, then Dana Fischer (N1) off on its Monday."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("versions-browser")
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with session_scope(sessions(engine)) as session:
            first_clinic(session)
            for role, email in USERS.items():
                repo.add_user(session, email, hash_password(PASSWORD), role)
            manager = repo.user_by_email(session, USERS["manager"])
            version = repo.add_scenario_version(session, repo.clinic(session, 1),
                                                named_clinic(), manager)
            planned = plan_week(repo.scenario_of(version), Options(time_limit=1, workers=1))
            row = repo.add_schedule(session, 1, version, planned.schedule, manager)
            repo.publish(session, row, row.row_version, manager)
        with sessions(engine)() as session:
            manager = repo.user_by_email(session, USERS["manager"])
            assert manager is not None
            nurse = clinics.item(session, 1, "staff", "staff member", "N1")
            clinics.replace_item(session, 1, "staff", "staff member", "N1",
                                 {**nurse, "time_off": ["2026-12-07"]}, manager, None)
        engine.dispose()
        with server(url, folder, {"CHAIRTIME_TIME_LIMIT": "2"}) as (base, _, log):
            yield Site(base, log)


def test_the_manager_sees_what_changed_what_it_breaks_and_replans(browser: Any,
                                                                   changed: Site) -> None:
    context = _context(browser, changed)
    page = context.new_page()
    sign_in(page, "manager")
    banner = page.locator("#published-broken")
    assert "no longer keeps every rule" in banner.inner_text()
    banner.get_by_role("link", name="See which, and what changed").click()
    page.wait_for_url(re.compile(r"/versions"))
    assert page.get_by_role("heading", name=re.compile("What changed since the published "
                                                        "week")).is_visible()
    assert page.get_by_text("Dana Fischer (N1) off Monday 7 Dec").is_visible()
    rows = page.locator("table.broken tbody tr")
    assert rows.count() >= 1
    first = rows.first.inner_text()
    assert "Mon 07 Dec" in first and re.search(r"Ada Byrne|Bo Chen|Gia Hayes", first)
    assert "time off" in first  # the checker's words
    page.get_by_role("link", name="what changed").first.click()
    page.wait_for_url(re.compile(r"/versions\?old=\d+&new=\d+"))
    assert page.locator(".compared").get_by_text("Dana Fischer (N1) off Monday 7 Dec") \
        .is_visible()
    page.get_by_role("button", name="Re-plan the published week").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}"))
    context.close()


def test_no_serious_accessibility_violation_on_the_new_pages(browser: Any,
                                                              changed: Site) -> None:
    found = axe(browser, changed, "manager", [
        "/versions", "/versions?old=1&new=3", "/audit", "/audit?kind=publish",
        "/audit?since=nope", "/board"])
    assert found == {}
