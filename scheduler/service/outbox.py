"""The outbox: every message to a patient or a staff member, written in the transaction of the
change that causes it, sent by a job, retried with back-off, never sent twice.

- **Change notices, held and coalesced.** A change of the live schedule (a direct edit, an
  undo, a publish: :func:`changed`, called by ``scheduler.service.drafts`` before its commit)
  holds one notice per patient whose session's date or time changed and per staff member whose
  day changed, with their sessions as they were before (the baseline). Another change within
  the hold extends it. When the hold (CHAIRTIME_NOTICE_HOLD_MINUTES after the last change) is
  over, :func:`release_held` compares the baseline with the live schedule: nothing changed (a
  move and its undo) drops the notice; else one message says each session's final state.
- **Reminders** (:func:`plan_reminders`): before each session of the live schedule,
  CHAIRTIME_REMINDER_HOURS before and the evening before (CHAIRTIME_REMINDER_EVENING), each
  once: its idempotency key names the appointment, its time and which reminder; when several
  are due at once only the latest goes. Not to a patient who opted out.
- **Delivery** (:func:`deliver`): due messages are claimed in batches (``sending`` until
  ``claimed_until``, the row's ``attempts`` counted up: the claim's fencing token) and the
  claims committed before the mail server sees any of them; then each, on its own
  (:func:`send_claimed`), is sent and at once marked sent, or put back with a doubled wait,
  or failed after CHAIRTIME_OUTBOX_ATTEMPTS tries (or at once on a permanent refusal), in a
  commit of its own. Before each send the sender checks that its claim still holds with time
  for the send (renewing it when short): a message late in a slow batch whose claim ran out
  and that another sender took is left to that sender, not sent twice.

What "never sent twice" means, exactly. SMTP gives no exactly-once hand-over, and neither
does this: delivery is at least once, a second copy is possible only in the windows below,
and every copy carries the same Message-ID (derived from the idempotency key,
:func:`scheduler.mail.message_id`).

- A sender killed (or a database lost) between its claim's commit and the send: the claim
  runs out (CHAIRTIME_OUTBOX_CLAIM_SECONDS) and the message goes once, later.
- A sender killed after the server answered 250 to the message's data and before the
  commit that records it sent (one UPDATE: the window is that commit's round trip, per
  message, never a batch): the message goes again after the claim runs out, with the same
  Message-ID.
- The connection lost after the message's final dot and before the server's reply (RFC 1047's
  duplicate): the sender cannot know the server took it, counts a failure and tries again;
  the server may deliver both.
- A single send that outlasts the whole claim (a server slower than
  CHAIRTIME_OUTBOX_CLAIM_SECONDS, far beyond three CHAIRTIME_SMTP_TIMEOUTs) lets another
  sender take the message meanwhile; both may send it. Either success records it sent; a
  late failure does not undo that.

A receiver that drops copies by Message-ID sees one message (the tests count by it); many
mail stores do not, and a patient may then see the same message twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.documents import Appointment, Schedule
from scheduler.errors import NotFound
from scheduler.mail import Attachment, MailError, Outgoing, Sender, SmtpSender
from scheduler.model import Scenario, patient_email
from scheduler.service.notices import group_changes
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import (
    MailOptOut,
    Membership,
    OutboxMessage,
    ScenarioVersion,
    ScheduleRow,
    User,
    now,
)
from scheduler.usecases import diff_schedules
from scheduler.usecases.messages import (
    SessionChange,
    invite,
    patient_notice,
    reminder,
    staff_notice,
)

__all__ = ["Claimed", "Delivered", "Overview", "changed", "claim", "deliver", "desk_notice",
           "link_message", "opt_in", "opt_out", "overview", "plan_reminders", "release_held",
           "retry", "send_claimed", "sender_for", "unsubscribe", "unsubscribe_url"]

log = logging.getLogger(__name__)

BATCH = 10
"""Messages claimed in one transaction (then each sent and settled on its own)."""
PATIENT, STAFF, REMINDER, DESK = "patient-notice", "staff-notice", "reminder", "desk-notice"


# ----------------------------------------------------------------------------- snapshots
def _window(scenario: Scenario) -> tuple[datetime, datetime]:
    """The scenario's horizon as UTC instants: sessions outside it are another week's."""
    dates = scenario.dates()
    start = datetime.combine(dates[0], time(0), scenario.tz)
    end = datetime.combine(dates[-1] + timedelta(days=1), time(0), scenario.tz)
    return start, end


def _in(a: Appointment, window: tuple[float, float]) -> bool:
    return window[0] <= a.start.timestamp() < window[1]


def _patient_sessions(schedule: Schedule, patient: str, window: tuple[float, float]
                      ) -> dict[str, str]:
    return {a.id: a.start.isoformat() for a in schedule.appointments
            if a.patient == patient and _in(a, window)}


def _staff_sessions(schedule: Schedule, staff: str, window: tuple[float, float]
                    ) -> dict[str, list[str | None]]:
    return {a.id: [a.start.isoformat(), a.end.isoformat(), a.room]
            for a in schedule.appointments if staff in a.staff.values() and _in(a, window)}


# ----------------------------------------------------------------------------- holding
def changed(session: Session, clinic_id: int, before: ScheduleRow | None, after: ScheduleRow,
            when: datetime | None = None) -> int:
    """Hold a notice for each patient whose session's date or time changed from ``before`` to
    ``after`` (the clinic's new published version), and for each staff member whose day
    changed, in the caller's transaction; a notice already held for them is held longer.
    Sessions that were and are in the past, and those of other weeks, tell nobody. Returns how
    many notices are held."""
    if before is None:  # the first publish: nothing anyone knew of changed
        return 0
    when = when or now()
    scenario = repo.scenario_for(session, after)
    old, new = repo.to_schedule(before), repo.to_schedule(after)
    start, end = _window(scenario)
    start = max(start, when)
    window = (start.timestamp(), end.timestamp())
    tell = group_changes(after.id, scenario, diff_schedules(old, new))
    patients = sorted({n.patient for n in tell.patients
                       if any(t is not None and window[0] <= t.timestamp() < window[1]
                              for t in (n.before, n.after))})
    staff = sorted({n.staff for n in tell.staff})
    base = {"window": [start.isoformat(), end.isoformat()]}
    for pid in patients:
        _hold(session, clinic_id, PATIENT, pid, after.id, when,
              partial(_baseline, base, _patient_sessions, old, pid, window))
    for sid in staff:
        _hold(session, clinic_id, STAFF, sid, after.id, when,
              partial(_baseline, base, _staff_sessions, old, sid, window))
    return len(patients) + len(staff)


def _baseline(base: dict[str, Any], sessions: Callable[..., dict[str, Any]], schedule: Schedule,
              subject: str, window: tuple[float, float]) -> dict[str, Any]:
    return {**base, "sessions": sessions(schedule, subject, window)}


def _hold(session: Session, clinic_id: int, kind: str, subject: str, cause: int,
          when: datetime, baseline: Callable[[], dict[str, Any]]) -> None:
    held = session.scalars(select(OutboxMessage).where(
        OutboxMessage.clinic_id == clinic_id, OutboxMessage.kind == kind,
        OutboxMessage.subject == subject, OutboxMessage.status == "held")).first()
    if held is not None:
        held.send_after = when
        return
    session.add(OutboxMessage(clinic_id=clinic_id, key=f"{kind}:{clinic_id}:{subject}:{cause}",
                              kind=kind, subject=subject, status="held", send_after=when,
                              baseline=baseline(), attempts=0))
    session.flush()


def release_held(session: Session, clinic_id: int, hold: timedelta,
                 when: datetime | None = None) -> int:
    """Notices whose hold is over: dropped when the subject's sessions are as they were
    before the first change, else composed against the live schedule and made due now. Without
    an address to send it to, a patient's notice fails at once (the desk sees it and calls),
    a staff member's is skipped (no account of the clinic is theirs). Returns how many were
    made due."""
    when = when or now()
    rows = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.clinic_id == clinic_id, OutboxMessage.status == "held",
        OutboxMessage.send_after <= when - hold).order_by(OutboxMessage.id)))
    if not rows:
        return 0
    latest = repo.latest_published(session, clinic_id)
    if latest is None:
        return 0
    scenario = repo.scenario_for(session, latest)
    live = repo.to_schedule(latest)
    due = 0
    for row in rows:
        assert row.baseline is not None
        start, end = (datetime.fromisoformat(t) for t in row.baseline["window"])
        window = (start.timestamp(), end.timestamp())
        composed, address = (_patient_notice(scenario, live, row, window)
                             if row.kind == PATIENT else
                             _staff_notice(session, clinic_id, scenario, live, row, window))
        if composed is None:
            row.status = "dropped"
            continue
        row.title, row.body_text, row.body_html = composed
        row.send_after = when
        if address is None:  # the desk tells a patient by phone; staff see the board
            row.status = "failed" if row.kind == PATIENT else "skipped"
            row.last_error = "no e-mail address on file"
            continue
        row.to_address = address
        row.status = "pending"
        due += 1
    return due


def _patient_notice(scenario: Scenario, live: Schedule, row: OutboxMessage,
                    window: tuple[float, float]
                    ) -> tuple[tuple[str, str, str] | None, str | None]:
    assert row.baseline is not None
    was: dict[str, str] = row.baseline["sessions"]
    now_ = _patient_sessions(live, row.subject, window)
    changes = [SessionChange(datetime.fromisoformat(was[r]) if r in was else None,
                             datetime.fromisoformat(now_[r]) if r in now_ else None)
               for r in sorted(set(was) | set(now_)) if was.get(r) != now_.get(r)]
    if not changes:
        return None, None
    composed = patient_notice(scenario, row.subject, changes)
    spec = next((p for p in scenario.patients if p.id == row.subject), None)
    return (composed.subject, composed.text, composed.html), patient_email(spec)


def _staff_notice(session: Session, clinic_id: int, scenario: Scenario, live: Schedule,
                  row: OutboxMessage, window: tuple[float, float]
                  ) -> tuple[tuple[str, str, str] | None, str | None]:
    assert row.baseline is not None
    was: dict[str, list[str | None]] = row.baseline["sessions"]
    now_ = _staff_sessions(live, row.subject, window)
    days: set[date] = set()
    for ref in set(was) | set(now_):
        if was.get(ref) != now_.get(ref):
            for entry in (was.get(ref), now_.get(ref)):
                if entry is not None and entry[0] is not None:
                    days.add(datetime.fromisoformat(entry[0]).astimezone(scenario.tz).date())
    if not days:
        return None, None
    sessions: dict[date, list[tuple[datetime, datetime, str | None]]] = {}
    for start, end, room in now_.values():
        assert start is not None and end is not None
        s = datetime.fromisoformat(start)
        sessions.setdefault(s.astimezone(scenario.tz).date(), []).append(
            (s, datetime.fromisoformat(end), room))
    composed = staff_notice(scenario, row.subject, sorted(days), sessions)
    return (composed.subject, composed.text, composed.html), _staff_email(
        session, clinic_id, row.subject)


def _staff_email(session: Session, clinic_id: int, staff: str) -> str | None:
    """The e-mail of the account that is staff member ``staff`` in the clinic (its membership
    says so), if any."""
    found: str | None = session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id).where(
            Membership.clinic_id == clinic_id, Membership.staff_id == staff,
            User.active.is_(True)).order_by(User.id)).first()
    return found


# ----------------------------------------------------------------------------- reminders
def _dues(start: datetime, tz: ZoneInfo, hours: float | None, evening: str | None
          ) -> list[tuple[str, datetime]]:
    dues = []
    if hours is not None and hours > 0:
        dues.append((f"{hours:g}h", start - timedelta(hours=hours)))
    if evening is not None:
        hh, mm = map(int, evening.split(":"))
        local = start.astimezone(tz).date() - timedelta(days=1)
        dues.append(("evening", datetime.combine(local, time(hh, mm), tz)))
    return sorted(dues, key=lambda d: d[1])


def plan_reminders(session: Session, clinic_id: int, hours: float | None, evening: str | None,
                   when: datetime | None = None) -> int:
    """The reminders due by ``when`` of every session of the live schedule yet to start, each
    once (its key), in the caller's transaction; when two are due at once, only the later.
    Returns how many were written."""
    when = when or now()
    latest = repo.latest_published(session, clinic_id)
    if latest is None or (hours is None and evening is None):
        return 0
    # Most rounds find nothing due: the keys come from the rows and the clinic's zone, and the
    # scenario, the schedule and the feeds' history are read only when a reminder is written.
    version = session.get(ScenarioVersion, latest.scenario_version_id)
    assert version is not None
    tz = ZoneInfo(version.data["clinic"]["timezone"])
    opted = set(session.scalars(select(MailOptOut.patient).where(
        MailOptOut.clinic_id == clinic_id)))
    horizon = max(hours or 0, 48) + 24
    written = set(session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.clinic_id == clinic_id, OutboxMessage.kind == REMINDER,
        OutboxMessage.created_at >= when - timedelta(hours=horizon + 24 * 14))))
    wanted: dict[str, str] = {}
    for a in latest.appointments:
        if a.start_at <= when or a.patient in opted:
            continue
        due = [d for d in _dues(a.start_at, tz, hours, evening) if d[1] <= when]
        if not due:
            continue
        key = f"{REMINDER}:{clinic_id}:{a.ref}:{a.start_at.astimezone(tz):%Y%m%dT%H%M}:{due[-1][0]}"
        if key not in written:
            wanted[a.ref] = key
    if not wanted:
        return 0
    scenario = repo.scenario_for(session, latest)
    specs = {p.id: p for p in scenario.patients}
    state = repo.feed_state(session, clinic_id)
    events = state.events if state is not None else {}
    count = 0
    for item in repo.to_schedule(latest).appointments:
        key = wanted.get(item.id, "")
        if not key:
            continue
        address = patient_email(specs.get(item.patient))
        if address is None:  # kept, so the next rounds do not look again
            session.add(OutboxMessage(
                clinic_id=clinic_id, key=key, kind=REMINDER, subject=item.patient,
                status="skipped", send_after=when, attempts=0,
                last_error="no e-mail address on file"))
            continue
        document = item.model_dump(mode="json")
        composed = reminder(scenario, document,
                            invite(scenario, document, events.get(item.id), when))
        session.add(OutboxMessage(
            clinic_id=clinic_id, key=key, kind=REMINDER, subject=item.patient, status="pending",
            send_after=when, to_address=address, title=composed.subject,
            body_text=composed.text, body_html=composed.html, attachments=composed.attachments,
            attempts=0))
        written.add(key)
        count += 1
    session.flush()
    return count


# ----------------------------------------------------------------------------- delivery
def sender_for(settings: Settings) -> Sender | None:
    """The e-mail sender the settings describe; None when no SMTP server is set."""
    if settings.smtp_host is None:
        return None
    return SmtpSender(settings.smtp_host, settings.smtp_port_in_force, settings.smtp_tls,
                      settings.smtp_username,
                      settings.smtp_password.get_secret_value() if settings.smtp_password
                      else None, settings.smtp_timeout,
                      helo=settings.mail_from.rpartition("@")[2])


def unsubscribe_url(settings: Settings, token: str) -> str | None:
    """The one-click unsubscribe URL of a token (None without CHAIRTIME_PUBLIC_URL: a mail
    program must reach it from outside)."""
    return f"{settings.public_url}/mail/unsubscribe/{token}" if settings.public_url else None


@dataclass
class Delivered:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def _claimable(when: datetime) -> Any:
    return or_((OutboxMessage.status == "pending") & (OutboxMessage.send_after <= when),
               (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < when))


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a sender holds: what to send, its row, and the claim (the row's ``attempts``
    when claimed is its fencing token: another sender's claim of the row counts one more)."""

    message: Outgoing
    row: int
    attempt: int
    until: datetime


def claim(session: Session, settings: Settings, when: datetime | None = None
          ) -> Claimed | None:
    """Claim the next due message (or one whose claim ran out) for ``settings.
    outbox_claim_seconds``, in the caller's transaction (commit it before sending), and the
    message to send; None when nothing is due. A message that used up its tries is failed
    here, and the next one claimed."""
    when = when or now()
    while True:
        found = session.scalars(select(OutboxMessage).where(_claimable(when)).order_by(
            OutboxMessage.send_after, OutboxMessage.id).limit(1)).first()
        if found is None:
            return None
        until = when + timedelta(seconds=settings.outbox_claim_seconds)
        taken = session.execute(update(OutboxMessage).where(
            OutboxMessage.id == found.id, _claimable(when)).values(
            status="sending", claimed_until=until,
            attempts=OutboxMessage.attempts + 1).execution_options(synchronize_session=False))
        if getattr(taken, "rowcount", 0) != 1:
            continue  # another sender took it first
        session.refresh(found)
        if found.attempts > settings.outbox_attempts:
            found.status = "failed"
            found.last_error = (found.last_error or "") + " (no tries left)"
            continue
        unsubscribe = None
        if found.kind == REMINDER:
            token = secrets.token_urlsafe(24)
            unsubscribe = unsubscribe_url(settings, token)
            found.unsubscribe_hash = repo.token_hash(token) if unsubscribe else None
        assert found.to_address is not None
        return Claimed(Outgoing(
            to=found.to_address, subject=found.title or "", text=found.body_text or "",
            html=found.body_html or "", key=found.key, unsubscribe=unsubscribe,
            attachments=tuple(Attachment(x["filename"], x["content_type"],
                                         x["data"].encode("utf-8"))
                              for x in found.attachments or []),
            headers={"X-Chairtime-Outbox": str(found.id)}), found.id, found.attempts, until)


def _ours(row: int, attempt: int) -> Any:
    return ((OutboxMessage.id == row) & (OutboxMessage.status == "sending")
            & (OutboxMessage.attempts == attempt))


def _still_ours(factory: sessionmaker[Session], claimed: Claimed, settings: Settings,
                when: datetime) -> bool:
    """Whether the claim still holds with time for a send (``smtp_timeout`` three times over:
    connect, data, reply), renewed when it is short: a message late in its batch whose claim
    ran out may have been taken by another sender, and is then left to it."""
    if when + timedelta(seconds=3 * settings.smtp_timeout) < claimed.until:
        return True  # the usual case: no round trip to the database
    with session_scope(factory) as session:
        renewed = session.execute(update(OutboxMessage).where(
            _ours(claimed.row, claimed.attempt)).values(claimed_until=when + timedelta(
                seconds=settings.outbox_claim_seconds)).execution_options(
            synchronize_session=False))
        return getattr(renewed, "rowcount", 0) == 1


def _settle(session: Session, claimed: Claimed, settings: Settings, error: MailError | None,
            when: datetime) -> str:
    row = session.get(OutboxMessage, claimed.row)
    assert row is not None
    if row.status != "sending" or row.attempts != claimed.attempt:
        # the claim ran out during the send and another sender took the row: a send that
        # went is recorded (it did), a failure is left to the sender that holds the row now
        if error is None and row.status != "sent":
            row.status, row.sent_at, row.last_error, row.claimed_until = "sent", when, None, None
        return "sent" if error is None else "taken"
    row.claimed_until = None
    if error is None:
        row.status, row.sent_at, row.last_error = "sent", when, None
    elif error.permanent or row.attempts >= settings.outbox_attempts:
        row.status, row.last_error = "failed", str(error)
    else:
        row.status, row.last_error = "pending", str(error)
        row.send_after = when + timedelta(
            seconds=settings.outbox_retry_seconds * 2 ** (row.attempts - 1))
    return row.status


def send_claimed(factory: sessionmaker[Session], sender: Sender, settings: Settings,
                 claimed: Claimed, clock: Callable[[], datetime] = now) -> str:
    """Send a claimed message and record the outcome in a commit of its own, at once (a
    sender killed after the server took the message and before this commit sends it again,
    later, with the same Message-ID: that window is the send's reply and one commit wide).
    Returns the row's status: sent, pending (to try again), failed; or taken (the claim ran
    out and another sender holds the row: nothing sent)."""
    if not _still_ours(factory, claimed, settings, clock()):
        return "taken"
    error = None
    try:
        sender.send(claimed.message, settings.mail_from)
    except MailError as exc:
        error = exc
        log.warning("outbox message %s: %s", claimed.row, exc)
    with session_scope(factory) as session:
        return _settle(session, claimed, settings, error, clock())


def deliver(factory: sessionmaker[Session], sender: Sender, settings: Settings,
            limit: int | None = None, clock: Callable[[], datetime] = now) -> Delivered:
    """Send every due message (up to ``limit``): claim a batch and commit, then send each and
    settle it in a commit of its own."""
    with sender.batch():
        return _deliver(factory, sender, settings, limit, clock)


def _deliver(factory: sessionmaker[Session], sender: Sender, settings: Settings,
             limit: int | None, clock: Callable[[], datetime]) -> Delivered:
    done = Delivered()
    while limit is None or done.sent + done.retried + done.failed < limit:
        room = BATCH if limit is None else min(BATCH, limit - done.sent - done.retried
                                               - done.failed)
        with session_scope(factory) as session:  # one commit claims a batch
            batch = []
            for _ in range(room):
                claimed = claim(session, settings, clock())
                if claimed is None:
                    break
                batch.append(claimed)
        if not batch:
            break
        for claimed in batch:  # each settled on its own: a crash resends at most one
            status = send_claimed(factory, sender, settings, claimed, clock)
            if status == "sent":
                done.sent += 1
            elif status == "failed":
                done.failed += 1
            elif status == "pending":
                done.retried += 1
    return done


# ----------------------------------------------------------------------------- the desk
def link_message(session: Session, clinic_id: int, patient: str, address: str, key: str,
                 composed: tuple[str, str, str]) -> None:
    """A message with a patient's private links (subject, text, HTML), due now, in the
    caller's transaction."""
    subject, text, html = composed
    session.add(OutboxMessage(clinic_id=clinic_id, key=key, kind="link", subject=patient,
                              status="pending", send_after=now(), to_address=address,
                              title=subject, body_text=text, body_html=html, attempts=0))
    session.flush()


def desk_notice(session: Session, clinic_id: int, key: str, subject: str, text: str) -> int:
    """A message to every front-desk account of the clinic (a patient acted through their
    self-service link), due now, in the caller's transaction; once per ``key`` and account.
    Returns how many were written."""
    addresses = list(session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id).where(
            Membership.clinic_id == clinic_id, Membership.role == "front_desk",
            User.active.is_(True)).order_by(User.id)))
    html = f"<!doctype html><html lang=\"en\"><body><p>{escape(text)}</p></body></html>"
    for address in addresses:
        full = f"{key}:{address}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == full)):
            continue
        session.add(OutboxMessage(clinic_id=clinic_id, key=full, kind=DESK, subject="desk",
                                  status="pending", send_after=now(), to_address=address,
                                  title=subject, body_text=text + "\n", body_html=html,
                                  attempts=0))
    session.flush()
    return len(addresses)


