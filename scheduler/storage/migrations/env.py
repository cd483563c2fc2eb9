"""Alembic environment: the engine comes from the caller (``scheduler.storage.db.upgrade``);
batch mode so SQLite can alter tables."""

from __future__ import annotations

from alembic import context

from scheduler.storage.tables import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
