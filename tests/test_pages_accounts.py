"""Accounts and clinics through the pages, in Debian's Chromium against ``chairtime serve`` on a
fresh SQLite database (issue 21): the first admin's one-time password must be changed before
anything else; the admin adds a clinic and an account (a one-time password shown once); that
account changes its password, sees only its own clinic (another's is a 404 page, as an id that
does not exist), and loses its page session the moment it is deactivated; the clinic switcher;
a clinic deleted whole; axe-core on every new page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CHROMIUM, needs
from tests.test_feeds_http import server
from tests.test_pages import AXE, Site, _shot, _watch_csp, violations

pytestmark = [pytest.mark.slow, pytest.mark.db]

ADMIN = "admin@chairtime.local"
ADMIN_PASSWORD = "our clinic's admin secret"
DESK = "desk@example.org"
DESK_PASSWORD = "the desk's own secret"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("accounts")
    with server(f"sqlite:///{folder / 'chairtime.db'}", folder) as (base, _, log):
        yield Site(base, log)


def _page(browser: Any, site: Site) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site.base)
    context.set_default_timeout(90_000)
    page = context.new_page()
    _watch_csp(page, site)
    return context, page


def _sign_in(page: Any, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _change(page: Any, current: str, new: str, repeat: str | None = None) -> None:
    page.get_by_label("One-time password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(repeat or new)
    page.get_by_role("button", name="Change password").click()


def test_accounts_and_clinics_through_the_pages(browser: Any, site: Site) -> None:
    once = re.search(r"one-time password: (\S+)", site.log.read_text())
    assert once is not None, "the first start logs the first admin's one-time password"
    admin_context, admin = _page(browser, site)
    _sign_in(admin, ADMIN, once.group(1))
    admin.wait_for_url(re.compile("/account/password"))
    assert admin.goto("/board") is not None
    assert admin.url.endswith("/account/password"), "nothing but the change works first"
    _change(admin, once.group(1), ADMIN_PASSWORD, "a different repeat")
    assert "does not match" in admin.locator("main").inner_text()
    _change(admin, once.group(1), "too short")
    assert "at least 12 characters" in admin.locator("main").inner_text()
    _change(admin, once.group(1), "password1234")
    assert "very common password" in admin.locator("main").inner_text()
    _change(admin, once.group(1), ADMIN_PASSWORD)
    admin.wait_for_url(re.compile("/account"))
    assert "password is changed" in admin.locator("main").inner_text()

    admin.goto("/admin/clinics")
    admin.get_by_label("Name", exact=True).fill("East Side Ketamine")
    admin.get_by_label("Short name").fill("east")
    admin.get_by_role("button", name="Add clinic").click()
    admin.wait_for_url(re.compile("added=1"))
    assert "East Side Ketamine" in admin.locator("table").inner_text()

    admin.goto("/admin/users")
    admin.get_by_label("Email").fill(DESK)
    admin.get_by_label("Riverside Ketamine Clinic").check()
    admin.get_by_role("button", name="Add with a one-time password").click()
    desk_once = admin.locator("code.secret").inner_text()
    assert len(desk_once) >= 12
    _shot(admin, "admin-users")

    desk_context, desk = _page(browser, site)
    _sign_in(desk, DESK, desk_once)
    desk.wait_for_url(re.compile("/account/password"))
    _change(desk, desk_once, DESK_PASSWORD)
    desk.goto("/board")
    assert "Riverside" in desk.locator("header").inner_text()
    answer = desk.goto("/board?clinic=2")
    assert answer is not None and answer.status == 404
    assert "no clinic '2'" in desk.locator("main").inner_text()
    missing = desk.goto("/board?clinic=99")
    assert missing is not None and missing.status == 404
    forbidden = desk.goto("/admin/users")
    assert forbidden is not None and forbidden.status == 403
    assert desk.get_by_role("link", name="Accounts & clinics").count() == 0

    admin.goto("/board?clinic=2")
    assert "East Side Ketamine" in admin.locator("h1").inner_text()
    admin.goto("/board")  # the clinic chosen last
    assert "East Side Ketamine" in admin.locator("h1").inner_text()
    admin.get_by_label("Clinic").select_option(label="Riverside Ketamine Clinic")
    admin.get_by_role("button", name="Open").click()
    assert "Riverside" in admin.locator("h1").inner_text()

    admin.goto("/admin/users")
    row = admin.locator("tr", has_text=DESK)
    row.get_by_role("button", name="Deactivate").click()
    admin.wait_for_url(re.compile("/admin/users"))
    desk.goto("/board")
    assert "/login" in desk.url, "deactivation ends the page session at once"

    admin.goto("/admin/clinics")
    admin.get_by_label("Type “east” to delete it with all its data").fill("west")
    admin.locator("tr", has_text="east").get_by_role("button", name="Delete").click()
    assert "must be the clinic's slug" in admin.locator("main").inner_text()
    admin.get_by_label("Type “east” to delete it with all its data").fill("east")
    admin.locator("tr", has_text="east").get_by_role("button", name="Delete").click()
    admin.wait_for_url(re.compile("deleted=1"))
    assert "East Side" not in admin.locator("table").inner_text()
    _shot(admin, "admin-clinics")
    assert site.csp_errors == []
    desk_context.close()
    admin_context.close()


def test_no_serious_accessibility_violation_on_the_account_pages(browser: Any, site: Site
                                                                 ) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site.base,
                                  bypass_csp=True)
    context.set_default_timeout(90_000)
    page = context.new_page()
    _sign_in(page, ADMIN, ADMIN_PASSWORD)
    page.wait_for_url(re.compile("/board"))
    found: dict[str, list[str]] = {}
    for path in ("/account", "/account/password", "/admin/users", "/admin/clinics"):
        page.goto(path)
        if bad := violations(page):
            found[path] = bad
    context.close()
    assert found == {}

