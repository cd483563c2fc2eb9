"""Alembic environment: the engine comes from the caller (``scheduler.storage.db.upgrade``);
batch mode so SQLite can alter tables."""

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
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True, include_object=_include)
    with context.begin_transaction():
        context.run_migrations()
