"""The HTTP service: ``create_app(settings)`` gives the FastAPI app.

On start (``lifespan``) it upgrades the database, loads the embedded demo clinic into an empty
one, creates a first admin when there is no user (its one-time password is logged once), and
starts the job runner; on stop it stops the runner.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from scheduler.api import errors
from scheduler.api.routes import (
    appointments,
    auth,
    clinics,
    jobs,
    resources,
    schedules,
    users,
)
from scheduler.api.security import hash_password
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import load_input
from scheduler.worker import JobRunner

log = logging.getLogger(__name__)

API = "/api/v1"
FIRST_ADMIN = "admin@chairtime.local"


def bootstrap(factory: object, settings: Settings) -> str | None:
    """The demo clinic in an empty database, and a first admin when there is no user.
    Returns that admin's one-time password (None when users exist)."""
    with session_scope(factory) as session:  # type: ignore[arg-type]
        if not repo.clinics(session):
            repo.add_clinic(session, "demo", load_input())
            log.info("loaded the embedded demo clinic")
        if repo.count_users(session):
            return None
        password = secrets.token_urlsafe(12)
        repo.add_user(session, FIRST_ADMIN, hash_password(password), "admin")
        return password


def create_app(settings: Settings | None = None, *, run_jobs: bool = True) -> FastAPI:
    """The service for ``settings`` (default: read from ``CHAIRTIME_*``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = connect(settings.database)
        upgrade(engine)
        app.state.sessions = sessions(engine)
        app.state.settings = settings
        app.state.rendered = OrderedDict()
        password = bootstrap(app.state.sessions, settings)
        if password is not None:
            log.warning("first admin: %s, one-time password: %s (shown once; add your own "
                        "users and keep this one safe)", FIRST_ADMIN, password)
        app.state.first_password = password
        runner = JobRunner(engine, settings.database, settings.max_solves) if run_jobs else None
        if runner is not None:
            runner.start()
        app.state.runner = runner
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            engine.dispose()

    app = FastAPI(title="Chairtime", version="1", lifespan=lifespan,
                  summary="Schedules for ketamine and esketamine clinics: chairs, nurses, "
                          "prescribers; solved by CP-SAT, checked independently.")
    errors.install(app)
    for module in (auth, users, clinics, jobs, schedules, appointments):
        app.include_router(module.router, prefix=API)
    for router in (resources.rooms, resources.staff, resources.protocols, resources.patients):
        app.include_router(router, prefix=API)
    return app
