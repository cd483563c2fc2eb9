"""The pages in a real browser: Debian's Chromium driven by Playwright against ``chairtime
serve`` (uvicorn, the job runner, SQLite), as the front desk and the manager use them.

One end-to-end walk (sign in, solve the demo, the board, cancel, re-plan, publish, a patient's
feed link read back with icalendar), axe-core on every page (no serious or critical violation),
who may open what, keyboard and tablet width, and no Content-Security-Policy violation anywhere.
Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from scheduler.security import hash_password
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from tests.conftest import CHROMIUM, needs
from tests.test_feeds_http import server

pytestmark = [pytest.mark.slow, pytest.mark.db]  # the service on a SQLite file

AXE = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "correct horse battery"
USERS = {"front_desk": "desk@example.org", "manager": "manager@example.org"}


@dataclass
class Site:
    base: str
    log: Path
    csp_errors: list[str] = field(default_factory=list)
    url: str = ""
    """The database's."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The service on a fresh SQLite database: the demo clinic (loaded on first start), one
    front-desk user and one manager."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{folder / 'chairtime.db'}"
    engine = connect(url)
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        first_clinic(session)  # as the first start would: the users are members of it
        for role, email in USERS.items():
            repo.add_user(session, email, hash_password(PASSWORD), role)
    engine.dispose()
    with server(url, folder, {"CHAIRTIME_TIME_LIMIT": "4"}) as (base, _, log):
        yield Site(base, log, url=url)


def _context(browser: Any, site: Site, width: int = 1280, height: int = 800) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height},
                                  base_url=site.base)
    context.set_default_timeout(90_000)  # a loaded 2-core machine: slow, not broken
    return context


def _watch_csp(page: Any, site: Site) -> None:
    def seen(message: Any) -> None:
        if "Content Security Policy" in message.text:
            site.csp_errors.append(f"{page.url}: {message.text}")
    page.on("console", seen)


