"""Calendar feeds over HTTP, each test on SQLite and on PostgreSQL (../shared/FEEDS.md, 'Feed
delivery' and 'Feed security'): private links issued, rotated and revoked; conditional requests;
what calendars read (icalendar 7 and Mozilla's ical.js) at the published instants; a draft never
in a feed; a publish killed midway; rate limits; and no token in the logs of a real server."""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import select, text

from scheduler.api.app import create_app
from scheduler.api.routes.feeds import RateLimits
from scheduler.security import hash_password
from scheduler.service.feeds import regenerate as regenerate_feeds
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.storage.tables import AuditEntry, FeedToken, User
from scheduler.usecases import plan_week
from scheduler.validate import validate_scenario
from solver import Options
from tests.conftest import DEMO_CLOCK, DEMO_ENV
from tests.test_service import ROLES, Service, small_clinic

ROOT = Path(__file__).resolve().parents[1]
JS = Path(__file__).parent / "js"
PUBLIC = "https://calendar.example.org"


@functools.cache
def password_hash() -> str:
    return hash_password("correct horse battery")  # argon2 is slow on purpose: hash once


@contextmanager
def feeds_service(database_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Service]:
    """The service (no job runner) on the small clinic, one signed-in user per role, each
    linked to a staff id of the clinic (N1, D1, N1)."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, time_limit=2,
                        public_url=PUBLIC, **{"clock": DEMO_CLOCK, **overrides})
    app = create_app(settings, run_jobs=False)
    with TestClient(app) as client:
        tokens = {}
        with session_scope(app.state.sessions) as session:
            for role, staff_id in zip(ROLES, ("N1", "D1", None), strict=True):
                user = repo.add_user(session, f"{role}@example.org", password_hash(), role)
                if staff_id is not None:  # its membership of the clinic says who it is there
                    user.memberships[0].staff_id = staff_id
                tokens[role] = repo.issue_token(session, user, 30)[0]
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(small_clinic()))
        yield Service(client, tokens, database_url)


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    with feeds_service(database_url, tmp_path) as service:
        yield service


def publish_draft(service: Service, cancel: str | None = None) -> dict[str, Any]:
    """A solved draft (with appointment ``cancel`` cancelled), published through the API."""
    draft = service.draft()
    if cancel is not None:
        draft = service.call("POST", f"/schedules/{draft['id']}/appointments/{cancel}/cancel",
                             json={"version": draft["version"]}).json()
    published = service.call("POST", f"/schedules/{draft['id']}/publish",
                             json={"version": draft["version"]})
    assert published.status_code == 200, published.text
    body: dict[str, Any] = published.json()
    return body


def link(service: Service, path: str, role: str = "front_desk", action: str = "") -> str:
    """Issue (or ``/rotate``) a link; returns the feed's path."""
    response = service.call("POST", f"{path}/feed-link{action}", role)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["url"].startswith(f"{PUBLIC}/feeds/") and body["url"].endswith(".ics")
    assert body["webcal_url"] == "webcal://" + body["url"].removeprefix("https://")
    assert response.headers["Cache-Control"] == "no-store"
    return str(urlsplit(body["url"]).path)


def parse(body: bytes) -> Calendar:
    calendar = Calendar.from_ical(body)
    assert isinstance(calendar, Calendar)
    for component in calendar.walk():
        assert component.errors == [], (component.name, component.errors)
    return calendar


def instant(text_: str) -> datetime:
    return datetime.fromisoformat(text_.replace("Z", "+00:00")).astimezone(UTC)


