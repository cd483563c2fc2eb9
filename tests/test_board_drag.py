"""Drag to move on the live schedule, in a real browser (issue 22): Debian's Chromium driven
by Playwright against ``chairtime serve`` on the demo clinic with its week published, once on
SQLite and once on PostgreSQL. A block dragged before opening time is refused: it goes back
where it was and the checker's words, in names, are shown. A block dragged to a free time and
chair is moved: the board of the new published version says what moved and offers Undo, the
patient's page and the patient's calendar feed show the new time. Undo: the board, the API's
published schedule, the patient's page and the feed are as before. axe-core on the board."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from playwright.sync_api import Error as PlaywrightError

from scheduler.documents import Appointment, Schedule
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import Options, move_appointment, plan_week
from tests.conftest import CHROMIUM, fresh_database, needs, password_hash
from tests.test_feeds_http import server
from tests.test_pages import AXE, PASSWORD, USERS, Site, _context, _watch_csp, axe, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]


@dataclass(frozen=True)
class Move:
    """An appointment of the published week and where it can go (the checker accepts it)."""

    appointment: Appointment
    start: datetime
    room: str


@functools.cache
def demo_week() -> tuple[Scenario, Schedule, Move]:
    """The demo clinic's week (planned once for both databases) and a move of a Monday
    session the checker accepts: another chair at the same time, else the same chair a few
    slots later or earlier."""
    engine = connect("sqlite://")
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        first_clinic(session)
        scenario = repo.scenario_of(repo.scenario_version(session, repo.clinics(session)[0].id))
    engine.dispose()
    week = plan_week(scenario, Options(time_limit=2, workers=1)).schedule
    monday = [a for a in week.appointments if a.room is not None
              and a.start.astimezone(scenario.tz).date() == scenario.horizon.start]
    rooms = [r.id for r in scenario.rooms]
    for a in monday:
        own = a.room or ""
        tries = [(a.start, r) for r in rooms if r != own] + [
            (a.start + timedelta(minutes=m), own) for m in (15, 30, -15, -30, 45, 60)]
        for start, room in tries:
            try:
                move_appointment(scenario, week, a.id, start, room)
            except InvalidInput:
                continue
            return scenario, week, Move(a, start, room)
    raise AssertionError("no Monday session of the demo week can be moved")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, database_kind: str
         ) -> Iterator[tuple[Site, Scenario, Move]]:
    """The service on the demo clinic with its week published, on ``database_kind``."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp(f"drag-{database_kind}")
    scenario, week, move = demo_week()
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with session_scope(sessions(engine)) as session:
            first_clinic(session)
            clinic = repo.clinics(session)[0]
            for role, email in USERS.items():
                repo.add_user(session, email, password_hash(PASSWORD), role)
            row = repo.add_schedule(session, clinic.id, repo.scenario_version(session, clinic.id),
                                    week)
            repo.publish(session, row, row.row_version)
        engine.dispose()
        with server(url, folder) as (base, _, log):
            yield Site(base, log), scenario, move