@dataclass
class Overview:
    """What the desk sees of a clinic's messages."""

    mail_on: bool
    counts: dict[str, int]
    failed: list[OutboxMessage]
    held: list[OutboxMessage]
    recent: list[OutboxMessage]
    opted_out: list[MailOptOut]


def overview(session: Session, clinic_id: int, mail_on: bool, recent: int = 20) -> Overview:
    repo.clinic(session, clinic_id)
    rows = session.execute(select(OutboxMessage.status, OutboxMessage.id).where(
        OutboxMessage.clinic_id == clinic_id)).all()
    counts: dict[str, int] = {}
    for status, _ in rows:
        counts[status] = counts.get(status, 0) + 1

    def of(*states: str, limit: int | None = None) -> list[OutboxMessage]:
        query = select(OutboxMessage).where(OutboxMessage.clinic_id == clinic_id,
                                            OutboxMessage.status.in_(states)).order_by(
            OutboxMessage.send_after.desc(), OutboxMessage.id.desc())
        return list(session.scalars(query.limit(limit) if limit else query))

    return Overview(mail_on=mail_on, counts=counts, failed=of("failed"), held=of("held"),
                    recent=of("sent", "pending", "sending", limit=recent),
                    opted_out=list(session.scalars(select(MailOptOut).where(
                        MailOptOut.clinic_id == clinic_id).order_by(MailOptOut.patient))))


