"""The clinic turns each self-service action off (issue 24), each test on SQLite and on
PostgreSQL: a switch saved on the clinic page holds at once on the patient's page, which then
neither offers the action nor accepts it when sent anyway (403 with the reason; the live
schedule untouched); the clinic's late-cancellation hours take the service's place; the
service's CHAIRTIME_SELF_SERVICE stays the ceiling; contract-v1 files without the block stay
valid. The desk makes a self-service link to give by hand, shown once. In Chromium: a manager
unticks "move" and the patient's page at 360 px no longer offers it, and the desk's Copy
buttons put exactly the link shown on the clipboard, a link that works; axe-core on both
pages."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from scheduler.model import Scenario
from scheduler.service import selfservice
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.storage.tables import AuditEntry
from scheduler.usecases import Options, plan_week
from scheduler.validate import validate_scenario
from tests.conftest import CHROMIUM, TINY, fresh_database, needs, password_hash
from tests.test_feeds_http import PUBLIC, feeds_service, server
from tests.test_outbox import first_of, live, publish, with_contacts
from tests.test_pages import AXE, PASSWORD, USERS, Site, _context, axe, sign_in, violations
from tests.test_pages_desk import csrf
from tests.test_pages_desk import sign_in as sign_in_client
from tests.test_service import Service

pytestmark = [pytest.mark.slow, pytest.mark.solve]

MOVE = "Another time"
CANCEL = "Cancel this appointment"
COME = "I will come"


# ----------------------------------------------------------------------------- in process
@pytest.fixture(scope="module")
def shared(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service per database (the pages' clock: the Friday before the small clinic's
    week, Mon 7 - Tue 8 Dec; the service's late window: 24 h) on the small clinic with
    patients' addresses."""
    folder = tmp_path_factory.mktemp("switches")
    with fresh_database(database_kind, folder) as url, feeds_service(url, folder) as service:
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(with_contacts()))
        yield service


@pytest.fixture
def app(shared: Service) -> Service:
    """The service with every switch back on (the module's earlier tests turned some off)."""
    shared.client.cookies.clear()
    set_switches(shared, None)
    shared.client.cookies.clear()
    return shared


def set_switches(app: Service, block: dict[str, Any] | None) -> None:
    """The clinic's ``self_service`` block replaced through the API (None: left out)."""
    current = app.call("GET", "/clinics/1/scenario").json()
    data = current["scenario"]
    data["clinic"].pop("self_service", None)
    if block is not None:
        data["clinic"]["self_service"] = block
    answer = app.call("PUT", "/clinics/1/scenario",
                      json={"scenario": data, "version": current["version"]})
    assert answer.status_code == 200, answer.text


def own_link(app: Service, patient: str) -> str:
    """A new self-service link made on the desk's patient page: its path."""
    sign_in_client(app.client, "front_desk")
    page = app.client.get(f"/patients/{patient}")
    made = app.client.post(f"/patients/{patient}/self-link", data={"csrf": csrf(page.text)})
    assert made.status_code == 201, made.text
    assert made.headers["Cache-Control"] == "no-store"
    found = re.search(r'id="own-url" class="copy" readonly value="([^"]+)"', made.text)
    assert found is not None, made.text
    app.client.cookies.clear()
    assert found.group(1).startswith(f"{PUBLIC}/me/")
    return found.group(1).removeprefix(PUBLIC)