# ----------------------------------------------------------------------------- links
def test_a_link_is_issued_rotated_and_revoked_and_then_404s(service: Service) -> None:
    publish_draft(service)
    never = service.client.get("/feeds/" + "x" * 32 + ".ics")
    assert never.status_code == 404
    first = link(service, "/clinics/1/patients/P01")
    assert service.client.get(first).status_code == 200
    assert service.call("POST", "/clinics/1/patients/P01/feed-link").status_code == 409
    status = service.call("GET", "/clinics/1/patients/P01/feed-link").json()
    assert set(status) == {"kind", "subject", "created_at"}  # the link is never shown again
    second = link(service, "/clinics/1/patients/P01", action="/rotate")
    assert service.client.get(second).status_code == 200
    rotated_away = service.client.get(first)
    assert service.call("DELETE", "/clinics/1/patients/P01/feed-link").status_code == 204
    revoked = service.client.get(second)
    for gone in (rotated_away, revoked):
        assert (gone.status_code, gone.content) == (never.status_code, never.content)
        assert {k: v for k, v in gone.headers.items() if k != "date"} == \
            {k: v for k, v in never.headers.items() if k != "date"}
    assert service.call("DELETE", "/clinics/1/patients/P01/feed-link").status_code == 404
    assert service.call("POST", "/clinics/1/patients/P01/feed-link/rotate").status_code == 404
    assert service.call("POST", "/clinics/1/patients/P99/feed-link").status_code == 404
    assert service.call("POST", "/clinics/9/patients/P01/feed-link").status_code == 404
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(FeedToken).order_by(FeedToken.id)).all()
        assert [(r.kind, r.subject, r.revoked_at is not None) for r in rows] == [
            ("patient", "P01", True), ("patient", "P01", True)]
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "feed_token").order_by(AuditEntry.id)).all()
        assert actions == ["issue", "rotate", "issue", "revoke"]
        stored = json.dumps([[r.token_hash for r in rows], [
            [a.before, a.after] for a in session.scalars(select(AuditEntry))]])
    for path in (first, second):  # only hashes are stored, and no token is in the audit log
        assert path.removeprefix("/feeds/").removesuffix(".ics") not in stored


def test_staff_rooms_and_the_clinic_get_links_by_role(service: Service) -> None:
    publish_draft(service)
    mine = link(service, "/clinics/1/staff/me", "front_desk")  # front desk is staff N1
    assert b"BEGIN:VEVENT" in service.client.get(mine).content
    assert service.call("POST", "/clinics/1/staff/me/feed-link", "admin").status_code == 409
    routes = [("/clinics/1/patients/P02", {"front_desk", "manager", "admin"}),
              ("/clinics/1/rooms/R1", {"manager", "admin"}),
              ("/clinics/1/feed-link", {"manager", "admin"})]
    for path, allowed in routes:
        target = path if path.endswith("feed-link") else f"{path}/feed-link"
        assert service.call("POST", target, None).status_code == 401
        for role in ROLES:
            code = service.call("POST", target, role).status_code
            assert code == (403 if role not in allowed else 201 if role == min(
                allowed, key=ROLES.index) else 409), (path, role, code)
            assert service.call("GET", target, role).status_code == (
                200 if role in allowed else 403)
            if role not in allowed:
                assert service.call("POST", f"{target}/rotate", role).status_code == 403
                assert service.call("DELETE", target, role).status_code == 403
    clinic = service.call("POST", "/clinics/1/feed-link/rotate", "manager").json()["url"]
    assert service.client.get(urlsplit(clinic).path).content.count(b"BEGIN:VEVENT") == 3


