"""``python -m bench serve``: a bounded loopback load on reading a published schedule.

For SQLite (a file) and PostgreSQL (when one answers: CHAIRTIME_TEST_POSTGRES_URL or
127.0.0.1:5432), a database is prepared with the demo clinic, a user and a published schedule;
``chairtime serve`` runs it in a process of its own (one uvicorn worker), and this process
keeps ``--connections`` requests in flight for ``--seconds`` against
``GET /api/v1/clinics/1/schedules/published``, then prints requests/s and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from scheduler.security import hash_password
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.usecases import load_input, plan_week
from solver import Options

PASSWORD = "benchmark password"
PATH = "/api/v1/clinics/1/schedules/published"


@dataclass(frozen=True)
class Load:
    database: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _prepare(url: str) -> None:
    """Demo clinic, an admin, and a published schedule (a short solve of the demo)."""
    engine = connect(url)
    upgrade(engine)
    scenario = load_input()
    with session_scope(sessions(engine)) as session:
        clinic = repo.add_clinic(session, "demo", scenario)
        repo.add_user(session, "bench@example.org", hash_password(PASSWORD), "admin")
        version = repo.scenario_version(session, clinic.id)
        planned = plan_week(scenario, Options(time_limit=3, workers=1))
        row = repo.add_schedule(session, clinic.id, version, planned.schedule)
        repo.publish(session, row, row.row_version)
    engine.dispose()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, seconds: float = 60) -> None:
    """Until ``url`` answers 200 (a server starting), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


@contextmanager
def _server(url: str, folder: Path) -> Iterator[str]:
    port = _port()
    env = {**os.environ, "CHAIRTIME_DATABASE_URL": url, "CHAIRTIME_DATA_DIR": str(folder),
           "CHAIRTIME_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "scheduler", "-q", "serve", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/openapi.json")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


async def load(url: str, headers: dict[str, str], expect: int, connections: int,
               seconds: float, name: str) -> Load:
    """Keep ``connections`` GETs of ``url`` in flight for ``seconds``; answers other than
    ``expect`` (and transport errors) count as errors."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    response = await client.get(url, headers=headers)
                except httpx.HTTPError:  # counted, as a status other than the one expected
                    errors += 1
                    continue
                if response.status_code == expect:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return Load(name, len(latencies), errors, time.perf_counter() - t0, latencies)


async def _signed_in_load(base: str, connections: int, seconds: float, database: str) -> Load:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        token = (await client.post("/api/v1/auth/token", data={
            "username": "bench@example.org", "password": PASSWORD})).json()["access_token"]
    return await load(base + PATH, {"Authorization": f"Bearer {token}"}, 200, connections,
                      seconds, database)


def _postgres() -> Iterator[str]:
    base = os.environ.get("CHAIRTIME_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    engine = create_engine(base)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception:
        return
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def each_database(console: Console) -> Iterator[tuple[str, str]]:
    """The demo prepared and served on SQLite, then on PostgreSQL when one is reachable: each
    database's name and the running service's base URL (stopped, and PostgreSQL's schema
    dropped, when the caller moves on)."""
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        pg = _postgres()
        url = next(pg, None)
        if url is not None:
            targets.append(("PostgreSQL", url))
        else:
            console.print("PostgreSQL not reachable: SQLite only", style="yellow")
        for name, database in targets:
            console.print(f"  preparing {name} …", style="dim")
            _prepare(database)
            with _server(database, Path(tmp)) as base:
                yield name, base
        if url is not None:
            next(pg, None)  # drops the schema


def serve_bench(args: argparse.Namespace, console: Console) -> int:
    seconds, connections = args.seconds, args.connections
    results = [asyncio.run(_signed_in_load(base, connections, seconds, name))
               for name, base in each_database(console)]
    t = Table(title=f"GET {PATH}: {connections} connections, {seconds:g} s, loopback")
    for col in ("database", "requests", "errors", "requests/s", "p50 ms", "p99 ms",
                "mean ms"):
        t.add_column(col, justify="left" if col == "database" else "right")
    for r in results:
        t.add_row(r.database, str(r.requests), str(r.errors), f"{r.per_second:.0f}",
                  f"{r.quantile(0.5):.1f}", f"{r.quantile(0.99):.1f}",
                  f"{statistics.mean(r.latencies) * 1000:.1f}")
    console.print(t)
    return 0 if all(r.errors == 0 for r in results) else 1
