"""the audit log knows its clinic (``clinic_id``): a manager's audit page lists every change and
publish of one clinic, never another's

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Existing entries get the clinic they can be traced to: a scenario or clinic entry names it; a
schedule's, job's or feed link's is that row's clinic; a membership's is in its ``after``. The
rest (sign-ins, accounts, a deleted clinic's rows) stay without one. A deleted clinic's entries
keep what was done and lose the clinic (``ON DELETE SET NULL``): an id SQLite may give again
never shows them to the next clinic.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_audit = sa.table('audit_log', sa.column('id', sa.Integer()), sa.column('entity', sa.String()),
                  sa.column('entity_id', sa.String()), sa.column('after', sa.JSON()),
                  sa.column('clinic_id', sa.Integer()))


def _ids(bind: sa.Connection, table: str) -> dict[str, int]:
    """A table's ids (as the audit log writes them: text) -> their clinic."""
    return {str(id_): clinic for id_, clinic in bind.execute(sa.text(
        f"SELECT id, clinic_id FROM {table}"))}  # a fixed table name


def _clinic_of(entity: str, entity_id: str, after: Any, clinics: set[str],
               owners: dict[str, dict[str, int]]) -> int | None:
    if entity in ('scenario', 'clinic'):
        return int(entity_id) if entity_id in clinics else None
    if entity in owners:
        return owners[entity].get(entity_id)
    if entity == 'user' and isinstance(after, dict):
        found = after.get('clinic_id')
        return found if isinstance(found, int) and str(found) in clinics else None
    return None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clinic_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_audit_log_clinic_id_clinics'), 'clinics',
                                    ['clinic_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_audit_log_clinic_id'), ['clinic_id'],
                              unique=False)
    bind = op.get_bind()
    clinics = {str(id_) for (id_,) in bind.execute(sa.text("SELECT id FROM clinics"))}
    owners = {'schedule': _ids(bind, 'schedules'), 'job': _ids(bind, 'jobs'),
              'feed_token': _ids(bind, 'feed_tokens')}
    found = [(row.id, _clinic_of(row.entity, row.entity_id, row.after, clinics, owners))
             for row in bind.execute(sa.select(_audit.c.id, _audit.c.entity,
                                               _audit.c.entity_id, _audit.c.after))]
    traced = [{'row': id_, 'clinic': clinic} for id_, clinic in found if clinic is not None]
    if traced:
        bind.execute(_audit.update().where(_audit.c.id == sa.bindparam('row'))
                     .values(clinic_id=sa.bindparam('clinic')), traced)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_clinic_id'))
        batch_op.drop_constraint(batch_op.f('fk_audit_log_clinic_id_clinics'),
                                 type_='foreignkey')
        batch_op.drop_column('clinic_id')
