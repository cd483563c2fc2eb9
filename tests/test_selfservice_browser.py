"""A patient moves their own session in a real browser at phone width (360 px): Debian's
Chromium driven by Playwright against ``chairtime serve`` (a clock started on the Thursday
before the small clinic's week) on a SQLite file. The patient opens their private link, picks
another time the slot finder offers; the live schedule and the patient's feed show the new
time, the desk gets an e-mail at a real SMTP server; the page fits 360 px, axe-core finds no
serious violation, and a link rotated away is the 404 of one that never was."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from aiosmtpd.controller import Controller
from icalendar import Calendar

from scheduler.jobs import run_outbox
from scheduler.security import hash_password
from scheduler.service import drafts, selfservice
from scheduler.service.accounts import first_clinic
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import Options, plan_week
from scheduler.validate import validate_scenario
from tests.conftest import CHROMIUM, needs
from tests.test_feeds_http import server
from tests.test_outbox import Inbox, _free_port, text_of, with_contacts
from tests.test_pages import AXE, PASSWORD, USERS, Site, axe

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]

THURSDAY = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
TICKING = ("import sys, datetime, time_machine; "
           "time_machine.travel(datetime.datetime.fromisoformat(sys.argv[1]), tick=True).start(); "
           "from scheduler.cli import main; sys.exit(main(sys.argv[2:]))")
"""``chairtime`` with a clock that starts at argv[1] and runs on."""


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Site, str, str, str, Path]]:
    """The service on the small clinic (with patients' addresses) and a published week; P01's
    self-service token and feed token; the database URL; the folder."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("selfservice")
    url = f"sqlite:///{folder / 'chairtime.db'}"
    engine = connect(url)
    upgrade(engine)
    with time_machine.travel(THURSDAY, tick=False), sessions(engine)() as session:
        first_clinic(session)
        session.commit()
        clinic = repo.clinics(session)[0]
        for role, email in USERS.items():
            repo.add_user(session, email, hash_password(PASSWORD), role)
        version = repo.add_scenario_version(session, clinic, validate_scenario(with_contacts()))
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
    with server(url, folder, {"CHAIRTIME_LATE_CANCEL_HOURS": "24"}, launcher) as (base, _, log):
        yield Site(base, log), token, feed, url, folder


@pytest.fixture(scope="module")
def desk_mail() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server the desk's e-mail goes to."""
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_a_patient_moves_their_session_at_360_px_and_the_desk_hears_of_it(
        browser: Any, linked: tuple[Site, str, str, str, Path],
        desk_mail: tuple[Inbox, int]) -> None:
    site, token, feed, url, folder = linked
    inbox, port = desk_mail
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=site.base)
    context.set_default_timeout(90_000)
    page = context.new_page()
    page.goto(f"/me/{token}")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Your appointments at Riverside Clinic")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("link", name="Another time").first.click()
    page.wait_for_url(re.compile(r"/move/"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    move_page = page.url.removeprefix(site.base)
    choice = page.locator("ul.slots button").first
    start = page.locator("ul.slots input[name=start]").first.get_attribute("value")
    assert start is not None
    choice.click()
    page.wait_for_url(re.compile(r"done=moved"))
    assert "Your appointment is moved" in page.inner_text("main")
    context.close()
    # the live schedule (what the board opens) and the patient's feed say the new time
    signed = httpx.post(f"{site.base}/api/v1/auth/token", data={
        "username": USERS["front_desk"], "password": PASSWORD}).json()["access_token"]
    live = httpx.get(f"{site.base}/api/v1/clinics/1/schedules/published",
                     headers={"Authorization": f"Bearer {signed}"}).json()
    mine = [a for a in live["schedule"]["appointments"] if a["patient"] == "P01"]
    assert [datetime.fromisoformat(a["start"]) for a in mine] == [datetime.fromisoformat(start)]
    body = httpx.get(f"{site.base}/feeds/{feed}.ics").content
    starts = [e.decoded("DTSTART") for e in Calendar.from_ical(body).walk("VEVENT")
              if e.get("STATUS") == "CONFIRMED"]
    assert starts == [datetime.fromisoformat(start)]
    # the desk's e-mail, through a real SMTP server
    inbox.take()
    settings = Settings(data_dir=folder, database_url=url, smtp_host="127.0.0.1",
                        smtp_port=port, smtp_tls="none")
    with time_machine.travel(THURSDAY + timedelta(hours=1), tick=False):  # its clock ran on
        run_outbox(url, settings)
    (desk,) = [m for m in inbox.take() if m["To"] == USERS["front_desk"]]
    assert "Ada Byron: moved a session" in str(desk["Subject"])
    assert "through their self-service link" in text_of(desk)
    # the page passes axe-core at phone width; a rotated-away link is the 404 of none
    assert axe(browser, site, "front_desk", [f"/me/{token}", move_page]) == {}
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        selfservice.issue_link(session, 1, "P01", None)
    engine.dispose()
    stale = httpx.get(f"{site.base}/me/{token}")
    never = httpx.get(f"{site.base}/me/" + "x" * 43)
    assert (stale.status_code, stale.text) == (404, never.text)
