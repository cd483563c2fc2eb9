"""Engines, sessions and migrations: SQLite by default, PostgreSQL (psycopg 3) by one URL.

SQLite connections get ``foreign_keys=ON``, WAL and a busy timeout on every connect; the schema
is Alembic's (``upgrade`` on start; every migration runs up and down in the tests).
``try_lock`` takes a named lock that one process at a time can hold (the scheduled jobs').
``private_files`` keeps what the service writes (the database, its WAL, backups, reports) its
owner's alone.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Lock", "connect", "downgrade", "first_line", "private_files", "session_scope",
           "try_lock", "upgrade"]

log = logging.getLogger(__name__)


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


def first_line(exc: BaseException) -> str:
    """A database error in one line: the driver's message, without the SQL and the link to
    SQLAlchemy's background page (``connection to server at "127.0.0.1", port 5432 failed:
    Connection refused``)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


class Lock:
    """A named lock held by this process until :meth:`release` (or until the process ends)."""

    def __init__(self, name: str, release: Callable[[], None]) -> None:
        self.name = name
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()


def try_lock(engine: Engine, name: str) -> Lock | None:
    """Take the database's lock ``name`` unless another process holds it (then None).

    PostgreSQL: a session-level advisory lock (keyed by the schema and ``name``) on a connection
    kept open for it. SQLite: an exclusive ``flock`` on ``<database>.<name>.lock`` beside the
    file (every process of one SQLite database is on its machine). Both end with the process,
    so a killed holder never leaves the lock taken.
    """
    url = engine.url
    if url.get_backend_name() == "postgresql":
        connection = engine.connect()
        try:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
            digest = hashlib.sha256(f"chairtime:{schema}:{name}".encode()).digest()
            key = int.from_bytes(digest[:8], "big", signed=True)
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                     {"key": key}).scalar()
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return None

        def unlock_pg() -> None:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
            except Exception:  # the connection is gone: so is the lock
                log.debug("releasing lock %s: connection already closed", name, exc_info=True)
            finally:
                connection.close()

        return Lock(name, unlock_pg)
    if url.get_backend_name() != "sqlite":
        raise ValueError(f"no lock for a {url.get_backend_name()} database")
    if not url.database or url.database == ":memory:":
        return Lock(name, lambda: None)  # a database of this process alone
    path = Path(url.database).with_name(f"{Path(url.database).name}.{name}.lock")
    handle = path.open("a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None

    def unlock_file() -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    return Lock(name, unlock_file)


# ----------------------------------------------------------------------------- file modes
PRIVATE_UMASK = 0o077
"""Files 0600 and folders 0700: the owner's alone."""


@contextmanager
def private_files(data_dir: Path, database_url: str) -> Iterator[None]:
    """While the block runs, every file and folder this process creates (and its worker
    processes, which inherit the umask) is its owner's alone: the database and its ``-wal`` and
    ``-shm``, backups, what-if reports, lock files. On entering, the data directory becomes
    0700 and everything already in it, and a SQLite database kept elsewhere with its ``-wal``,
    ``-shm``, journal and locks, loses group and other access (the owner's bits stay)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        for folder, dirs, names in os.walk(data_dir):  # symbolic links are not followed
            for name in (*dirs, *names):
                _owner_only(Path(folder) / name)
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            database = Path(url.database)
            for path in (database, *database.parent.glob(f"{glob.escape(database.name)}[-.]*")):
                _owner_only(path)
        yield
    finally:
        os.umask(previous)


def _owner_only(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            path.chmod(stat.S_IMODE(mode) & ~0o077)
    except FileNotFoundError:  # gone meanwhile (a -shm at a checkpoint)
        pass