def test_reschedule_off_offers_no_move_and_a_forged_move_changes_nothing(app: Service) -> None:
    v1 = publish(app)
    mine = first_of(v1, "P01")
    own = own_link(app, "P01")
    before = app.client.get(own)
    assert before.status_code == 200
    assert MOVE in before.text and CANCEL in before.text  # on: offered
    offer = app.client.get(f"{own}/move/{mine['id']}")
    start = re.findall(r'name="start" value="([^"]+)"', offer.text)
    assert 'name="room"' not in offer.text and ">R1<" not in offer.text  # no room ids
    assert offer.status_code == 200 and start, offer.text

    set_switches(app, {"reschedule": False})
    shown = app.client.get(own)
    assert shown.status_code == 200
    assert MOVE not in shown.text and f"/move/{mine['id']}" not in shown.text
    assert CANCEL in shown.text and COME in shown.text  # the others stay
    number = live(app)["number"]
    forged = app.client.post(f"{own}/move/{mine['id']}",
                             data={"start": start[0]}, follow_redirects=False)
    assert forged.status_code == 403, forged.text
    assert "the clinic does not move appointments through this page" in forged.text
    assert "please call the clinic" in forged.text
    asked = app.client.get(f"{own}/move/{mine['id']}")
    assert asked.status_code == 403 and "does not move appointments" in asked.text
    after = live(app)
    assert after["number"] == number  # no new published version
    assert first_of(after, "P01") == mine  # the session where it was


def test_cancel_off_offers_no_cancel_and_a_forged_cancel_changes_nothing(app: Service) -> None:
    v1 = publish(app)
    mine = first_of(v1, "P02")
    own = own_link(app, "P02")
    set_switches(app, {"cancel": False, "confirm": False})
    shown = app.client.get(own)
    assert CANCEL not in shown.text and COME not in shown.text and MOVE in shown.text
    number = live(app)["number"]
    forged = app.client.post(f"{own}/cancel", data={"ref": mine["id"]}, follow_redirects=False)
    assert forged.status_code == 403
    assert "Not done: the clinic does not take cancellations through this page" in forged.text
    refused = app.client.post(f"{own}/confirm", data={"ref": mine["id"]},
                              follow_redirects=False)
    assert refused.status_code == 403 and "does not take confirmations" in refused.text
    after = live(app)
    assert after["number"] == number and first_of(after, "P02") == mine
    # nothing off: all three come back, and a cancellation goes through
    set_switches(app, None)
    shown = app.client.get(own)
    assert CANCEL in shown.text and COME in shown.text
    done = app.client.post(f"{own}/cancel", data={"ref": mine["id"]})
    assert done.status_code == 200 and "is cancelled" in done.text
    assert mine["id"] not in {a["id"] for a in live(app)["schedule"]["appointments"]}