def test_admins_link_accounts_to_staff_ids(service: Service) -> None:
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        admin_id = session.scalar(select(User.id).where(User.email == "admin@example.org"))
    assert service.call("PUT", f"/users/{admin_id}/staff", "manager",
                        json={"staff_id": "N1"}).status_code == 403
    bad = service.call("PUT", f"/users/{admin_id}/staff", json={"staff_id": "N 1"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["path"] == "body.staff_id"
    assert service.call("PUT", "/users/999/staff", json={"staff_id": "N1"}).status_code == 404
    linked = service.call("PUT", f"/users/{admin_id}/staff", json={"staff_id": "D1"})
    assert linked.json()["staff_id"] == "D1"
    assert service.call("GET", "/users/me").json()["staff_id"] == "D1"
    publish_draft(service)
    assert link(service, "/clinics/1/staff/me", "admin")


# ----------------------------------------------------------------------------- delivery
def test_etag_if_none_match_and_last_modified(service: Service) -> None:
    publish_draft(service)
    feed = link(service, "/clinics/1/patients/P01")
    got = service.client.get(feed)
    assert got.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "content-disposition" not in got.headers
    assert got.headers["referrer-policy"] == "no-referrer"
    assert got.headers["x-robots-tag"].startswith("noindex")
    assert got.headers["cache-control"] == "private, no-cache"
    etag = got.headers["etag"]
    assert etag == f'"{hashlib.sha256(got.content).hexdigest()}"'
    modified = parsedate_to_datetime(got.headers["last-modified"])
    later = format_datetime(modified + timedelta(days=1), usegmt=True)
    earlier = format_datetime(modified - timedelta(days=1), usegmt=True)
    cases = [({"If-None-Match": etag}, 304), ({"If-None-Match": f'"other", W/{etag}'}, 304),
             ({"If-None-Match": "*"}, 304), ({"If-None-Match": '"other"'}, 200),
             ({"If-Modified-Since": later}, 304), ({"If-Modified-Since": earlier}, 200),
             ({"If-Modified-Since": "yesterday"}, 200),
             # If-None-Match wins over If-Modified-Since, either way round
             ({"If-None-Match": '"other"', "If-Modified-Since": later}, 200),
             ({"If-None-Match": etag, "If-Modified-Since": earlier}, 304)]
    for headers, code in cases:
        answer = service.client.get(feed, headers=headers)
        assert answer.status_code == code, headers
        if code == 304:
            assert answer.content == b""
            assert answer.headers["etag"] == etag
            assert answer.headers["cache-control"] == "private, no-cache"
    # the same version published again: the same bytes, ETag and date
    publish_draft(service)
    again = service.client.get(feed)
    assert (again.content, again.headers["etag"], again.headers["last-modified"]) == (
        got.content, etag, got.headers["last-modified"])


def test_a_new_version_changes_the_feed_and_continues_its_history(service: Service) -> None:
    first = publish_draft(service)
    ours = first["schedule"]["appointments"][0]
    feed = link(service, f"/clinics/1/patients/{ours['patient']}")
    before = service.client.get(feed)
    second = publish_draft(service, cancel=ours["id"])  # published without that appointment
    assert ours["id"] not in [a["id"] for a in second["schedule"]["appointments"]]
    after = service.client.get(feed)
    assert after.headers["etag"] != before.headers["etag"]
    assert parsedate_to_datetime(after.headers["last-modified"]) >= \
        parsedate_to_datetime(before.headers["last-modified"])
    assert service.client.get(feed, headers={"If-None-Match": before.headers["etag"]}
                              ).status_code == 200
    (old,) = parse(before.content).walk("VEVENT")
    (new,) = parse(after.content).walk("VEVENT")
    assert new["UID"] == old["UID"]
    assert (str(old["STATUS"]), int(str(old["SEQUENCE"]))) == ("CONFIRMED", 0)
    assert (str(new["STATUS"]), int(str(new["SEQUENCE"]))) == ("CANCELLED", 1)
    assert new.decoded("DTSTAMP") >= old.decoded("DTSTAMP")  # HTTP and iCalendar: seconds


def test_the_feed_reads_right_in_icalendar_and_ical_js_at_the_published_instants(
        service: Service, tmp_path: Path) -> None:
    published = publish_draft(service)
    feeds = {"patient": link(service, "/clinics/1/patients/P01"),
             "clinic": link(service, "/clinics/1", "manager")}
    for kind, path in feeds.items():
        body = service.client.get(path).content
        expected = {(instant(a["start"]), instant(a["end"]))
                    for a in published["schedule"]["appointments"]
                    if kind == "clinic" or a["patient"] == "P01"}
        assert expected
        events = parse(body).walk("VEVENT")
        assert {(e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC))
                for e in events} == expected
        file = tmp_path / f"{kind}.ics"
        file.write_bytes(body)
        node = shutil.which("node")
        assert node is not None, "node is installed by the test command"
        run = subprocess.run([node, str(JS / "read_feed.mjs"), str(file)], capture_output=True,
                             text=True, check=True, env={**os.environ, "TZ": "Pacific/Auckland"})
        js = json.loads(run.stdout)[str(file)]
        assert js["method"] is None and js["prodid"] == "-//Chairtime//Chairtime feeds 1.0//EN"
        assert {(instant(e["start"]), instant(e["end"])) for e in js["events"]} == expected
        assert {e["tzid"] for e in js["events"]} == {"America/New_York"}


def test_a_draft_never_reaches_a_feed(service: Service) -> None:
    published = publish_draft(service)
    feed = link(service, "/clinics/1", "manager")
    before = service.client.get(feed).content
    draft = service.draft()
    first = draft["schedule"]["appointments"][0]["id"]
    cancelled = service.call("POST", f"/schedules/{draft['id']}/appointments/{first}/cancel",
                             json={"version": draft["version"]})
    assert cancelled.status_code == 200
    assert service.client.get(feed).content == before
    assert published["id"] != draft["id"]


def _publish_and_hang(url: str, schedule_id: int, version: int, ready: Any) -> None:
    """Publish inside a transaction, feeds included, flush it, tell the parent, wait to die."""
    factory = sessions(connect(url))
    with session_scope(factory) as session:
        row = repo.publish(session, repo.schedule_row(session, schedule_id), version)
        regenerate_feeds(session, row.clinic_id, datetime.now(UTC))
        session.flush()
        ready.set()
        time.sleep(60)


def test_a_publish_killed_midway_leaves_the_feed_byte_identical(service: Service) -> None:
    first = publish_draft(service)
    ours = first["schedule"]["appointments"][0]
    feed = link(service, f"/clinics/1/patients/{ours['patient']}")
    before = service.client.get(feed)
    draft = service.draft()
    draft = service.call("POST", f"/schedules/{draft['id']}/appointments/{ours['id']}/cancel",
                         json={"version": draft["version"]}).json()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_publish_and_hang,
                              args=(service.url, draft["id"], draft["version"], ready))
    process.start()
    assert ready.wait(timeout=60)
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=10)
    after = service.client.get(feed)
    assert after.content == before.content
    assert after.headers["etag"] == before.headers["etag"]
    assert after.headers["last-modified"] == before.headers["last-modified"]
    assert service.call("GET", f"/schedules/{draft['id']}").json()["status"] == "draft"


