"""The front desk's four weeks (issue 22, Done when): Debian's Chromium driven by Playwright
against ``chairtime serve`` on SQLite and on PostgreSQL, the embedded demo clinic, through the
pages only. Each week is planned from the board's "not planned yet" (the rolling solve),
published, a patient calls (their Wednesday session cancelled, then the first of their next free
slots booked on their page), a nurse falls sick
(a re-plan, its changes published), a no-show is marked, and the next week is navigated to.
After every step each patient's calendar feed (the .ics, parsed) holds exactly the sessions the
board shows for the week; at the end every earlier week, opened with the date picker, still
matches the feeds. axe-core finds no serious violation on the week's pages.

Kept affordable: a one-second solver limit, one server per database for the module."""

from __future__ import annotations

import logging
import re
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from scheduler.security import hash_password
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from tests.conftest import CHROMIUM, fresh_database, needs
from tests.test_feeds_http import server
from tests.test_pages import AXE, PASSWORD, USERS, Site, _context, axe, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]

log = logging.getLogger(__name__)

FIRST = date(2026, 12, 7)
"""The demo clinic's week (a Monday); the walk runs it and the three after it."""
SICK = "N2"
"""The nurse who falls sick on each week's Thursday (Ben Okafor)."""
LABEL = re.compile(r"^(\d\d):(\d\d)–\d\d:\d\d .*?\(([^()]+)\), ")
"""A board block's accessible name: "09:00–11:00 Name (P001), protocol, nurse, chair"."""


@dataclass
class Walk:
    site: Site
    feeds: dict[str, str]
    """Each patient's feed URL."""
    tz: ZoneInfo
    http: httpx.Client
    seen: dict[str, tuple[str, list[tuple[datetime, str]]]] = field(default_factory=dict)
    """Each feed's last ETag and its events (start in UTC, status), as a calendar app keeps
    them: an unchanged feed answers 304 and is not read again."""


