"""The outbox against a real SMTP server (aiosmtpd, started here), each test on SQLite and on
PostgreSQL: change notices held and coalesced (a move and its undo send nothing, two moves one
notice with the final time, a cancellation says so, staff hear of their day), reminders once
each under a frozen clock and not again after a restart, retries with back-off and failures
shown to the desk, no drug name in any message, and a sender killed with SIGKILL between its
claim and the send: the message goes exactly once after the restart."""

from __future__ import annotations

import email
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy import delete, select

from scheduler.documents import Schedule
from scheduler.jobs import run_outbox
from scheduler.mail import SmtpSender, message_id
from scheduler.service import outbox, selfservice
from scheduler.service.throttle import RateLimits
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import Clinic, MailOptOut, OutboxMessage
from scheduler.validate import load_scenario, validate_scenario
from tests.conftest import DEMO, fresh_database
from tests.test_feeds_http import PUBLIC, feeds_service
from tests.test_pages_desk import csrf, sign_in
from tests.test_service import Service, small_clinic

ROOT = Path(__file__).resolve().parents[1]
BEFORE_THE_WEEK = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
"""Thursday before the small clinic's week (Mon 7 – Tue 8 Dec): no reminder is due yet."""
FREE = "2026-12-08T15:00:00-05:00"
"""Tuesday 15:00: room R2 is free then in every solve of the small clinic (tests.test_live)."""
ALSO_FREE = "2026-12-08T15:15:00-05:00"
"""A quarter of an hour later: the same stretch of R2, still free."""
log = logging.getLogger(__name__)
DRUGS = ("esketamine", "ketamine", "spravato", "esk", "84 mg", "mg", "dose", "depress")