def test_too_many_requests_get_429_and_service_again_after_retry_after(
        database_url: str, tmp_path: Path) -> None:
    with feeds_service(database_url, tmp_path, feed_token_limit=3, feed_address_limit=8,
                       feed_limit_seconds=2) as service:
        publish_draft(service)
        feed = link(service, "/clinics/1/patients/P01")
        # a clock that moves only when told: the buckets refill at 4 requests a second, so on a
        # slow machine the real clock would hand out tokens between the requests below
        now = [1000.0]
        app: Any = service.client.app
        app.state.feed_limits = RateLimits(2, clock=lambda: now[0])
        codes = [service.client.get(feed).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = service.client.get(feed)
        assert limited.status_code == 429
        assert limited.headers["referrer-policy"] == "no-referrer"
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 2
        now[0] += wait - 0.5
        assert service.client.get(feed).status_code == 429
        now[0] += 0.5
        assert service.client.get(feed).status_code == 200
        # the address's own limit: unknown tokens count too (no guessing at full speed);
        # it refilled to 8 in the wait (4 a second), and the feed took one of them
        unknown = [service.client.get(f"/feeds/{i:032d}.ics").status_code for i in range(8)]
        assert unknown == [404] * 7 + [429]


def test_robots_txt_keeps_crawlers_out_and_openapi_declares_the_feeds_answers(
        service: Service) -> None:
    robots = service.client.get("/robots.txt")
    assert robots.headers["content-type"].startswith("text/plain")
    assert "Disallow: /feeds/" in robots.text.splitlines()
    operation = service.client.get("/openapi.json").json()["paths"]["/feeds/{token}.ics"]["get"]
    responses = operation["responses"]
    assert set(responses["200"]["content"]) == {"text/calendar"}
    assert {"304", "404", "429"} <= set(responses)
    assert "Retry-After" in responses["429"]["headers"]


# ----------------------------------------------------------------------------- a real server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str) -> None:
    """The small clinic published (feeds rendered), as the service would find it."""
    engine = connect(url)
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        scenario = validate_scenario(small_clinic())
        clinic = repo.add_clinic(session, "small", scenario)
        repo.add_user(session, "admin@example.org", password_hash(), "admin")
        planned = plan_week(scenario, Options(time_limit=2, workers=1, soft_goals=False))
        row = repo.add_schedule(session, clinic.id, repo.scenario_version(session, clinic.id),
                                planned.schedule)
        repo.publish(session, row, row.row_version)
        regenerate_feeds(session, clinic.id, datetime.now(UTC))
    engine.dispose()


def issue(url: str, subject: str) -> str:
    engine = connect(url)
    with session_scope(sessions(engine)) as session:
        token, _ = repo.issue_feed_token(session, 1, "patient", subject)
    engine.dispose()
    return token


@contextmanager
def server(url: str, folder: Path, env: dict[str, str] | None = None,
           launcher: list[str] | None = None, wait: bool = True, args: Sequence[str] = ()
           ) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``chairtime serve [args]`` in a process of its own (uvicorn, the CLI's logging), its
    standard output and error in a file. Its clock is the tests' fixed one
    (``CHAIRTIME_CLOCK``: :data:`tests.conftest.DEMO_CLOCK`) unless ``env`` says otherwise or a
    ``launcher`` brings its own (one that travels in time: the settings' clock left unset)."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    command = [*(launcher or [sys.executable, "-m", "scheduler"]), "serve", "--port", str(port),
               *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={
            **os.environ, "CHAIRTIME_DATABASE_URL": url, "CHAIRTIME_DATA_DIR": str(folder),
            "CHAIRTIME_TIME_LIMIT": "2", "CHAIRTIME_WORKERS": "1",
            **({} if launcher else DEMO_ENV), **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        if wait:
            ready(base, process)
        yield base, process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ready(base: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server stopped"
        try:
            if httpx.get(f"{base}/robots.txt", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{base} did not answer in {seconds} s")


@pytest.mark.slow
def test_tokens_never_reach_the_logs_of_a_real_server(database_url: str, tmp_path: Path
                                                      ) -> None:
    prepare(database_url)
    live, revoked = issue(database_url, "P01"), issue(database_url, "P02")
    engine = connect(database_url)
    with session_scope(sessions(engine)) as session:
        repo.revoke_feed_token(session, 1, "patient", "P02")
    never = "N" * 32
    limits = {"CHAIRTIME_FEED_TOKEN_LIMIT": "3", "CHAIRTIME_FEED_LIMIT_SECONDS": "3"}
    with server(database_url, tmp_path, limits) as (base, _, log):
        got = httpx.get(f"{base}/feeds/{live}.ics?from=calendar")
        assert got.status_code == 200
        assert httpx.get(f"{base}/feeds/{live}.ics", headers={
            "If-None-Match": got.headers["etag"]}).status_code == 304
        assert httpx.get(f"{base}/feeds/{revoked}.ics").status_code == 404
        assert httpx.get(f"{base}/feeds/{never}.ics").status_code == 404
        codes = [httpx.get(f"{base}/feeds/{live}.ics").status_code for _ in range(3)]
        assert codes[-1] == 429
        with engine.begin() as connection:  # the next feed request fails inside the app
            connection.execute(text("DROP TABLE feed_bodies"))
        time.sleep(1.5)  # the token's bucket refills
        assert httpx.get(f"{base}/feeds/{live}.ics").status_code == 500
        time.sleep(0.5)  # uvicorn writes its lines after answering
    engine.dispose()
    logged = log.read_text(encoding="utf-8", errors="replace")
    for token in (live, revoked, never):
        assert token not in logged
    for code in (200, 304, 404, 429, 500):
        assert f'"GET /feeds/[token] HTTP/1.1" {code}' in logged, (code, logged[-3000:])
    assert "internal error answering GET /feeds/[token]" in logged
    assert "Traceback" in logged  # the error itself is logged, just not the token

