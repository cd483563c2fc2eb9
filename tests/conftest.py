"""Shared builders: the smallest scenarios, solved and re-checked."""

from __future__ import annotations

import copy
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from scheduler.check import Violation, check
from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.usecases import Replanned, plan_week, read_events, replan
from scheduler.validate import validate_scenario
from solver import Options

# The long differential profile (tests/test_differential.py): registered here, before pytest
# reads --hypothesis-profile, so `pytest -m fuzz --hypothesis-profile=fuzz` works.
settings.register_profile("fuzz", max_examples=100_000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])

# How scripts/test hands modules to its worker processes (the longest first).
pytest_plugins = ("tests.distribution",)

SHARED = Path(__file__).resolve().parents[2] / "shared"
# The contract's own example beside the project (as CI lays it out); a copy when run elsewhere.
TINY = next(p for p in (SHARED / "examples" / "tiny.yaml",
                        Path(__file__).parent / "fixtures" / "tiny.yaml") if p.exists())
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "demo.yaml"
DEMO_CLOCK = datetime.fromisoformat("2026-12-04T12:00:00+00:00")
"""The clock of every test that edits, books or plans a fixed week (the demo clinic's and the
small clinic's start on Monday 2026-12-07): the Friday before it, so "the past" and "from now"
never depend on the day the suite runs. Give it to a service as ``Settings(clock=DEMO_CLOCK)``
or ``CHAIRTIME_CLOCK`` (:data:`DEMO_ENV`), to a service function as ``when``/``at``."""
DEMO_ENV = {"CHAIRTIME_CLOCK": DEMO_CLOCK.isoformat()}

ESK = {
    "id": "esk",
    "name": "Esketamine 84 mg",
    "phases": [{"name": "intake", "minutes": 10}, {"name": "dosing", "minutes": 15},
               {"name": "monitoring", "minutes": 120}, {"name": "discharge", "minutes": 5}],
    "turnover_minutes": 10,
    "room_features": ["recliner"],
    "staff": [{"role": "nurse", "qualification": "spravato",
               "modes": {"intake": "hands_on", "dosing": "hands_on", "monitoring": "monitor",
                         "discharge": "hands_on"}}],
    "on_site": [{"role": "prescriber", "phases": ["dosing", "monitoring"]}],
}


def scenario_dict(**overrides: Any) -> dict[str, Any]:
    """One open Monday (08:00-18:00), one recliner room, one nurse, one prescriber, no patients."""
    data: dict[str, Any] = {
        "version": 1,
        "clinic": {"name": "Test Clinic", "timezone": "America/New_York", "slot_minutes": 5,
                   "hours": {"mon": [["08:00", "18:00"]]}},
        "horizon": {"start": "2026-12-07", "days": 1},
        "protocols": [copy.deepcopy(ESK)],
        "rooms": [{"id": "R1", "features": ["recliner"], "chairs": 1}],
        "staff": [
            {"id": "N1", "role": "nurse", "qualifications": ["spravato"], "max_patients": 4,
             "shifts": {"mon": [["08:00", "18:00"]]}},
            {"id": "D1", "role": "prescriber", "max_patients": 0,
             "shifts": {"mon": [["08:00", "18:00"]]}},
        ],
        "patients": [],
    }
    data.update(overrides)
    return data


def patients(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"id": f"P{i:02d}", "protocol": "esk", **fields} for i in range(1, n + 1)]


def solve_data(data: dict[str, Any], seconds: float = 1.0) -> tuple[Scenario, dict[str, Any]]:
    """Solved and checked. These weeks' placements are proven in milliseconds; the rest of the
    limit polishes soft goals, which only the tests about them need (they ask for more)."""
    scenario = validate_scenario(data)
    planned = plan_week(scenario, Options(time_limit=seconds, workers=2))
    assert planned.violations == [], planned.violations
    return scenario, planned.schedule.to_json()


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


def shift(appointment: dict[str, Any], minutes: int) -> None:
    """Move an appointment (and its phases) by ``minutes``, in place."""
    def move(text: str) -> str:
        return (datetime.fromisoformat(text) + timedelta(minutes=minutes)).isoformat()

    appointment["start"] = move(appointment["start"])
    appointment["end"] = move(appointment["end"])
    for p in appointment["phases"]:
        p["start"], p["end"] = move(p["start"]), move(p["end"])


def broken(scenario: Scenario, document: dict[str, Any]) -> set[str]:
    return rules(check(scenario, document))


@pytest.fixture
def tiny_path() -> Path:
    return TINY


def replan_events(scenario: Scenario, document: dict[str, Any], events: list[dict[str, Any]],
                  now: datetime, options: Options) -> Replanned:
    """Re-plan a solved week (its schedule.json) after events given as plain data."""
    previous = Schedule.from_json(document)
    parsed = [e for _, e in read_events({"events": events}, scenario, previous, now)]
    return replan(scenario, previous, parsed, now, options)


# ----------------------------------------------------------------------------- databases
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@functools.cache
def postgres_url() -> str | None:
    """A PostgreSQL that answers: CHAIRTIME_TEST_POSTGRES_URL, else one on localhost."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    url = os.environ.get("CHAIRTIME_TEST_POSTGRES_URL", PG_DEFAULT)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError:
        return None
    finally:
        engine.dispose()
    return url


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database of ``kind``: a SQLite file in ``folder``, or a PostgreSQL schema of its
    own, dropped after. Without a PostgreSQL that half is skipped, saying so; under CI=true it
    fails."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'chairtime.db'}"
        return
    from sqlalchemy import create_engine, text

    base = postgres_url()
    if base is None:
        where = os.environ.get("CHAIRTIME_TEST_POSTGRES_URL", PG_DEFAULT)
        message = (f"PostgreSQL is not reachable at {where}: the PostgreSQL half of the "
                   "storage tests did not run")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite and on PostgreSQL, a fresh database each."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    """For a module's shared databases (``fresh_database``): each of its tests on both kinds."""
    kind: str = request.param
    return kind


@functools.cache
def password_hash(password: str = "correct horse battery") -> str:
    """argon2 is slow on purpose: each test password is hashed once a session."""
    from scheduler.security import hash_password

    return hash_password(password)


# ----------------------------------------------------------------------------- marks
DATABASE_FIXTURES = {"database_url", "database_kind"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``db`` for a test on a database fixture, ``browser`` for one on the Playwright browser;
    ``solve``, ``slow`` and ``fuzz`` are marked where they are true (pyproject.toml says what
    each means). ``bash scripts/test --quick`` runs what has none of them."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & DATABASE_FIXTURES:
            item.add_marker(pytest.mark.db)
        if "browser" in names:
            item.add_marker(pytest.mark.browser)


# ----------------------------------------------------------------------------- the browser
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which Playwright drives (its own browser download fails here)."""


def needs(path: Path, what: str) -> None:
    """Skip (fail under CI) when ``path``, something the test needs installed, is missing."""
    if not path.exists():
        message = f"{path} is missing ({what})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for one module's page tests."""
    from playwright.sync_api import sync_playwright

    needs(CHROMIUM, "apt-get install -y chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()