# ----------------------------------------------------------------------------- the server
class Inbox:
    """What the SMTP server took; ``refuse`` answers the next messages with a code instead."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any,  # noqa: N802 (aiosmtpd's)
                          envelope: Any) -> str:
        with self.lock:
            if self.refuse:
                return self.refuse.pop(0)
            message = email.message_from_bytes(envelope.content, policy=default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 OK"

    def take(self) -> list[EmailMessage]:
        with self.lock:
            taken, self.messages = self.messages, []
        return taken


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def mail(smtp: tuple[Inbox, int]) -> Inbox:
    inbox, _ = smtp
    inbox.take()
    inbox.refuse.clear()
    return inbox


def with_contacts() -> dict[str, Any]:
    """The small clinic with an example.org address for every patient, and named people."""
    data = small_clinic()
    data["clinic"]["name"] = "Riverside Ketamine Clinic"  # a name that names a drug …
    data["feeds"] = {"name": "Riverside Clinic"}  # … and the neutral one patients see
    data["clinic"]["address"] = "200 Riverside Drive"
    data["clinic"]["arrival_instructions"] = "Please come 10 minutes early."
    for p in data["patients"]:
        p["contact"] = {"email": f"{p['id'].lower()}@example.org", "phone": "555-0100"}
        p["name"] = {"P01": "Ada Byron", "P02": "Ben Okafor", "P03": "Cy Young"}[p["id"]]
    data["staff"][0]["name"] = "Nora Nurse"
    return data


@pytest.fixture(scope="module")
def shared(database_kind: str, tmp_path_factory: pytest.TempPathFactory,
           smtp: tuple[Inbox, int]) -> Iterator[tuple[Service, Settings]]:
    """One service per database for the module (each test starts from an empty outbox and
    publishes a fresh solve)."""
    _, port = smtp
    folder = tmp_path_factory.mktemp("outbox")
    with fresh_database(database_kind, folder) as url, \
            feeds_service(url, folder, clock=None) as service:  # time travels here
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(with_contacts()))
        settings = Settings(data_dir=folder, database_url=url, public_url=PUBLIC,
                            smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
                            mail_from="desk@riverside.example.org", outbox_retry_seconds=60)
        yield service, settings


@pytest.fixture
def service(shared: tuple[Service, Settings]) -> tuple[Service, Settings]:
    app, _ = shared
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        session.execute(delete(OutboxMessage))
        session.execute(delete(MailOptOut))
    app.client.cookies.clear()
    return shared


def publish(service: Service) -> dict[str, Any]:
    """A fresh solve published, as the week starts: with an empty outbox (the module's earlier
    tests left the live schedule changed; publishing over it held notices of its own)."""
    draft = service.draft()
    answer = service.call("POST", f"/schedules/{draft['id']}/publish",
                          json={"version": draft["version"]})
    assert answer.status_code == 200, answer.text
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        session.execute(delete(OutboxMessage))
    body: dict[str, Any] = service.call("GET", "/clinics/1/schedules/published").json()
    return body


def live(service: Service) -> dict[str, Any]:
    body: dict[str, Any] = service.call("GET", "/clinics/1/schedules/published").json()
    return body


def move(service: Service, ref: str, start: str) -> None:
    number = live(service)["number"]
    answer = service.call("POST", f"/clinics/1/appointments/{ref}/move",
                          json={"number": number, "start": start, "room": "R2"})
    assert answer.status_code == 200, answer.text


def first_of(published: dict[str, Any], patient: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in published["schedule"]["appointments"]
                                 if a["patient"] == patient)
    return found


def rows(service: Service) -> list[OutboxMessage]:
    with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        found = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def no_drug_named(message: EmailMessage) -> None:
    words = " ".join([str(message["Subject"]), text_of(message), html_of(message)]).lower()
    words = re.sub(r"https?://\S+", "", words)  # a link's random token may spell anything
    for drug in DRUGS:
        assert drug not in words, (drug, words)


# ----------------------------------------------------------------------------- notices
def test_a_move_sends_one_notice_after_the_hold_and_a_move_undone_within_it_none(
        service: tuple[Service, Settings], mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        assert run_outbox(app.url, settings) is not None and mail.take() == []  # nothing moved
        p01 = first_of(v1, "P01")
        move(app, p01["id"], FREE)
        assert [r.status for r in rows(app)] == ["held", "held"]  # the patient, the nurse
        clock.shift(timedelta(minutes=2))
        run_outbox(app.url, settings)
        assert mail.take() == []  # still held
        clock.shift(timedelta(minutes=1, seconds=1))
        done = run_outbox(app.url, settings)
        assert done is not None and done.sent == 2
        sent = {str(m["To"]): m for m in mail.take()}
        assert set(sent) == {"p01@example.org", "front_desk@example.org"}  # N1's account
        notice = sent["p01@example.org"]
        assert notice["Subject"] == "Your appointments at Riverside Clinic have changed"
        local = datetime.fromisoformat(p01["start"]).astimezone(
            datetime.fromisoformat(FREE).tzinfo)
        assert (f"Your appointment on {local:%a} {local.day} {local:%b} at {local:%H:%M} "
                "has moved to Tue 8 Dec at 15:00.") in text_of(notice)
        assert "Ada Byron" in text_of(notice) and "Ada Byron" in html_of(notice)
        no_drug_named(notice)
        staff = sent["front_desk@example.org"]
        assert staff["Subject"] == "Your day at Riverside Clinic changed"
        assert "15:00–" in text_of(staff) and "Ada" not in text_of(staff)
        no_drug_named(staff)
        # the next round sends nothing again
        clock.shift(timedelta(minutes=5))
        run_outbox(app.url, settings)
        assert mail.take() == []
        # a move and its undo within the hold: nothing
        move(app, p01["id"], ALSO_FREE)
        number = live(app)["number"]
        assert app.call("POST", "/clinics/1/undo", json={"number": number}).status_code == 200
        clock.shift(timedelta(minutes=4))
        run_outbox(app.url, settings)
        assert mail.take() == []
        assert [r.status for r in rows(app)][-2:] == ["dropped", "dropped"]


def test_two_moves_send_one_notice_with_the_final_time_and_a_cancellation_says_so(
        service: tuple[Service, Settings], mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        p01, p02 = first_of(v1, "P01"), first_of(v1, "P02")
        move(app, p01["id"], FREE)
        clock.shift(timedelta(minutes=2))
        move(app, p01["id"], ALSO_FREE)  # within the hold: it starts again
        number = live(app)["number"]
        cancelled = app.call("POST", f"/clinics/1/appointments/{p02['id']}/cancel",
                             json={"number": number})
        assert cancelled.status_code == 200, cancelled.text
        clock.shift(timedelta(minutes=2))
        run_outbox(app.url, settings)
        assert [m for m in mail.take() if str(m["To"]).startswith("p0")] == []
        clock.shift(timedelta(minutes=1, seconds=1))
        run_outbox(app.url, settings)
        sent = {str(m["To"]): m for m in mail.take()}
        moved = text_of(sent["p01@example.org"])
        assert moved.count("has moved to") == 1 and "to Tue 8 Dec at 15:15." in moved
        assert "at 15:00" not in moved  # the first move's time, overtaken
        gone = sent["p02@example.org"]
        assert gone["Subject"] == "Your appointment at Riverside Clinic is cancelled"
        assert "is cancelled." in text_of(gone)
        assert "p03@example.org" not in sent
        for message in sent.values():
            no_drug_named(message)


# ----------------------------------------------------------------------------- reminders
def test_reminders_fire_once_each_under_a_frozen_clock_and_not_again_after_a_restart(
        service: tuple[Service, Settings], mail: Inbox, tmp_path: Path) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False):
        v1 = publish(app)
        feed = app.call("POST", "/clinics/1/patients/P01/feed-link")
    first = min(v1["schedule"]["appointments"], key=lambda a: a["start"])
    start = datetime.fromisoformat(first["start"])
    before_48h = start - timedelta(hours=48, minutes=1)
    with time_machine.travel(before_48h, tick=False):
        run_outbox(app.url, settings)
        assert mail.take() == []
    with time_machine.travel(start - timedelta(hours=47), tick=False):
        run_outbox(app.url, settings)
        run_outbox(app.url, settings)  # the same frozen moment again
        first_round = [m for m in mail.take() if m["To"] == f"{first['patient'].lower()}"
                       "@example.org" and first["start"][11:16] in str(m["Subject"])]
        assert len(first_round) == 1
    reminder = first_round[0]
    assert str(reminder["Subject"]).startswith("Reminder: your appointment on Mon 7 Dec at ")
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(reminder["List-Unsubscribe"]).startswith(f"<{PUBLIC}/mail/unsubscribe/")
    text = text_of(reminder)
    assert "200 Riverside Drive" in text and "Please come 10 minutes early." in text
    assert "Please arrange a ride home: no driving until the next day." in text  # esketamine
    no_drug_named(reminder)
    (ics,) = [p for p in reminder.iter_attachments()]
    event = next(iter(Calendar.from_ical(ics.get_content()).walk("VEVENT")))
    feed_body = app.client.get(feed.json()["url"].removeprefix(PUBLIC)).content
    uids = {str(e["UID"]) for e in Calendar.from_ical(feed_body).walk("VEVENT")}
    assert str(event["UID"]) in uids
    # a restart (a new process reads the same database) at the same frozen moment: nothing
    with time_machine.travel(start - timedelta(hours=47), tick=False):
        restarted = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "again"})
        run_outbox(app.url, restarted)
        assert mail.take() == []
    # the evening before: the second reminder, once
    evening = datetime.combine(start.astimezone(start.tzinfo).date() - timedelta(days=1),
                               datetime.min.time(), start.tzinfo) + timedelta(hours=18)
    with time_machine.travel(evening + timedelta(minutes=1), tick=False):
        run_outbox(app.url, settings)
        run_outbox(app.url, settings)
        second = [m for m in mail.take() if first["start"][11:16] in str(m["Subject"])
                  and m["To"] == f"{first['patient'].lower()}@example.org"]
        assert len(second) == 1


def test_a_one_click_unsubscribe_stops_reminders_and_the_desk_sees_it(
        service: tuple[Service, Settings], mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False):
        v1 = publish(app)
    first = min(v1["schedule"]["appointments"], key=lambda a: a["start"])
    with time_machine.travel(datetime.fromisoformat(first["start"]) - timedelta(hours=47),
                             tick=False):
        run_outbox(app.url, settings)
        reminders = mail.take()
        ours = next(m for m in reminders if m["To"] == f"{first['patient'].lower()}@example.org")
        url = str(ours["List-Unsubscribe"]).strip("<>").removeprefix(PUBLIC)
        assert app.client.get(url).status_code == 200  # a page with a button: GET changes nothing
        with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            assert session.scalars(select(MailOptOut)).first() is None
        assert app.client.post(url + "x").status_code == 404
        answer = app.client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            (out,) = session.scalars(select(MailOptOut)).all()
            assert (out.patient, out.via) == (first["patient"], "link")
        sign_in(app.client, "front_desk")
        desk = app.client.get("/messages").text
        shown = desk[desk.index('id="opted-out"'):]
        name = {"P01": "Ada Byron", "P02": "Ben Okafor", "P03": "Cy Young"}[first["patient"]]
        assert f"{name} <span" in shown and "by the link in a reminder" in shown
    # the evening before: the others get theirs, the patient who opted out none
    start = datetime.fromisoformat(first["start"])
    with time_machine.travel(start - timedelta(hours=12), tick=False):
        run_outbox(app.url, settings)
        assert f"{first['patient'].lower()}@example.org" not in {m["To"] for m in mail.take()}


# ----------------------------------------------------------------------------- delivery
def test_a_refused_message_is_retried_with_back_off_then_failed_and_shown(
        service: tuple[Service, Settings], mail: Inbox) -> None:
    app, settings = service
    settings = Settings(**{**settings.model_dump(), "outbox_attempts": 3})
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        move(app, first_of(v1, "P01")["id"], FREE)
        clock.shift(timedelta(minutes=4))
        mail.refuse = ["451 4.3.0 try again later"] * 6
        done = run_outbox(app.url, settings)
        assert done is not None and (done.sent, done.retried) == (0, 2)
        clock.shift(timedelta(seconds=59))
        done = run_outbox(app.url, settings)
        assert done is not None and (done.sent, done.retried) == (0, 0)  # the wait is 60 s
        clock.shift(timedelta(seconds=2))
        done = run_outbox(app.url, settings)
        assert done is not None and done.retried == 2
        clock.shift(timedelta(seconds=121))  # then twice that
        done = run_outbox(app.url, settings)
        assert done is not None and done.failed == 2
        assert mail.take() == []
        failed = [r for r in rows(app) if r.status == "failed"]
        assert {r.attempts for r in failed} == {3}
        assert all("451" in (r.last_error or "") for r in failed)
        sign_in(app.client, "front_desk")
        page = app.client.get("/messages")
        assert page.status_code == 200
        assert "Failed" in page.text and "451" in page.text and "Ada Byron" in page.text
        # the desk tries one again: it goes at the next round
        again = app.client.post(f"/messages/{failed[0].id}/retry",
                                data={"csrf": csrf(page.text)}, follow_redirects=False)
        assert again.status_code == 303
        done = run_outbox(app.url, settings)
        assert done is not None and done.sent == 1
        assert [m["To"] for m in mail.take()] == [failed[0].to_address]


def test_a_permanent_refusal_fails_at_once(service: tuple[Service, Settings],
                                           mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        move(app, first_of(v1, "P01")["id"], FREE)
        clock.shift(timedelta(minutes=4))
        mail.refuse = ["550 5.1.1 no such mailbox"]
        done = run_outbox(app.url, settings)
        assert done is not None and (done.sent, done.failed) == (1, 1)


KILLED = """
import os, signal, sys, time, datetime, time_machine
time_machine.travel(datetime.datetime.fromisoformat(sys.argv[2]), tick=False).start()
from scheduler.settings import Settings
from scheduler.service import outbox
from scheduler.storage.db import connect, sessions, session_scope
settings = Settings(database_url=sys.argv[1], data_dir=sys.argv[3])
factory = sessions(connect(sys.argv[1]))
with session_scope(factory) as session:
    message = outbox.claim(session, settings)