def sign_in(page: Any, role: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(USERS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/board"))


def axe(browser: Any, site: Site, role: str, paths: list[str]) -> dict[str, list[str]]:
    """axe-core's serious and critical violations on each page (CSP bypassed for the
    injected script only: the pages themselves are checked under theirs elsewhere)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site.base,
                                  bypass_csp=True)
    context.set_default_timeout(90_000)
    page = context.new_page()
    sign_in(page, role)
    found: dict[str, list[str]] = {}
    for path in paths:
        page.goto(path)
        if bad := violations(page):
            found[path] = bad
    context.close()
    return found


def violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (its context must
    bypass the CSP for the injected script)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, "
                           "{resultTypes: ['violations']})).violations")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result if v["impact"] in ("serious", "critical")]


def _shot(page: Any, name: str, **options: Any) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, **options)
    return path


# ----------------------------------------------------------------------------- the walk
@pytest.mark.solve
def test_the_front_desk_week_end_to_end(browser: Any, site: Site) -> None:
    """Sign in, solve the demo, see the board, cancel one appointment, re-plan after an
    absence, read the changes, publish, open a patient's feed link and parse what it returns."""
    context = _context(browser, site)
    page = context.new_page()
    _watch_csp(page, site)
    page.goto("/board")
    assert "/login" in page.url  # signed out: sent to sign in, and back after
    sign_in(page, "front_desk")

    page.get_by_label("Solve time limit (seconds)").fill("4")
    page.get_by_role("button", name="Solve the week").click()
    page.wait_for_url(re.compile(r"/board\?schedule=\d+"), timeout=120_000)
    assert page.locator("svg.lanes").count() == 5  # Monday to Friday
    blocks = page.locator("a.appt")
    placed = blocks.count()
    assert placed > 80
    status = page.locator("p.status").inner_text()
    assert f"{placed} sessions placed of 137 wanted" in status  # 131 + 6 KAP integrations
    _shot(page, "board-week")

    # the day view and its printed sheet
    page.goto(page.url + "&zoom=day&day=2026-12-08")
    assert page.locator("table.day-sheet tbody tr").count() == page.locator("a.appt").count()
    page.emulate_media(media="print")
    assert not page.locator("aside.side").is_visible()
    _shot(page, "board-print")
    page.emulate_media(media="screen")

    # the nurses' view: each nurse's load never above her maximum
    page.goto(page.url.replace("zoom=day", "zoom=day&view=nurses"))
    assert page.locator("g.nurse").count() >= 4
    assert page.locator("g.nurse.over").count() == 0
    _shot(page, "board-nurses")

    # cancel one appointment: it leaves the board and its patient is listed as unplaced
    page.goto(page.url.split("&")[0])
    first = page.locator("a.appt").first
    ref = first.get_attribute("data-id")
    first.click()
    page.wait_for_url(re.compile(rf"/appointments/{ref}$"))
    patient = page.locator("dl.facts dd").nth(1).inner_text()
    page.get_by_label("Reason (shown in the unplaced list)").fill("called in sick")
    page.get_by_role("button", name="Cancel this appointment").click()
    page.wait_for_url(re.compile(r"/board\?schedule="))
    assert page.locator(f"a.appt[data-id='{ref}']").count() == 0
    assert "called in sick" in (page.locator("ul.unplaced").text_content() or "")
    assert patient in (page.locator("ul.unplaced").text_content() or "")

    # drag a block 40 px (35 minutes) later on the week board: the move goes to the checker
    block = page.locator("a.appt").nth(2)
    ref = block.get_attribute("data-id")
    before_x = float(block.get_attribute("data-x") or 0)
    box = block.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=8)
    with page.expect_navigation():
        page.mouse.up()
    if "zoom=day" in page.url:  # moved: the board of that day, the block 35 minutes later
        moved = page.locator(f"a.appt[data-id='{ref}']")
        assert float(moved.get_attribute("data-x") or 0) == before_x + 35  # 40 px / 1.15
    else:  # refused, with the checker's words beside the time
        assert f"/appointments/{ref}/move" in page.url
        assert "breaks the" in page.locator(".field.invalid .message").first.inner_text()
    page.goto("/board")

    # a click on an empty stretch of a chair asks "why not here?" for that slot
    lane = page.locator("svg.lanes").first.locator("g.lane").last
    lane_box = lane.locator("rect.lane-bg").bounding_box()
    room = lane.get_attribute("data-room")
    assert lane_box is not None
    taken = sorted(lane.locator("rect.outline, rect.closed").evaluate_all(
        "rs => rs.map(r => [r.x.baseVal.value, r.x.baseVal.value + r.width.baseVal.value])"))
    free, edge = None, 150.0  # the first open stretch of 12 px or more between blocks
    for a, b in [*taken, (150.0 + 600 * 1.15, 0.0)]:
        if a - edge >= 12:
            free = (edge + a) / 2
            break
        edge = max(edge, b)
    assert free is not None
    page.mouse.click(lane_box["x"] + free, lane_box["y"] + 5)
    page.wait_for_url(re.compile(r"/unplaced\?date=2026-12-07&time=\d\d%3A\d\d&room="))
    assert page.get_by_label("Room").input_value() == room
    page.get_by_label("Patient").select_option(index=1)
    page.get_by_role("button", name="Why not here?").click()
    assert page.locator("section.verdict").is_visible()  # fits, or the checker's words
    page.goto("/board")

    # a bad move: the checker's words beside the time, the typed values kept
    page.locator("a.appt").first.click()
    page.get_by_label("Start time").fill("06:00")
    page.get_by_role("button", name=re.compile("Move it")).click()
    assert "breaks the hours rule" in page.locator(".field.invalid .message").first.inner_text()
    assert page.get_by_label("Start time").input_value() == "06:00"

    # re-plan after an event; first a bad date, shown beside the date field
    page.goto("/board")
    page.get_by_role("link", name="Re-plan after an event…").click()
    page.get_by_label("What happened").select_option("staff_absent")
    page.get_by_label("Staff member (for an absence)").select_option(label="Dana Fischer · N4")
    page.get_by_label("Date").fill("2026-12-09")
    page.get_by_role("button", name="Re-plan").click()
    page.wait_for_url(re.compile(r"/schedules/\d+/changes"), timeout=120_000)
    rows = page.locator("table.changes tbody tr")
    assert rows.count() > 0
    assert "Dana Fischer" in " ".join(  # names, not N4; patients, staff, the rest
        page.locator("table.changes").all_inner_texts())
    page.get_by_role("button", name="Publish these changes").click()
    page.wait_for_url(re.compile(r"published=1"))
    assert "published" in page.locator("p.status").inner_text()

    # a booked patient's page: a feed link with its QR code; the link gives their calendar
    page.locator("a.appt").first.click()
    page.locator("dl.facts dd").nth(1).get_by_role("link").click()  # the patient, by name
    assert page.locator("table tbody tr").count() >= 1  # the published session, listed
    page.get_by_role("button", name="Make a calendar link").click()
    url = page.locator("#feed-url").input_value()
    assert page.locator("#feed-webcal").input_value().startswith("webcal://")
    assert page.get_by_role("img", name=re.compile("QR code")).is_visible()
    _shot(page, "patient")
    feed = httpx.get(url)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed.content)
    assert all(not c.errors for c in calendar.walk())
    assert calendar.walk("VEVENT")  # the published sessions of this patient
    # rotate: the old link stops at once
    page.get_by_role("button", name="Rotate the link").click()
    assert httpx.get(url).status_code == 404
    context.close()
    assert site.csp_errors == []


