"""The demo week on a first start: the embedded demo clinic's week planned once and published,
so the board, patient pages and feeds have something to show on first open (``chairtime serve
--demo-week``, which ``scripts/serve`` runs).

Nothing is queued: the week is planned here, in the caller's process (a short time limit), and
stored and published as a solve's draft would be, feeds included, in one transaction. A database
that already has a published schedule for the demo clinic (a second start) is left alone.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from scheduler.service import feeds
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import now
from scheduler.usecases import plan_week
from solver import Options

__all__ = ["DEMO_SLUG", "publish_demo_week"]

log = logging.getLogger(__name__)

DEMO_SLUG = "demo"
"""The slug the first start gives the embedded demo clinic."""


def publish_demo_week(factory: sessionmaker[Session], options: Options) -> int | None:
    """Plan the demo clinic's week and publish it, unless the database has no demo clinic or
    already has a published schedule for it. Returns the published version's number, or None
    when nothing was done."""
    with session_scope(factory) as session:
        first_clinic(session)
        clinic = next((c for c in repo.clinics(session) if c.slug == DEMO_SLUG), None)
        if clinic is None:
            log.info("no demo clinic in this database: no demo week published")
            return None
        if repo.latest_published(session, clinic.id) is not None:
            log.info("the demo clinic has a published schedule already: left as it is")
            return None
        clinic_id = clinic.id
        version_number = repo.scenario_version(session, clinic_id).number
        scenario = repo.scenario_of(repo.scenario_version(session, clinic_id, version_number))
    log.info("planning the demo week (%g s) to publish it", options.time_limit)
    schedule = plan_week(scenario, options).schedule
    with factory() as session:
        if repo.latest_published(session, clinic_id) is not None:
            return None  # published by another start meanwhile
        version = repo.scenario_version(session, clinic_id, version_number)
        draft = repo.add_schedule(session, clinic_id, version, schedule, None, None, None, None)
        session.flush()
        published = repo.publish(session, draft, draft.row_version, None)
        feeds.regenerate(session, clinic_id, now())
        session.commit()
        log.info("published the demo week: version %s, %d appointments, %d unplaced",
                 published.number, len(schedule.appointments), len(schedule.unplaced))
        return published.number