def test_cancel_asks_first_and_only_yes_cancels(app: Service) -> None:
    """The list's Cancel is a link to "Cancel this appointment?" (a GET that changes
    nothing), which names the session in the clinic's time and holds the one form that
    cancels; it refuses as the cancellation would (a link that is not one, another patient's
    session, cancelling turned off, too late) and a POST straight to the action still goes
    through only with the same checks."""
    v1 = publish(app)
    mine, theirs = first_of(v1, "P01"), first_of(v1, "P02")
    own = own_link(app, "P01")
    shown = app.client.get(own)
    ask = f"{own}/cancel/{mine['id']}"
    assert f'<a class="button danger" href="{ask}">{CANCEL}</a>' in shown.text
    assert f'action="{own}/cancel"' not in shown.text  # no one-tap cancel on the list
    number = live(app)["number"]
    asked = app.client.get(ask)
    assert asked.status_code == 200, asked.text
    assert asked.headers["Referrer-Policy"] == "no-referrer"
    local = datetime.fromisoformat(mine["start"]).astimezone(ZoneInfo("America/New_York"))
    assert "<h1>Cancel this appointment?</h1>" in asked.text
    assert f"{local:%A} {local.day} {local:%B}, {local:%H:%M}" in asked.text
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', asked.text,
                     re.S)
    assert form is not None and form.group(1) == f"{own}/cancel"
    assert f'name="ref" value="{mine["id"]}"' in form.group(2)
    assert '<button type="submit" class="danger">Yes, cancel it</button>' in form.group(2)
    assert f'<a class="button" href="{own}">Keep it</a>' in form.group(2)
    assert live(app)["number"] == number  # asking changed nothing
    # the same refusals as the cancellation itself
    never = app.client.get("/me/" + "x" * 43)
    for bad in ("x" * 43, own.removeprefix("/me/")[:-1] + "!"):
        answer = app.client.get(f"/me/{bad}/cancel/{mine['id']}")
        assert (answer.status_code, answer.text) == (404, never.text)
    other = app.client.get(f"{own}/cancel/{theirs['id']}")
    assert other.status_code == 404 and theirs["id"] not in other.text
    assert "not on your list" in other.text
    set_switches(app, {"cancel": False})
    off = app.client.get(ask)
    assert off.status_code == 403 and "does not take cancellations" in off.text
    assert "Yes, cancel it" not in off.text
    set_switches(app, {"late_cancel_hours": 200})
    late = app.client.get(ask)
    assert late.status_code == 409 and "please call the clinic" in late.text
    assert "Yes, cancel it" not in late.text
    assert live(app)["number"] == number and first_of(live(app), "P01") == mine
    # the one POST that cancels: the form's own
    set_switches(app, None)
    done = app.client.post(form.group(1), data={"ref": mine["id"]}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{own}?done=cancelled"
    assert mine["id"] not in {a["id"] for a in live(app)["schedule"]["appointments"]}
    gone = app.client.get(ask)  # back to the question after it: not on the list any more
    assert gone.status_code == 404 and "not on your list" in gone.text


def test_the_clinics_late_window_takes_the_services_place(app: Service) -> None:
    """The pages' clock: Fri 4 Dec 12:00 UTC; the sessions: Mon 7 - Tue 8 Dec, 3 to 5 days
    ahead. The service's 24 h let them be changed; the clinic's 200 h do not."""
    v1 = publish(app)
    mine = first_of(v1, "P03")
    own = own_link(app, "P03")
    assert CANCEL in app.client.get(own).text
    set_switches(app, {"late_cancel_hours": 200})
    shown = app.client.get(own)
    assert CANCEL not in shown.text and MOVE not in shown.text
    assert "To cancel or move it now, please call the clinic." in shown.text
    number = live(app)["number"]
    late = app.client.post(f"{own}/cancel", data={"ref": mine["id"]})
    assert late.status_code == 409 and "please call the clinic" in late.text
    assert app.client.get(f"{own}/move/{mine['id']}").status_code == 409
    assert live(app)["number"] == number
    # and the other way: a service that says 200 h, a clinic that says 1 h
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert selfservice.policy(session, 1, Settings()).late.total_seconds() == 200 * 3600
        set_switches(app, {"late_cancel_hours": 1})
        strict = Settings(late_cancel_hours=200)
        assert selfservice.policy(session, 1, strict).late.total_seconds() == 3600
        mine_now = selfservice.visits(session, 1, "P03", strict, Settings(
            clock=app.client.app.state.settings.clock).now())  # type: ignore[attr-defined]
        assert [v.changeable for v in mine_now.visits] == [True] * len(mine_now.visits) != []


def test_the_service_setting_is_the_ceiling(app: Service) -> None:
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        every = selfservice.policy(session, 1, Settings())
        assert every.allowed == {"confirm", "cancel", "reschedule"}
        assert every.late.total_seconds() == 24 * 3600
        assert selfservice.policy(session, 1, Settings(self_service="confirm")).allowed == {
            "confirm"}
        assert selfservice.policy(session, 1, Settings(self_service="")).allowed == set()
    set_switches(app, {"confirm": False, "reschedule": False})
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        ceiling = Settings(self_service="confirm,reschedule")
        assert selfservice.policy(session, 1, ceiling).allowed == set()  # both must allow
        assert selfservice.policy(session, 1, Settings()).allowed == {"cancel"}
        assert selfservice.offered(session, 1, Settings()) == "cancel"


def test_the_clinic_page_saves_the_switches_as_one_audited_version(app: Service) -> None:
    sign_in_client(app.client, "manager")
    page = app.client.get("/clinic")
    assert page.status_code == 200
    for key in ("confirm", "cancel", "reschedule"):
        assert re.search(rf'name="self_service.{key}" value="on" checked', page.text)
    form = {"csrf": csrf(page.text), "version": re.findall(r'name="version" value="(\d+)"',
                                                           page.text)[0],
            "name": "Riverside Ketamine Clinic", "timezone": "America/New_York",
            "hours.mon": "08:00-18:00", "hours.tue": "08:00-18:00",
            "address": "200 Riverside Drive", "arrival_instructions": "Come early.",
            "self_service.confirm": "on", "self_service.cancel": "on",
            "self_service.late_cancel_hours": "12.5"}
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        audited = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "change", AuditEntry.entity == "scenario")) or 0
    saved = app.client.post("/clinic", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    clinic = app.call("GET", "/clinics/1/scenario").json()["scenario"]["clinic"]
    assert clinic["self_service"] == {"reschedule": False, "late_cancel_hours": 12.5}
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "change", AuditEntry.entity == "scenario")) == audited + 1
        assert selfservice.policy(session, 1, Settings()).allowed == {"confirm", "cancel"}
    again = app.client.get("/clinic")
    assert re.search(r'name="self_service.reschedule" value="on" >', again.text)
    assert 'value="12.5"' in again.text
    # the versions page says what changed, in words
    latest = app.call("GET", "/clinics/1/scenario").json()["version"]
    versions = app.client.get(f"/versions?new={latest}")
    assert versions.status_code == 200
    assert "Patients can no longer move a session through their own link" in versions.text
    # a wrong number of hours: the form again, the message beside the field
    for text, said in (("soon", "'soon' is not a number of hours"),
                       ("-3", "greater than or equal to 0"), ("nan", "is not a number")):
        form = {**form, "version": re.findall(r'name="version" value="(\d+)"', again.text)[0],
                "self_service.late_cancel_hours": text}
        refused = app.client.post("/clinic", data=form)
        assert refused.status_code == 422, (text, refused.text[:300])
        assert 'id="f-self_service.late_cancel_hours"' in refused.text
        message = re.search(r'<span class="message" id="e-self_service.late_cancel_hours-1">'
                            r'([^<]+)</span>', refused.text)
        assert message is not None and said in html.unescape(message.group(1)), text
    # all back on and no hours: the block leaves the clinic's data
    form = {**form, "version": re.findall(r'name="version" value="(\d+)"',
                                          app.client.get("/clinic").text)[0],
            "self_service.reschedule": "on", "self_service.late_cancel_hours": ""}
    assert app.client.post("/clinic", data=form, follow_redirects=False).status_code == 303
    clinic = app.call("GET", "/clinics/1/scenario").json()["scenario"]["clinic"]
    assert "self_service" not in clinic