@functools.cache
def token(base: str) -> str:
    """The front desk's API token on the service at ``base`` (one sign-in: argon2 is slow)."""
    answer = httpx.post(f"{base}/api/v1/auth/token", data={
        "username": USERS["front_desk"], "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def api_published(site: Site) -> dict[str, Any]:
    """The API's published schedule, read with the front desk's token."""
    answer = httpx.get(f"{site.base}/api/v1/clinics/1/schedules/published",
                       headers={"Authorization": f"Bearer {token(site.base)}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def feed_starts(url: str) -> list[datetime]:
    calendar = Calendar.from_ical(httpx.get(url).content)
    return sorted(e.decoded("dtstart").astimezone(UTC) for e in calendar.walk("VEVENT")
                  if str(e.get("status")) != "CANCELLED")


def drag(page: Any, ref: str, minutes: float, room: str | None = None) -> None:
    """Drag block ``ref`` by ``minutes`` (to the lane of ``room`` when given) with the mouse."""
    block = page.locator(f"a.appt[data-id='{ref}']")
    block.scroll_into_view_if_needed()
    box = block.locator("rect.outline").bounding_box()
    svg = block.locator("xpath=ancestor::*[local-name()='svg']")
    per_minute = svg.evaluate("s => s.getBoundingClientRect().width / s.viewBox.baseVal.width"
                              " * parseFloat(s.dataset.scale)")
    x, y = box["x"] + min(12, box["width"] / 2), box["y"] + box["height"] / 2
    to_y = y
    if room is not None:
        lane = svg.locator(f"g.lane[data-room='{room}'] rect.lane-bg").bounding_box()
        to_y = lane["y"] + lane["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + minutes * per_minute, to_y, steps=10)
    page.mouse.up()


def settled(page: Any, seconds: float = 90) -> str:
    """After a drop on the live board: "moved" once the new version's board is open, else the
    refusal shown above the board."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "moved=" in page.url:
            page.wait_for_load_state()
            return "moved"
        try:
            if page.locator("#drag-verdict.refused").count():
                return str(page.locator("#drag-verdict").inner_text())
        except PlaywrightError:  # navigating meanwhile
            pass
        time.sleep(0.2)
    raise AssertionError("the drop was neither moved nor refused")



def local(scenario: Scenario, when: datetime) -> str:
    return f"{when.astimezone(scenario.tz):%a %d %b %H:%M}"


def test_a_session_is_dragged_on_the_live_board_and_undone(
        browser: Any, desk: tuple[Site, Scenario, Move]) -> None:
    site, scenario, move = desk
    a = move.appointment
    before = api_published(site)
    assert before["number"] == 1
    context = _context(browser, site)
    page = context.new_page()
    _watch_csp(page, site)
    sign_in(page, "front_desk")
    page.goto(f"/patients/{a.patient}")
    page.get_by_role("button", name="Make a calendar link").click()
    feed = page.locator("#feed-url").input_value()
    old_feed = feed_starts(feed)
    assert a.start.astimezone(UTC) in old_feed

    # dragged before opening time: refused, the block back in place, the checker's words
    page.goto("/board")
    block = page.locator(f"a.appt[data-id='{a.id}']")
    x = block.get_attribute("data-x")
    opens = block.evaluate("b => b.closest('svg').dataset.opens")
    drag(page, a.id, -float(x or 0) - 60)
    words = settled(page)
    assert words.startswith("Not moved: the checker says"), words
    assert "breaks the hours rule" in words, words
    room_name = next(r.name for r in scenario.rooms if r.id == a.room)
    assert f"{room_name} ({a.room})" in words and f"in {a.room} " not in words, words
    assert block.get_attribute("transform") is None and block.get_attribute("data-x") == x
    assert opens and api_published(site)["number"] == 1
    page.locator("#drag-verdict").get_by_role("button", name="Close").click()
    assert page.locator("#drag-verdict").is_hidden()

    # dragged to a free time and chair: moved, said in names, Undo at hand
    drag(page, a.id, (move.start - a.start).total_seconds() / 60,
         move.room if move.room != a.room else None)
    assert settled(page) == "moved"
    who = next(p.name for p in scenario.patients if p.id == a.patient)
    note = page.locator("p.moved").inner_text()
    assert note.startswith(f"Moved {who} to {local(scenario, move.start)}"), note
    assert "the checker found every hard rule kept" in note
    moved = page.locator(f"a.appt[data-id='{a.id}']")
    assert moved.get_attribute("data-room") == move.room
    after = api_published(site)
    assert after["number"] == 2
    mine = next(x for x in after["schedule"]["appointments"] if x["id"] == a.id)
    assert datetime.fromisoformat(mine["start"]) == move.start and mine["room"] == move.room
    assert move.start.astimezone(UTC) in feed_starts(feed)
    assert a.start.astimezone(UTC) not in feed_starts(feed)
    page.goto(f"/patients/{a.patient}")
    sessions_table = page.locator("table").first.inner_text()
    assert local(scenario, move.start) in sessions_table and "published v2" in sessions_table
    assert local(scenario, a.start) not in sessions_table

    # undo: everything as before
    page.goto("/board")
    page.get_by_role("button", name=re.compile("^Undo the last change")).click()
    page.wait_for_url(re.compile(r"live=1"))
    back = page.locator(f"a.appt[data-id='{a.id}']")
    assert (back.get_attribute("data-x"), back.get_attribute("data-room")) == (x, a.room)
    undone = api_published(site)
    assert undone["number"] == 3
    assert undone["schedule"]["appointments"] == before["schedule"]["appointments"]
    assert feed_starts(feed) == old_feed
    page.goto(f"/patients/{a.patient}")
    assert local(scenario, a.start) in page.locator("table").first.inner_text()
    context.close()
    assert site.csp_errors == []
    if "sqlite" in site.log.parent.name:  # the same pages on both: axe once
        assert axe(browser, site, "front_desk", [
            "/board", f"/patients/{a.patient}", f"/schedules/{undone['id']}/unplaced",
            f"/schedules/{undone['id']}/appointments/{a.id}"]) == {}
