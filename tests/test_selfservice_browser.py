"""A patient moves their own session in a real browser at phone width (360 px): Debian's
Chromium driven by Playwright against ``chairtime serve`` (a clock started on the Thursday
before the small clinic's week, its outbox job sending through a real SMTP server started
here), on SQLite and on PostgreSQL. The patient opens their private link and picks another
time the slot finder offers; then, as others see it: the desk's board (signed in, in a second
browser context) draws the session at the new time, the patient's calendar feed says the new
DTSTART to icalendar and to Mozilla's ical.js, and the desk's notice arrives once at the SMTP
server, sent by the service itself. Each page fits 360 px (no horizontal scroll), axe-core
finds no serious violation at that width, and a link rotated away is the 404 of one that never
was. Screenshots of the patient's pages go to /tmp/chairtime-selfservice/."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy import select

from scheduler.security import hash_password
from scheduler.service import drafts, selfservice
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.storage.tables import OutboxMessage
from scheduler.usecases import Options, plan_week
from scheduler.validate import validate_scenario
from tests.conftest import CHROMIUM, fresh_database, needs
from tests.test_feeds import _ical_js
from tests.test_feeds_http import server
from tests.test_outbox import Inbox, _free_port, no_drug_named, text_of, with_contacts
from tests.test_pages import AXE, PASSWORD, USERS, Site, sign_in, violations

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]

THURSDAY = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
TICKING = ("import sys, datetime, time_machine; "
           "time_machine.travel(datetime.datetime.fromisoformat(sys.argv[1]), tick=True).start(); "
           "from scheduler.cli import main; sys.exit(main(sys.argv[2:]))")
"""``chairtime`` with a clock that starts at argv[1] and runs on."""
SHOTS = Path("/tmp/chairtime-selfservice")
PHONE = {"width": 360, "height": 740}
FITS = "document.scrollingElement.scrollWidth <= 360"
"""No horizontal scroll at 360 px: nothing of the page is wider than the phone."""


@pytest.fixture(scope="module")
def desk_mail() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server: the service's outbox job sends the desk's e-mail to it."""
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def linked(database_kind: str, tmp_path_factory: pytest.TempPathFactory,
           desk_mail: tuple[Inbox, int]) -> Iterator[tuple[Site, str, str, str]]:
    """The service on the small clinic (with patients' addresses) and a published week, its
    e-mail going to ``desk_mail``; P01's self-service token and feed token; the database
    URL."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    _, port = desk_mail
    folder = tmp_path_factory.mktemp("selfservice")
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with time_machine.travel(THURSDAY, tick=False), sessions(engine)() as session:
            first_clinic(session)
            session.commit()
            clinic = repo.clinics(session)[0]
            for role, email in USERS.items():
                repo.add_user(session, email, hash_password(PASSWORD), role)
            version = repo.add_scenario_version(session, clinic,
                                                validate_scenario(with_contacts()))
            planned = plan_week(repo.scenario_of(version), Options(time_limit=2, workers=1))
            row = repo.add_schedule(session, clinic.id, version, planned.schedule)
            session.flush()
            desk = repo.user_by_email(session, USERS["front_desk"])
            assert desk is not None
            drafts.publish(session, row.id, row.row_version, desk)
            token = selfservice.issue_link(session, clinic.id, "P01", None)
            feed, _ = repo.issue_feed_token(session, clinic.id, "patient", "P01", None)
            session.commit()
        engine.dispose()
        launcher = [sys.executable, "-c", TICKING, THURSDAY.isoformat()]
        env = {"CHAIRTIME_LATE_CANCEL_HOURS": "24", "CHAIRTIME_SMTP_HOST": "127.0.0.1",
               "CHAIRTIME_SMTP_PORT": str(port), "CHAIRTIME_SMTP_TLS": "none",
               "CHAIRTIME_MAIL_FROM": "desk@riverside.example.org",
               "CHAIRTIME_OUTBOX_SECONDS": "2"}
        with server(url, folder, env, launcher) as (base, _, log):
            yield Site(base, log, url=url), token, feed, url


def _phone(browser: Any, site: Site, **options: Any) -> Any:
    context = browser.new_context(viewport=PHONE, base_url=site.base, **options)
    context.set_default_timeout(90_000)  # a loaded 2-core machine: slow, not broken
    return context


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _axe_at_360(browser: Any, site: Site, paths: list[str]) -> dict[str, list[str]]:
    """axe-core's serious and critical violations on each page, at phone width (CSP
    bypassed for the injected script only)."""
    context = _phone(browser, site, bypass_csp=True)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for path in paths:
        page.goto(path)
        if bad := violations(page):
            found[path] = bad
    context.close()
    return found


def _on_the_board(browser: Any, site: Site, patient: str) -> list[tuple[str, str]]:
    """The day and start (clinic time) of each of ``patient``'s sessions as the desk's board
    draws them: signed in as the desk, in a browser context of its own."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site.base)
    context.set_default_timeout(90_000)
    page = context.new_page()
    sign_in(page, "front_desk")
    page.goto("/board")
    drawn: list[tuple[str, str]] = page.locator("a.appt").evaluate_all(
        f"""(links) => links
            .filter((a) => (a.getAttribute('aria-label') || '').includes('({patient})'))
            .map((a) => [a.closest('[data-day]').dataset.day,
                         a.getAttribute('aria-label').slice(0, 5)])""")
    context.close()
    return sorted(tuple(d) for d in drawn)  # type: ignore[misc]


