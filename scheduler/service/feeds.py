"""Calendar feeds: rendered from the latest published version (never a draft) when it changes,
stored with their event history; the private links that open them; the bytes a link serves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from calendars import feed_name
from scheduler.errors import NotFound
from scheduler.storage import repo
from scheduler.storage.repo import FeedHead, token_hash
from scheduler.storage.tables import FeedToken, ScheduleRow, User, now
from scheduler.usecases import build_feeds

__all__ = ["FeedHead", "body", "ensure_body", "expire_cancelled", "head", "issue_link",
           "live_link", "live_links", "refresh", "regenerate", "revoke_link", "rotate_link",
           "token_hash"]

SECTIONS = {"patient": "patients", "staff": "staff", "room": "rooms"}


def regenerate(session: Session, clinic_id: int, when: datetime) -> int:
    """Render every feed of the clinic from its latest published version (never a draft) and
    the weeks published before its week, continuing the stored event history, and store
    bodies and history in the caller's transaction. Idempotent: an unchanged body keeps its
    bytes, ETag and Last-Modified. Returns how many feed bodies changed."""
    try:
        row = repo.published(session, clinic_id)
    except NotFound:
        row = None
    if row is not None:
        scenario = repo.scenario_for(session, row)
        document: dict[str, Any] = repo.to_schedule(row).to_json()
        document["appointments"] = [*_earlier_weeks(session, clinic_id, row),
                                    *document["appointments"]]
    else:  # nothing published yet: valid, empty calendars
        scenario = repo.scenario_of(repo.scenario_version(session, clinic_id))
        document = {"appointments": []}
    state = repo.feed_state(session, clinic_id)
    subscribed = [(k, s) for k, s in repo.feed_subjects_with_tokens(session, clinic_id)
                  if k != "clinic"]
    files, events = build_feeds(scenario, document, state.events if state else {}, when,
                                also=subscribed)
    keys = [("clinic", ""), *subscribed, *(("patient", p.id) for p in scenario.patients),
            *(("staff", s.id) for s in scenario.staff), *(("room", r.id) for r in scenario.rooms)]
    names = {feed_name(kind, key): (kind, key) for kind, key in keys}  # type: ignore[arg-type]
    schedule_id = row.id if row is not None else None
    changed = repo.store_feeds(session, clinic_id, schedule_id,
                               {names[name]: body for name, body in files.items()}, when)
    repo.save_feed_state(session, clinic_id, schedule_id, events, when)
    return changed


def _earlier_weeks(session: Session, clinic_id: int, live: ScheduleRow) -> list[dict[str, Any]]:
    """The sessions of the weeks published before the live schedule's week (each week's latest
    published version): they stay in the calendars as they were, never shown as cancelled
    because next week was published."""
    weeks = repo.version_weeks(session, clinic_id)
    live_week = weeks.get(live.scenario_version_id)
    if live_week is None:
        return []
    known = {a.ref for a in live.appointments}
    out: list[dict[str, Any]] = []
    for week, row in sorted(repo.published_by_week(session, clinic_id).items()):
        if week < live_week:
            out += [a for a in repo.to_schedule(row).to_json()["appointments"]
                    if a["id"] not in known]
    return out


def ensure_body(session: Session, clinic_id: int, kind: str, subject: str) -> None:
    """A new link opens a feed at once: one is rendered when there is none yet (a patient added
    since the last publish gets an empty calendar, then the next publish's)."""
    if not repo.feed_body_exists(session, clinic_id, kind, subject):
        regenerate(session, clinic_id, now())


def refresh(session: Session, clinic_id: int) -> int | None:
    """Render the clinic's feeds when its latest published version has none yet: how many
    changed, or None when there was nothing to do."""
    try:
        latest = repo.published(session, clinic_id)
    except NotFound:
        return None
    state = repo.feed_state(session, clinic_id)
    if state is not None and state.schedule_id == latest.id:
        return None
    return regenerate(session, clinic_id, now())


def expire_cancelled(session: Session, clinic_id: int) -> tuple[int, int] | None:
    """Re-render the clinic's feeds at the present time, which drops cancelled events older
    than ``feeds.cancelled_days``: (events dropped, feeds changed), None without feeds."""
    state = repo.feed_state(session, clinic_id)
    if state is None:
        return None
    before = len(state.events)
    changed = regenerate(session, clinic_id, now())
    after = repo.feed_state(session, clinic_id)
    return (before - len(after.events) if after is not None else 0), changed


# ----------------------------------------------------------------------------- links
def _in_scenario(session: Session, clinic_id: int, kind: str, subject: str) -> None:
    if kind == "clinic":
        return
    data = repo.scenario_version(session, clinic_id).data
    if not any(item.get("id") == subject for item in data.get(SECTIONS[kind], [])):
        raise NotFound(f"{kind} of clinic {clinic_id}", subject)


def live_link(session: Session, clinic_id: int, kind: str, subject: str) -> FeedToken | None:
    """The link in force for a feed, if any (its token is never kept)."""
    return repo.live_feed_token(session, repo.clinic(session, clinic_id).id, kind, subject)


def live_links(session: Session, clinic_id: int) -> list[FeedToken]:
    """Every link in force in the clinic."""
    return [t for t in repo.feed_tokens(session, repo.clinic(session, clinic_id).id)
            if t.revoked_at is None]


def issue_link(session: Session, clinic_id: int, kind: str, subject: str, by: User
               ) -> tuple[str, FeedToken]:
    """A new private link (the token, shown once) to a feed of something in the scenario; a
    feed body is rendered when there is none yet."""
    repo.clinic(session, clinic_id)
    _in_scenario(session, clinic_id, kind, subject)
    token, row = repo.issue_feed_token(session, clinic_id, kind, subject, by)
    ensure_body(session, clinic_id, kind, subject)
    session.commit()
    return token, row


def rotate_link(session: Session, clinic_id: int, kind: str, subject: str, by: User
                ) -> tuple[str, FeedToken]:
    """A new link in place of the one in force, which answers 404 from now on."""
    repo.clinic(session, clinic_id)
    token, row = repo.rotate_feed_token(session, clinic_id, kind, subject, by)
    ensure_body(session, clinic_id, kind, subject)
    session.commit()
    return token, row


def revoke_link(session: Session, clinic_id: int, kind: str, subject: str, by: User) -> None:
    repo.revoke_feed_token(session, repo.clinic(session, clinic_id).id, kind, subject, by)
    session.commit()


# ----------------------------------------------------------------------------- serving
def head(engine: Engine, token: str) -> FeedHead | None:
    """What a link serves (ETag, Last-Modified, the body's id) in one statement."""
    # A plain connection (no ORM session to set up) in autocommit: one statement is its own
    # snapshot, and no BEGIN and ROLLBACK go to the server (bench/README.md, 'Calendar feeds').
    with _autocommit(engine) as connection:
        return repo.feed_head(connection, token)


def body(engine: Engine, body_id: int) -> tuple[bytes, FeedHead]:
    """A feed's bytes with their own head: one statement."""
    with _autocommit(engine) as connection:
        return repo.feed_body(connection, body_id)


def _autocommit(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
