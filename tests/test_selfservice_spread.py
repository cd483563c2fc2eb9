"""The times a patient's page offers for another time are spread out (issue 24's review), each
test on SQLite and on PostgreSQL, on the demo clinic's golden week published: the first time
of each part of each day (morning, afternoon, evening on the clinic's clock), earliest first,
never five minutes apart; each one the slot finder's (every hard rule and the course kept),
bookable (the checker accepts the move, and the move through the service goes through), none
in the past or inside the late window; fewer options: what there is."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from scheduler.documents import Schedule
from scheduler.errors import Conflict
from scheduler.model import Scenario
from scheduler.security import hash_password
from scheduler.service import drafts, selfservice
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import cancel_appointment, move_appointment
from scheduler.usecases.slots import find_slots
from scheduler.validate import load_scenario
from tests.conftest import DEMO, ROOT

pytestmark = [pytest.mark.db, pytest.mark.solve]

GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "demo" / "schedule.json"
NOW = datetime.fromisoformat("2026-12-04T12:00:00+00:00")
"""The Friday before the demo week (Mon 7 Dec)."""
SETTINGS = Settings(late_cancel_hours=24)


@pytest.fixture
def demo(database_url: str, tmp_path: Path) -> Iterator[tuple[Session, int]]:
    """A session on a database holding the demo clinic with its golden week published."""
    engine = connect(database_url)
    upgrade(engine)
    factory = sessions(engine)
    with session_scope(factory) as session:
        user = repo.add_user(session, "desk@example.org", hash_password("x" * 12), "admin")
        clinic = repo.add_clinic(session, "demo-week", load_scenario(DEMO))
        row = repo.add_schedule(session, clinic.id, repo.scenario_version(session, clinic.id),
                                Schedule.from_json(json.loads(GOLDEN.read_text())))
        session.flush()
        drafts.publish(session, row.id, row.row_version, user)
        clinic_id = clinic.id
    with factory() as session:
        yield session, clinic_id
    engine.dispose()


def _live(session: Session, clinic_id: int) -> tuple[Scenario, Schedule]:
    latest = drafts.published(session, clinic_id)
    return drafts.scenario_of(session, latest), drafts.document(latest)


def _part(t: datetime, scenario: Scenario) -> tuple[str, str]:
    local = t.astimezone(scenario.tz)
    return local.date().isoformat(), ("morning" if local.hour < 12 else
                                      "afternoon" if local.hour < 17 else "evening")


def test_the_offered_times_are_one_per_day_part_and_each_is_bookable(
        demo: tuple[Session, int]) -> None:
    session, clinic_id = demo
    scenario, week = _live(session, clinic_id)
    mine = next(a for a in week.appointments if a.id == "A-0004")  # Mon 08:00, many options
    _, offered = selfservice.slots_for(session, clinic_id, mine.patient, mine.id, SETTINGS,
                                       when=NOW)
    parts = [_part(s.start, scenario) for s in offered]
    # six times, each a different part of a day, on four days, earliest first
    assert len(offered) == 6 and len(set(parts)) == 6, parts
    assert len({day for day, _ in parts}) >= 3, parts
    assert [s.start for s in offered] == sorted(s.start for s in offered)
    assert min(b.start - a.start for a, b in pairwise(offered)) >= timedelta(hours=1)
    # the first of each part: the finder has nothing earlier in that part from the window on
    earliest = NOW + SETTINGS.late_cancel_hours * timedelta(hours=1)
    without = cancel_appointment(scenario, week, mine.id, "moving")
    for slot in offered:
        assert slot.start >= earliest > NOW and slot.start != mine.start
        # the finder's own answer for that time: the same room and staff
        assert find_slots(scenario, without, mine.patient, 1, slot.start)[0] == slot
        day, part = _part(slot.start, scenario)
        begin = max(earliest, datetime.fromisoformat(day).replace(
            hour={"morning": 0, "afternoon": 12, "evening": 17}[part], tzinfo=scenario.tz))
        first = find_slots(scenario, without, mine.patient, 1, begin)[0]
        assert first.start == slot.start or first.start == mine.start, (slot, first)
        # bookable: the checker accepts the move (InvalidInput with its words otherwise)
        moved = move_appointment(scenario, week, mine.id, slot.start, slot.room,
                                 dict(slot.staff))
        assert next(a for a in moved.appointments if a.id == mine.id).start == slot.start
    # and a move through the service to the last offered time goes through
    last = offered[-1]
    selfservice.reschedule(session, clinic_id, mine.patient, mine.id, last.start, None,
                           SETTINGS, NOW)
    _, now_live = _live(session, clinic_id)
    assert next(a for a in now_live.appointments if a.id == mine.id).start == last.start


def test_fewer_options_show_what_there_is_and_a_time_not_offered_is_refused(
        demo: tuple[Session, int]) -> None:
    session, clinic_id = demo
    scenario, week = _live(session, clinic_id)
    mine = next(a for a in week.appointments if a.id == "A-0005")  # only Monday morning
    _, offered = selfservice.slots_for(session, clinic_id, mine.patient, mine.id, SETTINGS,
                                       when=NOW)
    assert 1 <= len(offered) < 6, offered
    per_part = Counter(_part(s.start, scenario) for s in offered)
    assert max(per_part.values()) <= 2, per_part  # a second one per part at most
    assert all(b.start - a.start >= selfservice.SPACING
               for a, b in pairwise(offered)), offered
    # a time inside the late window, or the session's own time: refused, nothing moved
    with pytest.raises(Conflict, match="no longer free"):
        selfservice.reschedule(session, clinic_id, mine.patient, mine.id,
                               NOW + timedelta(hours=23), None, SETTINGS, NOW)
    with pytest.raises(Conflict, match="no longer free"):
        selfservice.reschedule(session, clinic_id, mine.patient, mine.id, mine.start, None,
                               SETTINGS, NOW)
    session.rollback()
    # inside the late window nothing is offered: please call
    with pytest.raises(Conflict, match="please call"):
        selfservice.slots_for(session, clinic_id, mine.patient, mine.id, SETTINGS,
                              when=mine.start - timedelta(hours=23))


def test_the_finder_skips_on_when_told_and_finds_nothing_it_would_not() -> None:
    """``find_slots(then=...)``: after each slot the search goes on from ``then(start)``; each
    slot it finds is the one the plain search finds from that time (the same room and staff:
    the checker's), and without ``then`` nothing changes."""
    scenario = load_scenario(DEMO)
    week = Schedule.from_json(json.loads(GOLDEN.read_text()))
    mine = next(a for a in week.appointments if a.id == "A-0004")
    without = cancel_appointment(scenario, week, mine.id, "moving")
    plain = find_slots(scenario, without, mine.patient, 20, NOW)
    assert [s.start for s in plain] == sorted({s.start for s in plain})
    assert any(b.start - a.start == timedelta(minutes=5)  # the grid, one start by the next
               for a, b in pairwise(plain))
    hourly = find_slots(scenario, without, mine.patient, 8, NOW,
                        then=lambda t: t + timedelta(hours=1))
    assert hourly[0] == plain[0] and len(hourly) == 8
    assert all(b.start - a.start >= timedelta(hours=1) for a, b in pairwise(hourly))
    for slot in hourly:
        assert find_slots(scenario, without, mine.patient, 1, slot.start) == [slot]
