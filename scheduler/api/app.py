"""The HTTP service: ``create_app(settings)`` gives the FastAPI app.

On start (``lifespan``) it makes its files its owner's alone (the data directory 0700, files
0600, from now on by the umask; :func:`scheduler.storage.db.private_files`), upgrades the
database, loads the embedded demo clinic into an empty
one, creates a first admin when there is no user (its one-time password is logged once), keeps
feed tokens out of every log, starts the job runner, and starts the scheduled jobs when this
process holds the database's jobs lock; on stop it stops them.

Limits before work: a request body is counted as it arrives and refused with 413 past
``max_body_bytes`` (``max_upload_bytes`` for a whole scenario), before it is parsed or its
sender signed in; a JSON body nested too deep is a 422 before the service walks it.

Behind a proxy (``proxy_headers``) the client's address and scheme are the forwarded ones when
the request comes from ``forwarded_allow_ips``, whatever server runs the app.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from scheduler import pages
from scheduler.api import docs, errors, limits, redact
from scheduler.api.routes import (
    appointments,
    audit,
    auth,
    clinics,
    feeds,
    jobs,
    live,
    mail,
    resources,
    schedules,
    users,
)
from scheduler.jobs import ScheduledJobs
from scheduler.service.accounts import FIRST_ADMIN, bootstrap
from scheduler.service.throttle import SignInGuard
from scheduler.settings import Settings
from scheduler.storage.db import connect, private_files, sessions, upgrade
from scheduler.worker import JobRunner

log = logging.getLogger(__name__)

API = "/api/v1"


def create_app(settings: Settings | None = None, *, run_jobs: bool = True) -> FastAPI:
    """The service for ``settings`` (default: read from ``CHAIRTIME_*``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        files = ExitStack()
        files.enter_context(private_files(settings.data_dir, settings.database))
        unredact = redact.install()
        engine = connect(settings.database)
        upgrade(engine)
        app.state.sessions = sessions(engine)
        app.state.settings = settings
        app.state.rendered = OrderedDict()
        password = bootstrap(app.state.sessions)
        if password is not None:
            log.warning("first admin: %s, one-time password: %s (shown once; add your own "
                        "users and keep this one safe)", FIRST_ADMIN, password)
        app.state.first_password = password
        app.state.sign_in_guard = SignInGuard(settings)  # per process, in memory
        scheduled = (ScheduledJobs(engine, settings) if run_jobs and settings.scheduler
                     else None)
        # Jobs left running by a stopped service are failed by the lock's holder only: another
        # process's runner may be running them right now.
        reclaim = scheduled.acquire() if scheduled is not None else True
        runner = JobRunner(engine, settings.database, settings.max_solves) if run_jobs else None
        if runner is not None:
            runner.start(reclaim=reclaim)
        app.state.runner = runner
        if scheduled is not None:
            scheduled.start()
        app.state.scheduled = scheduled
        feeds.install(app, settings)
        try:
            yield
        finally:
            if scheduled is not None:
                scheduled.stop()
            if runner is not None:
                runner.stop()
            engine.dispose()
            unredact()
            files.close()

    app = FastAPI(title="Chairtime", version="1", lifespan=lifespan,
                  summary="Schedules for ketamine and esketamine clinics: chairs, nurses, "
                          "prescribers; solved by CP-SAT, checked independently.",
                  docs_url=None, redoc_url=None, dependencies=[Depends(limits.shallow_json)])
    errors.install(app, pages.page_error)
    app.add_middleware(limits.BodyLimit, default=settings.max_body_bytes, page=pages.page_error,
                       larger=[(API + path, settings.max_upload_bytes) for path in clinics.WHOLE])
    app.add_middleware(redact.LogErrors)
    for module in (auth, users, clinics, jobs, schedules, appointments, live, audit):
        app.include_router(module.router, prefix=API)
    for router in (resources.rooms, resources.staff, resources.protocols, resources.patients,
                   feeds.links):
        app.include_router(router, prefix=API)
    app.include_router(feeds.public)
    app.include_router(mail.public)
    pages.install(app)
    docs.install(app)
    if settings.proxy_headers:  # outermost: every part sees the client's address and scheme
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app