@pytest.mark.solve
def test_the_managers_what_if_and_utilization(browser: Any, site: Site) -> None:
    """Pick a preset, run it, read the comparison; then the week's use by hour."""
    context = _context(browser, site)
    page = context.new_page()
    _watch_csp(page, site)
    sign_in(page, "manager")
    page.get_by_role("link", name="What-if").click()
    page.get_by_label(re.compile("^one more chair")).check()
    page.get_by_label("Seconds per solve").fill("2")
    page.get_by_label(re.compile("^Headroom")).uncheck()
    page.get_by_label(re.compile("^Bottleneck")).uncheck()
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r"/whatif/[0-9a-f]+$"), timeout=180_000)
    text = page.locator("main").inner_text()
    assert "one more chair" in text and "base" in text.lower()
    images = page.eval_on_selector_all("main img", "imgs => imgs.map(i => i.naturalWidth)")
    assert images and all(w > 0 for w in images)  # every chart loaded under the CSP
    _shot(page, "whatif")
    page.get_by_role("link", name="Utilization").click()
    assert page.locator("table caption").count() >= 3  # chairs, nurses, prescribers
    _shot(page, "utilization")
    context.close()
    assert site.csp_errors == []


def test_keyboard_and_tablet_width(browser: Any, site: Site) -> None:
    """Every action is reachable by keyboard; at tablet width nothing spills sideways."""
    context = _context(browser, site, width=820, height=1180)
    page = context.new_page()
    _watch_csp(page, site)
    sign_in(page, "front_desk")
    # the skip link, then focus reaches a session block; Enter opens it
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.locator("a.appt").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/appointments/"))
    page.goto("/board")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    _shot(page, "board-tablet")
    context.close()
    assert site.csp_errors == []


LAST_TICK_INSIDE = """() => Array.from(document.querySelectorAll('.day')).map(day => {
  const ticks = day.querySelectorAll('text.tick'), last = ticks[ticks.length - 1];
  const r = last.getBoundingClientRect();
  const box = day.querySelector('.scroll').getBoundingClientRect();
  return [last.textContent, r.left >= box.left && r.right <= box.right + 0.5];
})"""
SIDEWAYS = """s => Array.from(document.querySelectorAll(s))
  .map(b => [b.scrollWidth, b.clientWidth])"""


