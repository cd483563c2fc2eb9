"""``python -m bench feeds``: a bounded loopback load on one patient's calendar feed.

First a bare FastAPI endpoint (``async def`` returning the same bytes, nothing else) in a uvicorn
process of its own: the ceiling. Then, for SQLite (a file) and PostgreSQL (when one answers:
CHAIRTIME_TEST_POSTGRES_URL or 127.0.0.1:5432), the demo clinic solved and published (its feeds
rendered in the publish), one patient's link issued, and ``chairtime serve`` (one uvicorn worker,
rate limits raised out of the way) under the same load on ``GET /feeds/{token}.ics``: once as a
first fetch (200 and the body), once as a calendar's poll with ``If-None-Match`` (304). Each run
keeps ``--connections`` requests in flight for ``--seconds`` from this process (httpx), and
reports requests/s, p50/p99 latency and the share of the bare endpoint's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI, Response
from rich.console import Console
from rich.table import Table

from bench.serve import Load, _port, _postgres, load, wait_up
from scheduler.service.feeds import regenerate as regenerate_feeds
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import load_input, plan_week
from solver import Options

BODY_FILE = "CHAIRTIME_BENCH_BODY"
UNLIMITED = {"CHAIRTIME_FEED_TOKEN_LIMIT": "100000", "CHAIRTIME_FEED_ADDRESS_LIMIT": "1000000",
             "CHAIRTIME_FEED_LIMIT_SECONDS": "1"}


def bare_app() -> FastAPI:
    """The ceiling: FastAPI answering the feed's bytes (read once, from $CHAIRTIME_BENCH_BODY)
    with its content type, and nothing else."""
    body = Path(os.environ[BODY_FILE]).read_bytes()
    app = FastAPI()

    @app.get("/bare.ics")
    async def bare() -> Response:
        return Response(body, media_type="text/calendar")

    return app


def _prepare(url: str) -> str:
    """Demo clinic solved (3 s) and published with its feeds; a link to the feed of the patient
    with the most appointments. Returns the token."""
    engine = connect(url)
    upgrade(engine)
    scenario = load_input()
    with session_scope(sessions(engine)) as session:
        clinic = repo.add_clinic(session, "demo", scenario)
        version = repo.scenario_version(session, clinic.id)
        planned = plan_week(scenario, Options(time_limit=3, workers=1))
        row = repo.add_schedule(session, clinic.id, version, planned.schedule)
        repo.publish(session, row, row.row_version)
        regenerate_feeds(session, clinic.id, datetime.now(UTC))
        patients = [a.patient for a in planned.schedule.appointments]
        busiest = max(set(patients), key=patients.count)
        token, _ = repo.issue_feed_token(session, clinic.id, "patient", busiest)
    engine.dispose()
    return token


@contextmanager
def _process(command: list[str], env: dict[str, str], probe: str) -> Iterator[str]:
    port = _port()
    log = Path(tempfile.gettempdir()) / f"chairtime-bench-feeds-{port}.log"
    with log.open("wb") as out:  # kept for a look when a run reports errors
        process = subprocess.Popen([*command, "--port", str(port)], env={**os.environ, **env},
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + probe)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def feeds_bench(args: argparse.Namespace, console: Console) -> int:
    seconds, connections = args.seconds, args.connections
    results: list[tuple[str, Load]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        targets = [("SQLite", f"sqlite:///{folder / 'bench.db'}")]
        pg = _postgres()
        pg_url = next(pg, None)
        if pg_url is not None:
            targets.append(("PostgreSQL", pg_url))
        else:
            console.print("PostgreSQL not reachable: SQLite only", style="yellow")
        bare_done, size = False, 0
        for name, database in targets:
            console.print(f"  preparing {name} …", style="dim")
            token = _prepare(database)
            env = {"CHAIRTIME_DATABASE_URL": database, "CHAIRTIME_DATA_DIR": str(folder),
                   "CHAIRTIME_LOG_LEVEL": "WARNING", "CHAIRTIME_SCHEDULER": "false", **UNLIMITED}
            path = f"/feeds/{token}.ics"
            with _process([sys.executable, "-m", "scheduler", "-q", "serve"], env,
                          "/robots.txt") as base:
                first = httpx.get(base + path)
                if not bare_done:  # the ceiling, on the same bytes
                    (folder / "body.ics").write_bytes(first.content)
                    size = len(first.content)
                    with _process([sys.executable, "-m", "uvicorn", "bench.feeds:bare_app",
                                   "--factory", "--log-level", "warning"],
                                  {BODY_FILE: str(folder / "body.ics")}, "/bare.ics") as bare:
                        results.append(("bare FastAPI, same bytes", asyncio.run(load(
                            bare + "/bare.ics", {}, 200, connections, seconds, "—"))))
                    bare_done = True
                results.append(("feed, 200 (no ETag)", asyncio.run(load(
                    base + path, {}, 200, connections, seconds, name))))
                results.append(("feed, If-None-Match: 304", asyncio.run(load(
                    base + path, {"If-None-Match": first.headers["etag"]}, 304, connections,
                    seconds, name))))
        if pg_url is not None:
            next(pg, None)  # drops the schema
    ceiling = results[0][1].per_second
    t = Table(title=f"GET one patient's feed ({size} bytes): {connections} connections, "
                    f"{seconds:g} s each, loopback, one uvicorn worker")
    for col in ("endpoint", "database", "requests", "errors", "requests/s", "of bare",
                "p50 ms", "p99 ms", "mean ms"):
        t.add_column(col, justify="left" if col in ("endpoint", "database") else "right")
    for label, r in results:
        t.add_row(label, r.database, str(r.requests), str(r.errors), f"{r.per_second:.0f}",
                  f"{r.per_second / ceiling:.0%}", f"{r.quantile(0.5):.1f}",
                  f"{r.quantile(0.99):.1f}", f"{statistics.mean(r.latencies) * 1000:.1f}"
                  if r.latencies else "—")
    console.print(t)
    return 0 if all(r.errors == 0 for _, r in results) else 1