print("claimed" if message else "nothing", flush=True)
time.sleep(60)  # killed here, between the claim's commit and the send
"""


def test_a_sender_killed_between_claim_and_send_sends_exactly_once_after_restart(
        service: tuple[Service, Settings], mail: Inbox, tmp_path: Path) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        move(app, first_of(v1, "P01")["id"], FREE)
        clock.shift(timedelta(minutes=4))
        run_outbox(app.url, settings, sender=SmtpSender("127.0.0.1", 9, "none", timeout=0.2))
        # both due; a refused connection put them back: make them due again now
        clock.shift(timedelta(minutes=5))
        when = datetime.now(UTC)
    process = subprocess.Popen([sys.executable, "-c", KILLED, app.url, when.isoformat(),
                                str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "claimed"
    process.kill()  # SIGKILL
    assert process.wait(timeout=10) == -9
    claimed = [r for r in rows(app) if r.status == "sending"]
    assert len(claimed) == 1
    with time_machine.travel(when, tick=False) as clock:
        run_outbox(app.url, settings)  # the other message goes; the claimed one waits
        assert len(mail.take()) == 1
        clock.shift(timedelta(seconds=settings.outbox_claim_seconds + 1))
        run_outbox(app.url, settings)
        again = mail.take()
        assert [m["To"] for m in again] == [claimed[0].to_address]
        clock.shift(timedelta(hours=1))
        run_outbox(app.url, settings)
        assert mail.take() == []
    assert {r.status for r in rows(app)} == {"sent"}


def test_a_claim_that_ran_out_and_was_taken_is_left_to_the_sender_that_took_it(
        service: tuple[Service, Settings], mail: Inbox, smtp: tuple[Inbox, int]) -> None:
    """A slow batch: the first message goes in time, then the batch's claims run out and
    another sender takes and sends the second; the first sender, coming to the second, sends
    nothing (it used to send a second copy). A claim short of time that is still its own is
    renewed and its message sent once."""
    app, settings = service
    factory = app.client.app.state.sessions  # type: ignore[attr-defined]
    _, port = smtp
    a, b = SmtpSender("127.0.0.1", port, "none"), SmtpSender("127.0.0.1", port, "none")
    hold = timedelta(minutes=settings.notice_hold_minutes)
    claim = timedelta(seconds=settings.outbox_claim_seconds)
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        move(app, first_of(v1, "P01")["id"], FREE)  # a notice to P01 and one to nurse N1
        clock.shift(timedelta(minutes=4))
        with session_scope(factory) as session:
            assert outbox.release_held(session, 1, hold) == 2
            first, second = outbox.claim(session, settings), outbox.claim(session, settings)
        assert first is not None and second is not None
        assert outbox.send_claimed(factory, a, settings, first) == "sent"
        late = datetime.now(UTC) + claim + timedelta(seconds=1)
        taken = outbox.deliver(factory, b, settings, clock=lambda: late)
        assert (taken.sent, taken.retried, taken.failed) == (1, 0, 0)
        assert outbox.send_claimed(factory, a, settings, second, clock=lambda: late) == "taken"
        arrived = mail.take()
        assert sorted(str(m["X-Chairtime-Outbox"]) for m in arrived) == sorted(
            str(c.row) for c in (first, second))  # each once
        assert {r.status for r in rows(app)} == {"sent"}
        # a claim short of time, still its sender's: renewed, sent once
        move(app, first_of(live(app), "P01")["id"], ALSO_FREE)
        clock.shift(timedelta(minutes=4))
        with session_scope(factory) as session:
            assert outbox.release_held(session, 1, hold) == 2
            third = outbox.claim(session, settings)
        assert third is not None
        short = third.until - timedelta(seconds=settings.smtp_timeout)
        assert outbox.send_claimed(factory, a, settings, third, clock=lambda: short) == "sent"
        assert [str(m["X-Chairtime-Outbox"]) for m in mail.take()] == [str(third.row)]


# ----------------------------------------------------------------------------- the demo week
GOLDEN_DEMO = ROOT / "tests" / "fixtures" / "golden" / "demo" / "schedule.json"


def signed_in_now(app: Service) -> None:
    """The admin's bearer token issued anew at the frozen clock's time (the one the module
    started with expired in the days the clock moved on)."""
    with session_scope(app.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        admin = repo.user_by_email(session, "admin@example.org")
        assert admin is not None
        app.tokens["admin"] = repo.issue_token(session, admin, 30)[0]


def _move_twice(app: Service, clinic_id: int, candidates: list[dict[str, Any]]
               ) -> dict[str, Any]:
    """Move the first appointment that can be moved twice the same day (in its room, with its
    staff), as a desk would after two calls; the checker refuses the rest (an appointment
    moved once only is left so: its patient gets a notice of their own)."""
    offsets = [m for step in range(30, 241, 30) for m in (step, -step)]
    known = "A-0055"  # in the golden week: +30 and +60 minutes (the search is the fallback)
    for a in sorted(candidates, key=lambda a: a["id"] != known):
        start = datetime.fromisoformat(a["start"])
        done = 0
        for minutes in offsets:
            number = app.call("GET", f"/clinics/{clinic_id}/schedules/published").json()["number"]
            answer = app.call("POST", f"/clinics/{clinic_id}/appointments/{a['id']}/move", json={
                "number": number, "start": (start + timedelta(minutes=minutes)).isoformat(),
                "room": a["room"], "staff": a["staff"]})
            done += answer.status_code == 200
            if done == 2:
                return a
    raise AssertionError("no appointment could be moved twice")


class Timed:
    """The SMTP sender, timed: the outbox's throughput through the local server."""

    channel = "email"

    def __init__(self, inner: SmtpSender) -> None:
        self.inner, self.sent, self.seconds = inner, 0, 0.0

    def send(self, message: Any, sender: str) -> None:
        began = time.perf_counter()
        self.inner.send(message, sender)
        self.seconds += time.perf_counter() - began
        self.sent += 1

    def batch(self) -> Any:
        return self.inner.batch()