def _arrived(inbox: Inbox, seconds: float = 90) -> list[Any]:
    """What the SMTP server took within ``seconds`` (the service's outbox job runs every
    2 s here), as soon as something came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with inbox.lock:
            if inbox.messages:
                break
        time.sleep(0.5)
    return inbox.take()


def test_a_patient_moves_their_session_at_360_px_and_the_desk_hears_of_it(
        browser: Any, linked: tuple[Site, str, str, str], desk_mail: tuple[Inbox, int],
        database_kind: str, tmp_path: Path) -> None:
    site, token, feed, url = linked
    inbox, _ = desk_mail
    inbox.take()
    tz = ZoneInfo(with_contacts()["clinic"]["timezone"])
    (before,) = _on_the_board(browser, site, "P01")
    context = _phone(browser, site)
    page = context.new_page()
    page.goto(f"/me/{token}")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Your appointments at Riverside Clinic")
    assert page.evaluate(FITS), page.evaluate("document.scrollingElement.scrollWidth")
    _shot(page, f"{database_kind}-1-appointments")
    page.get_by_role("link", name="Another time").first.click()
    page.wait_for_url(re.compile(r"/move/"))
    assert page.evaluate(FITS), page.evaluate("document.scrollingElement.scrollWidth")
    _shot(page, f"{database_kind}-2-another-time")
    move_page = page.url.removeprefix(site.base)
    start = page.locator("ul.slots input[name=start]").first.get_attribute("value")
    assert start is not None
    new = datetime.fromisoformat(start)
    page.locator("ul.slots button").first.click()
    page.wait_for_url(re.compile(r"done=moved"))
    assert "Your appointment is moved" in page.inner_text("main")
    assert page.evaluate(FITS), page.evaluate("document.scrollingElement.scrollWidth")
    _shot(page, f"{database_kind}-3-moved")
    context.close()
    # the desk's board, read from the page it draws, shows the new time and not the old
    local = new.astimezone(tz)
    after = _on_the_board(browser, site, "P01")
    assert after == [(local.date().isoformat(), f"{local:%H:%M}")] != [before], (before, after)
    # the patient's feed: the new DTSTART, to icalendar and to Mozilla's ical.js
    body = httpx.get(f"{site.base}/feeds/{feed}.ics").content
    events = [e for e in Calendar.from_ical(body).walk("VEVENT")
              if e.get("STATUS") == "CONFIRMED"]
    assert [e.decoded("DTSTART") for e in events] == [new], [e.to_ical() for e in events]
    file = tmp_path / "p01.ics"
    file.write_bytes(body)
    js = _ical_js([file])[str(file)]["events"]
    assert [datetime.fromisoformat(e["start"]) for e in js if e["status"] == "CONFIRMED"
            ] == [new.astimezone(UTC)], js
    # the desk's notice, sent by the service's own outbox job through the SMTP server
    (notice,) = _arrived(inbox)
    assert notice["To"] == USERS["front_desk"]
    assert "Ada Byron: moved a session" in str(notice["Subject"])
    assert f"{local.day} {local:%b} {local:%H:%M}" in str(notice["Subject"])
    assert "through their self-service link" in text_of(notice)
    no_drug_named(notice)
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        desk = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind ==
                                                               "desk-notice")))
        assert [(r.to_address, r.status) for r in desk] == [(USERS["front_desk"], "sent")]
    # the pages pass axe-core at phone width; a rotated-away link is the 404 of none
    assert _axe_at_360(browser, site, [f"/me/{token}", move_page]) == {}
    with session_scope(sessions(engine)) as session:
        fresh = selfservice.issue_link(session, 1, "P01", None)
    engine.dispose()
    never = httpx.get(f"{site.base}/me/" + "x" * 43)
    for stale in (f"/me/{token}", move_page):
        answer = httpx.get(f"{site.base}{stale}")
        assert (answer.status_code, answer.text) == (404, never.text), stale
    assert httpx.get(f"{site.base}/me/{fresh}").status_code == 200
    assert inbox.take() == []  # nothing else went: the patient's own notice is still held


def test_a_patient_cancels_at_360_px_only_after_saying_yes_without_javascript(
        browser: Any, linked: tuple[Site, str, str, str], desk_mail: tuple[Inbox, int],
        database_kind: str) -> None:
    """Cancel on the list leads to "Cancel this appointment?" (the session's day and time in
    the clinic's zone); Keep it goes back with nothing changed; Yes, cancel it cancels, the
    desk's board stops drawing it and the desk hears of it once. JavaScript is off: the
    question is a page and a form, no script."""
    site, _, _, url = linked
    inbox, _ = desk_mail
    inbox.take()
    tz = ZoneInfo(with_contacts()["clinic"]["timezone"])
    ((day, start),) = _on_the_board(browser, site, "P02")
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        token = selfservice.issue_link(session, 1, "P02", None)
    engine.dispose()
    context = _phone(browser, site, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"/me/{token}")
    page.get_by_role("link", name="Cancel this appointment").click()
    page.wait_for_url(re.compile(r"/cancel/"))
    ask = page.url.removeprefix(site.base)
    assert page.get_by_role("heading", level=1).inner_text() == "Cancel this appointment?"
    local = datetime.fromisoformat(f"{day}T{start}").replace(tzinfo=tz)
    assert f"{local:%A} {local.day} {local:%B}, {start}" in page.inner_text("main")
    assert page.evaluate(FITS), page.evaluate("document.scrollingElement.scrollWidth")
    _shot(page, f"{database_kind}-4-cancel-asked")
    page.get_by_role("link", name="Keep it").click()
    page.wait_for_url(re.compile(r"/me/[^/]+$"))
    assert page.get_by_role("link", name="Cancel this appointment").count() == 1
    assert _on_the_board(browser, site, "P02") == [(day, start)]  # kept: nothing changed
    page.goto(ask)
    page.get_by_role("button", name="Yes, cancel it").click()
    page.wait_for_url(re.compile(r"done=cancelled"))
    assert "Your appointment is cancelled" in page.inner_text("main")
    assert "You have no upcoming appointments." in page.inner_text("main")
    assert page.evaluate(FITS), page.evaluate("document.scrollingElement.scrollWidth")
    _shot(page, f"{database_kind}-5-cancelled")
    page.goto(ask)  # the question again after the fact: the patient's own list, 404
    assert "not on your list" in page.inner_text("main")
    context.close()
    assert _on_the_board(browser, site, "P02") == []
    (notice,) = _arrived(inbox)
    assert f"Ben Okafor: cancelled the session of {local:%a} {local.day} {local:%b} {start}" \
        == str(notice["Subject"])
    no_drug_named(notice)
    if database_kind == "sqlite":  # the markup is the same on both databases
        engine = connect(url)
        with session_scope(sessions(engine)) as session:
            again = selfservice.issue_link(session, 1, "P03", None)
            ref = next(a.id for a in drafts.document(drafts.published(session, 1)).appointments
                       if a.patient == "P03")
        engine.dispose()
        assert _axe_at_360(browser, site, [f"/me/{again}/cancel/{ref}"]) == {}