def test_the_api_carries_the_block_and_names_a_wrong_field(app: Service) -> None:
    set_switches(app, {"cancel": False, "late_cancel_hours": 6})
    got = app.call("GET", "/clinics/1/scenario").json()
    assert got["scenario"]["clinic"]["self_service"] == {"cancel": False,
                                                         "late_cancel_hours": 6}
    data = got["scenario"]
    data["clinic"]["self_service"] = {"cancel": "no", "late_cancel_hours": 9999}
    refused = app.call("PUT", "/clinics/1/scenario",
                       json={"scenario": data, "version": got["version"]})
    assert refused.status_code == 422
    assert "clinic.self_service.late_cancel_hours" in refused.text
    assert "clinic.self_service.cancel" in refused.text


def test_a_contract_v1_file_without_the_block_keeps_every_default() -> None:
    scenario = validate_scenario(yaml.safe_load(TINY.read_text(encoding="utf-8")))
    assert isinstance(scenario, Scenario)
    assert (scenario.clinic.self_service.confirm, scenario.clinic.self_service.cancel,
            scenario.clinic.self_service.reschedule) == (True, True, True)
    assert scenario.clinic.self_service.late_cancel_hours is None
    dumped = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert "self_service" not in dumped["clinic"]  # a file written back stays contract v1


