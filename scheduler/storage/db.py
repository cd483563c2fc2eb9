"""Engines, sessions and migrations: SQLite by default, PostgreSQL (psycopg 3) by one URL.

SQLite connections get ``foreign_keys=ON``, WAL and a busy timeout on every connect; the schema
is Alembic's (``upgrade`` on start; every migration runs up and down in the tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["connect", "downgrade", "session_scope", "upgrade"]


def connect(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, its pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def _config(engine: Engine) -> Iterator[Config]:
    with as_file(files("scheduler.storage").joinpath("migrations")) as folder:
        config = Config()
        config.set_main_option("script_location", str(folder))
        config.attributes["engine"] = engine
        yield config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the service does this on start)."""
    with _config(engine) as config:
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with _config(engine) as config:
        command.downgrade(config, revision)
