"""a schedule remembers the published version it was made from (``made_from_id``): a draft
made before a later publish is superseded and can no longer be published over it; a published
version names the one it replaced (direct edits and undo build on it)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

Existing rows are filled in as they most likely were made: a published version from the one
numbered just before it; a draft from the clinic's latest version published before the draft
was created (none: nothing was published then).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('made_from_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_schedules_made_from_id_schedules'),
                                    'schedules', ['made_from_id'], ['id'])
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE schedules SET made_from_id = (SELECT p.id FROM schedules p "
        "WHERE p.clinic_id = schedules.clinic_id AND p.status = 'published' "
        "AND p.number = schedules.number - 1) WHERE status = 'published'"))
    bind.execute(sa.text(
        "UPDATE schedules SET made_from_id = (SELECT p.id FROM schedules p "
        "WHERE p.clinic_id = schedules.clinic_id AND p.status = 'published' "
        "AND p.published_at <= schedules.created_at ORDER BY p.number DESC LIMIT 1) "
        "WHERE status = 'draft'"))


def downgrade() -> None:
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_schedules_made_from_id_schedules'),
                                 type_='foreignkey')
        batch_op.drop_column('made_from_id')