def test_the_desk_makes_a_link_shown_once_and_a_new_one_stops_the_old(app: Service) -> None:
    publish(app)
    first = own_link(app, "P01")
    assert app.client.get(first).status_code == 200
    sign_in_client(app.client, "front_desk")
    page = app.client.get("/patients/P01")
    assert first.removeprefix("/me/") not in page.text  # shown once: only its fingerprint
    assert "A self-service link is in force since" in page.text
    app.client.cookies.clear()
    second = own_link(app, "P01")
    assert second != first
    assert app.client.get(second).status_code == 200
    assert app.client.get(first).status_code == 404


# ----------------------------------------------------------------------------- in Chromium
@pytest.fixture(scope="module")
def site(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``chairtime serve`` on a fresh database (its clock: the Friday before the small
    clinic's week) with the week solved and published."""
    needs(CHROMIUM, "apt-get install -y chromium")
    needs(AXE, "npm ci --prefix tests/js")
    folder = tmp_path_factory.mktemp("switches-browser")
    with fresh_database(database_kind, folder) as url:
        engine = connect(url)
        upgrade(engine)
        with session_scope(sessions(engine)) as session:
            clinic = repo.add_clinic(session, "small", with_contacts())
            for role, email in USERS.items():
                repo.add_user(session, email, password_hash(PASSWORD), role)
            version = repo.scenario_version(session, clinic.id)
            planned = plan_week(validate_scenario(with_contacts()),
                                Options(time_limit=1, workers=1, soft_goals=False))
            row = repo.add_schedule(session, clinic.id, version, planned.schedule)
            repo.publish(session, row, row.row_version)
        engine.dispose()
        with server(url, folder, {"CHAIRTIME_SCHEDULER": "false"}) as (base, _, log):
            yield Site(base, log, url=url)


def _copy(page: Any, field: str, button: str, said: str) -> str:
    """Click Copy beside ``field``: what the clipboard then holds (the page said Copied in
    live region ``said``)."""
    shown = page.locator(f"#{field}").input_value()
    copy = page.get_by_role("button", name=button)
    what = copy.get_attribute("data-what")
    copy.click()
    status = page.locator(f"#{said}")
    page.wait_for_function("([id, what]) => document.getElementById(id).textContent"
                           ".includes(what)", arg=[said, what])
    assert status.inner_text() == f"Copied {what}.", status.inner_text()
    assert status.get_attribute("aria-live") == "polite"
    copied: str = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown
    return copied


def test_the_desk_copies_each_link_and_each_works(browser: Any, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=site.base,
                                  permissions=["clipboard-read", "clipboard-write"])
    context.set_default_timeout(90_000)
    page = context.new_page()
    sign_in(page, "front_desk")
    page.goto("/patients/P01")
    page.get_by_role("button", name="Make a calendar link").click()
    feed = _copy(page, "feed-url", "Copy the web address", "feed-copied")
    webcal = _copy(page, "feed-webcal", "Copy the calendar app address",
                   "feed-copied")
    assert webcal == "webcal://" + feed.split("://", 1)[1]
    answer = httpx.get(feed)
    assert answer.status_code == 200 and answer.text.startswith("BEGIN:VCALENDAR")
    assert answer.headers["content-type"].startswith("text/calendar")
    page.get_by_role("button", name="Make a self-service link").click()
    own = _copy(page, "own-url", "Copy their page's address", "own-copied")
    assert own.startswith(f"{site.base}/me/")
    mine = httpx.get(own)
    assert mine.status_code == 200 and "Your appointments at Riverside Clinic" in mine.text
    context.close()
    # without a clipboard (no script, or no permission) the buttons stay hidden, the link
    # stays selectable text
    bare = browser.new_context(base_url=site.base, java_script_enabled=False)
    plain = bare.new_page()
    sign_in_no_js(plain)
    plain.goto("/patients/P02")
    plain.get_by_role("button", name="Make a self-service link").click()
    assert plain.locator("#own-url").input_value().startswith(f"{site.base}/me/")
    assert not plain.locator("button[data-copy]").first.is_visible()
    bare.close()


def sign_in_no_js(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(USERS["front_desk"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/board"))


def test_a_manager_turns_moving_off_and_the_phone_page_stops_offering_it(
        browser: Any, site: Site, database_kind: str) -> None:
    engine = connect(site.url)
    with session_scope(sessions(engine)) as session:
        token = selfservice.issue_link(session, 1, "P03", None)
    engine.dispose()
    phone = browser.new_context(viewport={"width": 360, "height": 740}, base_url=site.base,
                                bypass_csp=True)  # axe-core injected at the end
    phone.set_default_timeout(90_000)
    patient = phone.new_page()
    patient.goto(f"/me/{token}")
    assert patient.get_by_role("link", name=MOVE).count() >= 1
    move_path = patient.get_by_role("link", name=MOVE).first.get_attribute("href")
    assert move_path is not None
    offer = patient.context.request.get(move_path)
    start = re.findall(r'name="start" value="([^"]+)"', offer.text())
    assert offer.status == 200 and start

    context = _context(browser, site, width=820, height=1000)
    manager = context.new_page()
    sign_in(manager, "manager")
    manager.goto("/clinic")
    box = manager.get_by_label("Move a session to another free time")
    assert box.is_checked()
    box.uncheck()
    manager.get_by_role("button", name="Save").first.click()
    manager.wait_for_url(re.compile(r"/clinic\?saved=1$"))
    assert not manager.get_by_label("Move a session to another free time").is_checked()
    assert manager.get_by_label("Cancel a session").is_checked()
    context.close()

    patient.reload()
    assert patient.get_by_role("link", name=MOVE).count() == 0
    assert patient.get_by_role("link", name=CANCEL).count() >= 1
    assert patient.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    signed = httpx.post(f"{site.base}/api/v1/auth/token", data={
        "username": USERS["front_desk"], "password": PASSWORD}).json()["access_token"]
    before = httpx.get(f"{site.base}/api/v1/clinics/1/schedules/published",
                       headers={"Authorization": f"Bearer {signed}"}).json()
    forged = httpx.post(f"{site.base}{move_path}", data={"start": start[0], "room": "R2"})
    assert forged.status_code == 403 and "does not move appointments" in forged.text
    after = httpx.get(f"{site.base}/api/v1/clinics/1/schedules/published",
                      headers={"Authorization": f"Bearer {signed}"}).json()
    assert (after["number"], after["schedule"]["appointments"]) == (
        before["number"], before["schedule"]["appointments"])
    if database_kind == "sqlite":  # the markup is the same on both databases
        assert violations(patient) == []
    phone.close()
    if database_kind != "sqlite":
        return
    assert axe(browser, site, "manager", ["/clinic"]) == {}
    assert axe(browser, site, "front_desk", ["/clinic"]) == {}
    checker = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site.base,
                                  bypass_csp=True)
    checker.set_default_timeout(90_000)
    desk = checker.new_page()
    sign_in(desk, "front_desk")
    desk.goto("/patients/P02")
    desk.get_by_role("button", name="Make a calendar link").click()
    assert violations(desk) == []  # the calendar link shown, its Copy buttons
    desk.get_by_role("button", name=re.compile(r"^Make a (new )?self-service link$")).click()
    assert violations(desk) == []  # the self-service link shown, its Copy button
    checker.close()