@pytest.fixture(scope="module")
def walk(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    """The service on a fresh database of the kind: the demo clinic, nothing planned, one
    front-desk account, a calendar link for every patient (as the desk hands them out)."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp(f"four-weeks-{database_kind}")
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with session_scope(sessions(engine)) as session:
            first_clinic(session)
            clinic = repo.clinics(session)[0]
            repo.add_user(session, USERS["front_desk"], hash_password(PASSWORD), "front_desk")
            scenario = repo.scenario_of(repo.scenario_version(session, clinic.id))
            tokens = {p.id: repo.issue_feed_token(session, clinic.id, "patient", p.id, None)[0]
                      for p in scenario.patients}
        engine.dispose()
        # Every patient's calendar is read from this one address after each step: the
        # per-address feed limit (a guard against one client scraping) is raised for them.
        with server(url, folder, {"CHAIRTIME_TIME_LIMIT": "1",
                                  "CHAIRTIME_FEED_ADDRESS_LIMIT": "100000"}
                    ) as (base, _, log), \
                httpx.Client(base_url=base) as http:
            yield Walk(Site(base, log), {p: f"/feeds/{t}.ics" for p, t in tokens.items()},
                       scenario.tz, http)


# ----------------------------------------------------------------------------- what each shows
def board_sessions(page: Any, tz: ZoneInfo) -> set[tuple[str, datetime]]:
    """(patient, start in UTC) of every block on the board as shown."""
    blocks = page.evaluate("""() => Array.from(document.querySelectorAll('svg.lanes'))
        .flatMap(svg => Array.from(svg.querySelectorAll('a.appt'))
        .map(a => [svg.dataset.day, a.getAttribute('aria-label')]))""")
    out = set()
    for day, label in blocks:
        found = LABEL.match(label)
        assert found is not None, label
        hour, minute, patient = found.groups()
        start = datetime.combine(date.fromisoformat(day), time(int(hour), int(minute)), tz)
        out.add((patient, start.astimezone(UTC)))
    return out


def feed_sessions(walk: Walk, week: date) -> set[tuple[str, datetime]]:
    """(patient, start in UTC) of every confirmed event of the week in the patients' feeds."""
    begins = datetime.combine(week, time(0), walk.tz)
    ends = begins + timedelta(days=7)
    out = set()
    for patient, path in walk.feeds.items():
        etag, events = walk.seen.get(patient, ("", []))
        answer = walk.http.get(path, headers={"If-None-Match": etag} if etag else {})
        assert answer.status_code in (200, 304), (patient, answer.status_code)
        if answer.status_code == 200:
            events = [(e.decoded("dtstart").astimezone(UTC), str(e.get("status")))
                      for e in Calendar.from_ical(answer.content).walk("VEVENT")]
            walk.seen[patient] = (answer.headers["ETag"], events)
        out |= {(patient, start) for start, status in events
                if status == "CONFIRMED" and begins <= start < ends}
    return out


def agree(page: Any, walk: Walk, week: date, step: str) -> set[tuple[str, datetime]]:
    """The board as shown and the patients' feeds hold the same sessions of the week."""
    shown = board_sessions(page, walk.tz)
    feeds = feed_sessions(walk, week)
    assert shown == feeds, (step, sorted(shown - feeds)[:5], sorted(feeds - shown)[:5])
    log.info("%6.1f s  %s: board and feeds agree (%d sessions)", clock.monotonic() - START[0],
             step, len(shown))
    return shown


START = [clock.monotonic()]


def finish_job(page: Any, result: str) -> None:
    """On a job's page: wait until it opens its result (a URL matching ``result``)."""
    page.wait_for_url(re.compile(r"/jobs/"))
    page.wait_for_url(re.compile(result), timeout=180_000)


# ----------------------------------------------------------------------------- one week
def plan_and_publish(page: Any, week: date) -> None:
    assert page.get_by_role("heading", name="Not planned yet").is_visible()
    page.get_by_role("button", name=f"Plan the week of {week:%d %B}").click()
    finish_job(page, r"/board\?schedule=")
    assert f"week of {week:%d %B %Y}" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Publish this draft").click()
    page.wait_for_url(re.compile(r"published=1"))


def patient_calls(page: Any, week: date) -> str:
    """A patient calls: they cannot come on Wednesday at the time booked (the day's last
    esketamine session in a chair). The desk cancels that session
    on its appointment page, then books the first of the patient's next free slots on their
    page. Returns the patient's id."""
    wednesday = (week + timedelta(days=2)).isoformat()
    page.goto(f"/board?week={week.isoformat()}&zoom=day&day={wednesday}")
    block = page.locator("g.lane a.appt", has_text="").filter(
        has=page.locator("title", has_text="Esketamine")).last
    label = str(block.get_attribute("aria-label"))
    found = LABEL.match(label)
    assert found is not None, label
    patient = found.group(3)
    block.click()
    page.wait_for_url(re.compile(r"/appointments/"))
    page.get_by_role("button", name="Cancel this appointment").click()
    page.wait_for_url(re.compile(r"live=1"))
    page.goto(f"/patients/{patient}")
    rows = page.locator("table.slots tbody tr")
    assert rows.count(), f"{patient} is offered a free slot"
    rows.first.get_by_role("button", name=re.compile("^Book")).click()
    page.wait_for_url(re.compile(rf"/patients/{patient}\?booked="))
    return patient


def nurse_falls_sick(page: Any, week: date) -> None:
    """Thursday: nurse N2 calls in sick; the live schedule is re-planned and the changes
    (whom to tell first) published."""
    page.get_by_role("link", name="Re-plan after an event…").click()
    page.get_by_label("What happened").select_option("staff_absent")
    page.get_by_label("Staff member (for an absence)").select_option(SICK)
    page.get_by_label("Date", exact=True).fill((week + timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Re-plan").click()
    finish_job(page, r"/changes")
    page.get_by_role("button", name="Publish these changes").click()
    page.wait_for_url(re.compile(r"published=1"))


def no_show(page: Any) -> str:
    """The week's first session did not happen: marked no-show on its appointment page.
    Returns the page's path."""
    first = page.locator("a.appt").first
    ref = str(first.get_attribute("data-id"))
    first.click()
    page.wait_for_url(re.compile(rf"/appointments/{ref}$"))
    page.get_by_role("button", name="No-show").click()
    page.wait_for_url(re.compile(rf"/appointments/{ref}$"))
    assert "Marked no-show" in page.locator("#attendance").inner_text()
    return str(urlsplit(page.url).path)


def test_a_front_desk_runs_four_weeks_through_the_pages(browser: Any, walk: Walk) -> None:
    START[0] = clock.monotonic()
    context = _context(browser, walk.site)
    page = context.new_page()
    sign_in(page, "front_desk")
    weeks: list[date] = []
    missed: list[str] = []
    for n in range(4):
        week = FIRST + timedelta(days=7 * n)
        weeks.append(week)
        if n:  # the next week, navigated to
            page.get_by_role("link", name=f"Week of {week:%d %b} →").click()
            page.wait_for_url(re.compile(rf"week={week.isoformat()}"))
        assert f"week of {week:%d %B %Y}" in page.locator("h1").inner_text()
        plan_and_publish(page, week)
        planned = agree(page, walk, week, f"week {n + 1} published")
        caller = patient_calls(page, week)
        page.goto(f"/board?week={week.isoformat()}")
        booked = agree(page, walk, week, f"week {n + 1}: {caller} called")
        assert len([p for p, _ in booked if p == caller]) == \
            len([p for p, _ in planned if p == caller])  # cancelled, then booked again
        nurse_falls_sick(page, week)
        agree(page, walk, week, f"week {n + 1}: {SICK} sick")
        thursday = (week + timedelta(days=3)).isoformat()
        labels = page.locator(f'svg.lanes[data-day="{thursday}"] a.appt').evaluate_all(
            "xs => xs.map(a => a.getAttribute('aria-label'))")
        assert labels and not [x for x in labels if "Ben Okafor" in x]  # nobody's nurse
        page.goto(f"/board?week={week.isoformat()}")
        missed.append(no_show(page))
        page.goto(f"/board?week={week.isoformat()}")
        assert "1 no-show" in page.locator(".attendance").inner_text()
        agree(page, walk, week, f"week {n + 1}: no-show marked")
    for week in weeks[:-1]:  # the earlier weeks, by the date picker: history, still in feeds
        picker = page.get_by_label("Week of the date", exact=True)
        picker.fill((week + timedelta(days=2)).isoformat())  # a Wednesday: its week opens
        page.get_by_role("button", name="Go").click()
        page.wait_for_url(re.compile(rf"week={week.isoformat()}"))
        assert page.locator("#history").is_visible()
        agree(page, walk, week, f"the week of {week} afterwards")
    context.close()
    assert walk.site.csp_errors == []
    assert axe(browser, walk.site, "front_desk", [
        f"/board?week={weeks[0].isoformat()}", f"/board?week={weeks[-1] + timedelta(7)}",
        f"/board?week={weeks[-1].isoformat()}&zoom=day&day={weeks[-1].isoformat()}",
        missed[0]]) == {}