def test_at_820px_days_fit_their_cards_and_the_whatif_table_shows_every_column(
        browser: Any, site: Site) -> None:
    """At 820 px each day scrolled sideways inside its card, everything after ~16:45 cut with
    no cue, and the what-if table hid its last columns: now a day fits its card (the closing
    "18:00" inside it) and the table wraps; narrower than a day can shrink, the card scrolls
    and says so."""
    context = _context(browser, site, width=820, height=1180)
    page = context.new_page()
    _watch_csp(page, site)
    sign_in(page, "front_desk")
    for path, shot in (("/board", "board-820"), ("/board?zoom=day&day=2026-12-08", "day-820"),
                       ("/board?view=nurses", "nurses-820")):
        page.goto(path)
        cards = page.evaluate(SIDEWAYS, ".day .scroll")
        assert cards and all(wide <= shown + 1 for wide, shown in cards), (path, cards)
        assert all(label == "18:00" and inside
                   for label, inside in page.evaluate(LAST_TICK_INSIDE)), path
        assert page.locator(".scroll-cue").first.is_hidden()
        _shot(page, shot)
    page.set_viewport_size({"width": 480, "height": 900})  # a phone: the day cannot shrink enough
    page.goto("/board")
    assert page.locator(".day .scroll.overflows").count() > 0
    assert page.locator(".day .scroll-cue").first.is_visible()
    _shot(page, "board-480")
    context.close()

    context = _context(browser, site, width=820, height=1180)
    page = context.new_page()
    _watch_csp(page, site)
    sign_in(page, "manager")
    for path in [*_whatif_pages(site)[:1], "/utilization", "/whatif"]:
        page.goto(path)
        tables = page.evaluate(SIDEWAYS, "table.compare, table.unmet, table.runs")
        hidden = [(i, wide, shown) for i, (wide, shown) in enumerate(
            page.evaluate(SIDEWAYS, ".table-wrap")) if wide > shown + 1]
        compare = page.evaluate(SIDEWAYS, ".table-wrap:has(table.compare)")
        assert all(wide <= shown + 1 for wide, shown in compare), (path, compare, tables)
        for i, _, _ in hidden:  # a heat map wider than the screen says it scrolls
            assert page.locator(".table-wrap").nth(i).evaluate(
                "b => b.classList.contains('overflows')"), (path, i)
        _shot(page, "manager-820-" + ("whatif-result" if path.count("/") > 1
                                      else path.strip("/")))
    context.close()
    assert site.csp_errors == []


def test_who_may_open_what(browser: Any, site: Site) -> None:
    context = _context(browser, site)
    page = context.new_page()
    for path in ("/board", "/patients", "/whatif", "/utilization"):
        page.goto(path)
        assert "/login" in page.url, path
    sign_in(page, "front_desk")
    for path in ("/whatif", "/utilization"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        assert "for manager" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="What-if").count() == 0
    # a form posted without its token is refused
    answer = page.request.post(f"{site.base}/solve", form={"time_limit": "1"})
    assert answer.status == 403
    context.close()


def test_no_serious_accessibility_violation_on_any_page(browser: Any, site: Site) -> None:
    desk_pages = ["/login", "/board", "/board?zoom=day&day=2026-12-08",
                  "/board?view=nurses&zoom=day&day=2026-12-08", "/patients", "/patients/P001",
                  "/nowhere", "/messages", "/mail/unsubscribe/" + "x" * 32]
    found = axe(browser, site, "front_desk", desk_pages + _schedule_pages(browser, site))
    found |= axe(browser, site, "manager", ["/whatif", "/utilization", *_whatif_pages(site),
                                            _running_whatif(site)])
    assert found == {}


def _schedule_pages(browser: Any, site: Site) -> list[str]:
    """The pages of the newest schedule (the walk above made and published one)."""
    context = _context(browser, site)
    page = context.new_page()
    sign_in(page, "front_desk")
    page.goto("/board")
    link = page.locator("a.appt").first.get_attribute("href")
    context.close()
    assert link is not None
    schedule = link.split("/")[2]
    return [link, f"/schedules/{schedule}/unplaced", f"/schedules/{schedule}/replan",
            f"/schedules/{schedule}/changes"]


def _whatif_pages(site: Site) -> list[str]:
    """The result and job pages of the what-if run the manager's test made."""
    with httpx.Client(base_url=site.base) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        client.post("/login", data={"email": USERS["manager"], "password": PASSWORD,
                                    "csrf": token.group(1)})
        runs = re.findall(r'href="/whatif/([0-9a-f]+)"', client.get("/whatif").text)
    assert runs, "the manager's test ran a what-if"
    return [f"/whatif/{runs[0]}", f"/jobs/{runs[0]}"]


def _running_whatif(site: Site) -> str:
    """The page of a what-if run whose solves go on: the LP's first answers."""
    running = "d" * 32
    engine = connect(site.url)
    with session_scope(sessions(engine)) as session:
        repo.add_job(session, running, 1, "whatif", {"scenario_version": 1, "names": ["b"]})
        assert repo.claim_job(session, running)
        repo.job(session, running).progress = {
            "done": 1, "total": 28, "first answer (LP estimate), base": "LP estimate: "
            "rooms/chairs binds first (a room of each kind ~+77.3, one more patient at a time "
            "~+0.6, shared hands-on time ~+4.8)."}
    engine.dispose()
    return f"/whatif/{running}"