def _expected_reminders(clinic_id: int, appointments: list[dict[str, Any]], when: datetime,
                        tz: ZoneInfo, settings: Settings) -> set[str]:
    """The reminders the rules call for at ``when`` on these sessions, as their keys: for
    each session yet to start, the later of those due (48 h before, the evening before)."""
    keys = set()
    for a in appointments:
        start = datetime.fromisoformat(a["start"])
        if start <= when:
            continue
        assert settings.reminder_hours is not None and settings.reminder_evening is not None
        hh, mm = map(int, settings.reminder_evening.split(":"))
        evening = datetime.combine(start.astimezone(tz).date() - timedelta(days=1),
                                   dt_time(hh, mm), tz)
        dues = sorted([(start - timedelta(hours=settings.reminder_hours),
                        f"{settings.reminder_hours:g}h"), (evening, "evening")])
        due = [name for at, name in dues if at <= when]
        if due:
            keys.add(f"reminder:{clinic_id}:{a['id']}:{start.astimezone(tz):%Y%m%dT%H%M}:"
                     f"{due[-1]}")
    return keys


def _self_service(app: Service, token: str, action: str, ref: str) -> str | bool:
    """An action through the patient's link, as their browser posts it (the move: to the
    first time the page offers; False when it offers none); the time moved to."""
    if action == "cancel":  # the list's Cancel leads to "Cancel this appointment?" first
        asked = app.client.get(f"/me/{token}/cancel/{ref}")
        assert asked.status_code == 200, asked.text
        assert f'action="/me/{token}/cancel"' in asked.text and f'value="{ref}"' in asked.text
    if action != "move":
        answer = app.client.post(f"/me/{token}/{action}", data={"ref": ref},
                                 follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return True
    began = time.perf_counter()
    offer = app.client.get(f"/me/{token}/move/{ref}")
    log.info("the self-service page offered times in %.2f s", time.perf_counter() - began)
    assert offer.status_code == 200, offer.text
    starts = re.findall(r'name="start" value="([^"]+)"', offer.text)
    if not starts:
        assert "please call the clinic" in offer.text
        return False
    start: str = starts[0]
    answer = app.client.post(f"/me/{token}/move/{ref}", data={"start": start},
                             follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return start


def test_the_demo_week_every_change_reminder_and_self_service_action_arrives_exactly_once(
        service: tuple[Service, Settings], mail: Inbox, smtp: tuple[Inbox, int]) -> None:
    """The demo clinic (its golden week) with an example.org address for every patient: from
    the Friday before to the Saturday after, the outbox job every six hours. On the Tuesday
    morning the desk moves a session twice and cancels one, and three patients act through
    their links (one confirms, one cancels, one moves to a time the page offers). Every
    message the rules call for arrived once (counted by Message-ID and by recipient and
    kind): each reminder due at each round, one notice per patient whose sessions changed,
    one to the nurse whose day changed, one to the desk per self-service action; none
    names a drug."""
    app, settings = service
    data = load_scenario(DEMO).model_dump(mode="json", by_alias=True, exclude_none=True)
    for p in data["patients"]:
        p["contact"] = {"email": f"{p['id'].lower()}@example.org"}
    scenario = validate_scenario(data)
    local = scenario.tz
    desk = "front_desk@example.org"
    factory = app.client.app.state.sessions  # type: ignore[attr-defined]
    with time_machine.travel(datetime(2026, 12, 4, 9, 0, tzinfo=local), tick=False) as clock:
        with session_scope(factory) as session:
            existing = session.scalar(select(Clinic).where(Clinic.slug == "demo-week"))
            clinic = existing or repo.add_clinic(session, "demo-week", scenario)
            if existing:
                repo.add_scenario_version(session, clinic, scenario)
            row = repo.add_schedule(session, clinic.id, repo.scenario_version(session, clinic.id),
                                    Schedule.from_json(json.loads(GOLDEN_DEMO.read_text())))
            clinic_id, schedule_id, version = clinic.id, row.id, row.row_version
        answer = app.call("POST", f"/schedules/{schedule_id}/publish", json={"version": version})
        assert answer.status_code == 200, answer.text
        with session_scope(factory) as session:
            session.execute(delete(OutboxMessage))  # what an earlier run of the module left
        _, port = smtp
        sender = Timed(SmtpSender("127.0.0.1", port, "none"))
        published = app.call("GET", f"/clinics/{clinic_id}/schedules/published").json()
        by_day = sorted(published["schedule"]["appointments"], key=lambda a: a["start"])
        wednesday = [a for a in by_day if a["start"].startswith("2026-12-09")]
        cancelled = wednesday[-1]
        received: list[EmailMessage] = []
        reminders: set[str] = set()
        acted: dict[str, str] = {}  # action: patient
        patient_of: dict[str, str] = {}
        end = datetime(2026, 12, 12, 9, 0, tzinfo=local)
        while datetime.now(UTC) < end:
            clock.shift(timedelta(hours=6))
            when = datetime.now(UTC)
            if when.astimezone(local).date() == date(2026, 12, 8) and \
                    when.astimezone(local).hour == 9:
                signed_in_now(app)
                moved = _move_twice(app, clinic_id, wednesday)  # one notice
                number = app.call("GET", f"/clinics/{clinic_id}/schedules/published"
                                  ).json()["number"]
                answer = app.call("POST", f"/clinics/{clinic_id}/appointments/"
                                  f"{cancelled['id']}/cancel", json={"number": number})
                assert answer.status_code == 200, answer.text
                taken = {moved["patient"], cancelled["patient"]}
                later = [a for a in by_day if a["start"] >= "2026-12-10"
                         and a["patient"] not in taken]
                with session_scope(factory) as session:  # the desk is the moved nurse too
                    user = repo.user_by_email(session, desk)
                    assert user is not None
                    nurse = sorted(moved["staff"].values())[0]
                    repo.set_membership(session, user, clinic_id, "front_desk", nurse, None)
                for action in ("confirm", "cancel", "move"):
                    for a in later:  # the first session the page offers another time for
                        if a["patient"] in acted.values():
                            continue
                        with session_scope(factory) as session:
                            token = selfservice.issue_link(session, clinic_id, a["patient"],
                                                           None)
                        if _self_service(app, token, action, a["id"]) is not False:
                            acted[action] = a["patient"]
                            break
                assert set(acted) == {"confirm", "cancel", "move"}, acted
            with session_scope(factory) as session:
                latest = repo.latest_published(session, clinic_id)
                assert latest is not None
                live_now = repo.to_schedule(latest).model_dump(mode="json")["appointments"]
            patient_of.update({a["id"]: a["patient"] for a in live_now})
            reminders |= _expected_reminders(clinic_id, live_now, when, local, settings)
            run_outbox(app.url, settings, sender=sender)
            received += mail.take()
    with session_scope(factory) as session:
        rows_ = {r.id: (r.clinic_id, r.kind, r.key, r.status, r.to_address)
                 for r in session.scalars(select(OutboxMessage))}  # the small clinic's too
    statuses = {status for _, _, _, status, _ in rows_.values()}
    assert statuses <= {"sent", "dropped", "skipped"}, statuses  # other staff: no accounts
    ids = Counter(str(m["Message-ID"]) for m in received)
    assert ids and max(ids.values()) == 1, ids.most_common(3)  # no message arrived twice
    sent = {r[2] for r in rows_.values() if r[3] == "sent"}
    assert set(ids) == {message_id(key, settings.mail_from) for key in sent}
    for message in received:
        no_drug_named(message)
    ours = [(rows_[int(m["X-Chairtime-Outbox"])], m) for m in received
            if rows_[int(m["X-Chairtime-Outbox"])][0] == clinic_id]
    arrived = Counter((str(m["To"]), row[1]) for row, m in ours)

    def to(patient: str) -> str:
        return f"{patient.lower()}@example.org"

    changed = {moved["patient"], cancelled["patient"], acted["cancel"], acted["move"]}
    reminded = Counter(to(patient_of[key.split(":")[2]]) for key in reminders)
    expected = Counter({(to(p), outbox.PATIENT): 1 for p in changed})
    expected[(desk, outbox.STAFF)] = 1  # the nurse of the session the desk moved
    expected[(desk, outbox.DESK)] = 3  # confirmed, cancelled, moved
    expected.update({(address, outbox.REMINDER): n for address, n in reminded.items()})
    assert arrived == expected, (arrived - expected, expected - arrived)
    got = {row[2] for row, _ in ours if row[1] == outbox.REMINDER}
    assert got == reminders, (sorted(got - reminders), sorted(reminders - got))
    subjects = {(str(m["To"]), str(m["Subject"])) for row, m in ours if row[1] == outbox.DESK}
    assert {s.split(": ")[1].split(" ")[0] for _, s in subjects} == {
        "confirmed", "cancelled", "moved"}
    to_moved = [m for row, m in ours if row[1] == outbox.PATIENT
                and m["To"] == to(moved["patient"])]
    assert text_of(to_moved[0]).count("has moved to") == 1
    to_cancelled = [m for row, m in ours if row[1] == outbox.PATIENT
                    and m["To"] in (to(cancelled["patient"]), to(acted["cancel"]))]
    assert all("is cancelled" in str(m["Subject"]) for m in to_cancelled), to_cancelled
    rate = sender.sent / sender.seconds
    print(f"demo week: {len(received)} messages ({len(reminders)} reminders), "
          f"{rate:.0f} messages/s through the local SMTP server")


# ----------------------------------------------------------------------------- self-service
def _arrived_links(mail: Inbox, patient: str) -> tuple[str, str]:
    (message,) = [m for m in mail.take() if m["To"] == f"{patient.lower()}@example.org"]
    no_drug_named(message)
    found = re.findall(rf"{re.escape(PUBLIC)}(/\S+)", text_of(message))
    feed = next(f for f in found if f.startswith("/feeds/"))
    own = next(f for f in found if f.startswith("/me/"))
    return feed, own


def test_a_patient_reschedules_through_their_link_and_the_desk_hears_of_it(
        service: tuple[Service, Settings], mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as clock:
        v1 = publish(app)
        mine = first_of(v1, "P01")
        sign_in(app.client, "front_desk")
        page = app.client.get("/patients/P01")
        assert "Send links by e-mail" in page.text
        app.client.post("/patients/P01/send-links", data={"csrf": csrf(page.text)})
        app.client.cookies.clear()
        run_outbox(app.url, settings)
        feed, own = _arrived_links(mail, "P01")
        shown = app.client.get(own)
        assert shown.status_code == 200 and shown.headers["Referrer-Policy"] == "no-referrer"
        assert "Riverside Clinic" in shown.text and "Ketamine" not in shown.text
        assert f'id="visit-{mine["id"]}"' in shown.text
        # where to come: word for word the feed's LOCATION; the room's id nowhere
        card = re.search(rf'id="visit-{mine["id"]}">(.*?)</li>', shown.text, re.S)
        assert card is not None and mine["room"] is not None
        (event,) = [e for e in Calendar.from_ical(app.client.get(feed).content).walk("VEVENT")
                    if e.decoded("DTSTART") == datetime.fromisoformat(mine["start"])]
        shown_text = card.group(1).replace(own, "").replace(mine["id"], "")  # links, ids
        assert f"<br>{event['LOCATION']}" in shown_text
        assert mine["room"] not in shown_text, shown_text
        assert str(event["LOCATION"]) == "200 Riverside Drive"
        others = [a["id"] for a in v1["schedule"]["appointments"] if a["patient"] != "P01"]
        assert all(f"visit-{ref}" not in shown.text for ref in others)
        # another patient's session through this link: the 404 of one that does not exist
        assert app.client.get(f"{own}/move/{others[0]}").status_code == 404
        offer = app.client.get(f"{own}/move/{mine['id']}")
        assert offer.status_code == 200, offer.text
        start = re.findall(r'name="start" value="([^"]+)"', offer.text)
        assert start, offer.text
        assert 'name="room"' not in offer.text  # the page names no room, not even hidden
        moved = app.client.post(f"{own}/move/{mine['id']}",
                                data={"start": start[0]},
                                follow_redirects=False)
        assert moved.status_code == 303, moved.text
        now_live = first_of(live(app), "P01")
        assert datetime.fromisoformat(now_live["start"]) == datetime.fromisoformat(start[0])
        assert start[0][:16] in str(app.client.get(feed).content.decode()) or any(
            datetime.fromisoformat(start[0]) == e.decoded("DTSTART")
            for e in Calendar.from_ical(app.client.get(feed).content).walk("VEVENT"))
        run_outbox(app.url, settings)  # the desk hears at once
        (desk,) = [m for m in mail.take() if m["To"] == "front_desk@example.org"]
        assert "Ada Byron" in str(desk["Subject"]) and "moved a session" in text_of(desk)
        clock.shift(timedelta(minutes=4))
        run_outbox(app.url, settings)  # the patient's own notice after the hold
        assert [m["To"] for m in mail.take() if "changed" in str(m["Subject"])
                and m["To"] == "p01@example.org"] == ["p01@example.org"]
        # links sent again: the old ones stop, with the 404 of a link that never was
        app.client.cookies.clear()
        sign_in(app.client, "front_desk")
        page = app.client.get("/patients/P01")
        app.client.post("/patients/P01/send-links", data={"csrf": csrf(page.text)})
        app.client.cookies.clear()
        never = app.client.get("/me/" + "x" * 43)
        stale = app.client.get(own)
        assert (stale.status_code, stale.text) == (never.status_code, never.text) == (
            404, never.text)


def test_a_cancellation_through_the_link_inside_the_late_window_says_please_call(
        service: tuple[Service, Settings], mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False):
        v1 = publish(app)
        _, own = _links_sent(app, mail, settings, "P02")
    mine = first_of(v1, "P02")
    start = datetime.fromisoformat(mine["start"])
    with time_machine.travel(start - timedelta(hours=23), tick=False):  # the window is 24 h
        refused = app.client.post(f"{own}/cancel", data={"ref": mine["id"]})
        assert refused.status_code == 409 and "please call the clinic" in refused.text
        assert first_of(live(app), "P02")["id"] == mine["id"]
        confirmed = app.client.post(f"{own}/confirm", data={"ref": mine["id"]})
        assert confirmed.status_code == 200 and "confirmed" in confirmed.text
        run_outbox(app.url, settings)
        subjects = [str(m["Subject"]) for m in mail.take() if m["To"] == "front_desk@example.org"]
        assert subjects == ["Ben Okafor: confirmed the session of " + _local(start)]
    with time_machine.travel(start - timedelta(hours=25), tick=False):
        done = app.client.post(f"{own}/cancel", data={"ref": mine["id"]})
        assert done.status_code == 200 and "is cancelled" in done.text
        assert mine["id"] not in {a["id"] for a in live(app)["schedule"]["appointments"]}
        run_outbox(app.url, settings)
        subjects = [str(m["Subject"]) for m in mail.take() if m["To"] == "front_desk@example.org"]
        assert subjects == ["Ben Okafor: cancelled the session of " + _local(start)]


def test_a_self_service_link_is_rate_limited(service: tuple[Service, Settings],
                                             mail: Inbox) -> None:
    app, settings = service
    with time_machine.travel(BEFORE_THE_WEEK, tick=False):
        publish(app)
        _, own = _links_sent(app, mail, settings, "P03")
    limit = Settings().self_service_limit
    # the buckets' clock stands still: on a loaded machine the 31 requests outlast the 2 s in
    # which the bucket earns one request back (30 per feed_limit_seconds), and the last went
    app.client.app.state.self_service_limits = RateLimits(settings.feed_limit_seconds,  # type: ignore[attr-defined]
                                                          clock=lambda: 1000.0)
    codes = [app.client.get(own).status_code for _ in range(limit + 1)]
    assert codes[:limit] == [200] * limit and codes[-1] == 429


def _local(t: datetime) -> str:
    local = t.astimezone(datetime.fromisoformat(FREE).tzinfo)
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


def _links_sent(app: Service, mail: Inbox, settings: Settings, patient: str
                ) -> tuple[str, str]:
    sign_in(app.client, "front_desk")
    page = app.client.get(f"/patients/{patient}")
    app.client.post(f"/patients/{patient}/send-links", data={"csrf": csrf(page.text)})
    app.client.cookies.clear()
    run_outbox(app.url, settings)
    return _arrived_links(mail, patient)


# ----------------------------------------------------------------------------- migration
def test_migration_0010_adds_the_outbox_and_takes_it_away(database_url: str) -> None:
    from sqlalchemy import inspect as sa_inspect

    from scheduler.storage.db import connect, downgrade, upgrade

    ours = {"outbox", "mail_optouts", "self_service_tokens"}
    engine = connect(database_url)
    upgrade(engine, "0007")
    assert not ours & set(sa_inspect(engine).get_table_names())
    upgrade(engine, "0010")
    assert ours <= set(sa_inspect(engine).get_table_names())
    held = {i["name"]: i for i in sa_inspect(engine).get_indexes("outbox")}["ix_outbox_held"]
    assert held["unique"]
    downgrade(engine, "0007")
    assert not ours & set(sa_inspect(engine).get_table_names())
    engine.dispose()