def retry(session: Session, clinic_id: int, message_id: int) -> None:
    """A failed message tried again now (its tries counted afresh)."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.clinic_id != clinic_id or row.status != "failed":
        raise NotFound("failed message", str(message_id))
    if row.to_address is None:
        raise NotFound("failed message with an address", str(message_id))
    row.status, row.attempts, row.send_after = "pending", 0, now()
    session.commit()


def opt_out(session: Session, clinic_id: int, patient: str, via: str = "desk") -> None:
    """No more reminders for ``patient`` (idempotent)."""
    exists = session.scalars(select(MailOptOut).where(
        MailOptOut.clinic_id == clinic_id, MailOptOut.patient == patient)).first()
    if exists is None:
        session.add(MailOptOut(clinic_id=clinic_id, patient=patient, via=via))
    session.commit()


def opt_in(session: Session, clinic_id: int, patient: str) -> None:
    """Reminders again for ``patient`` (the desk, at the patient's word)."""
    for row in session.scalars(select(MailOptOut).where(
            MailOptOut.clinic_id == clinic_id, MailOptOut.patient == patient)):
        session.delete(row)
    session.commit()


def unsubscribe(session: Session, token: str) -> bool:
    """The one-click unsubscribe of a reminder's link: its patient gets no more reminders.
    False for a token no message carries."""
    row = session.scalars(select(OutboxMessage).where(
        OutboxMessage.unsubscribe_hash == repo.token_hash(token))).first()
    if row is None:
        return False
    opt_out(session, row.clinic_id, row.subject, via="link")
    return True
