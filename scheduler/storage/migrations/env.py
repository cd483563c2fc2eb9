"""Alembic environment: the engine comes from the caller (``scheduler.storage.db.upgrade``);
batch mode so SQLite can alter tables, with its foreign keys off while it does."""

from __future__ import annotations

from alembic import context

from scheduler.storage.tables import Base

KEPT_BY_OTHERS = {"apscheduler_jobs"}
"""Tables a migration creates but no model maps (APScheduler's job store): autogenerate leaves
them alone."""


def _include(obj: object, name: str | None, type_: str, reflected: bool,
             compare_to: object) -> bool:
    return not (type_ == "table" and name in KEPT_BY_OTHERS)


engine = context.config.attributes["engine"]
with engine.connect() as connection:
    # SQLite alters a table by copying it and dropping the old one: with foreign keys on, the
    # drop would cascade (tokens, memberships gone) or fail. They go off around the migration
    # (a pragma outside any transaction), and a check after it must find nothing broken.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True, include_object=_include)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left rows whose references are broken: {broken}")
