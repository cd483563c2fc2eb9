"""an appointment's room may be empty: a video session (a KAP integration follow-up, a
protocol with ``video: true``) takes no room, so a stored schedule keeps what schedule.json says
(``"room": null``)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.alter_column('room', existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # A video session has no room to give back: such rows cannot stay in the older schema.
    op.execute("DELETE FROM appointments WHERE room IS NULL")
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.alter_column('room', existing_type=sa.String(length=64), nullable=False)
