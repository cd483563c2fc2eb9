"""the front desk's attendance marks: each published session (by its ref) arrived, completed
or a no-show, kept across the live schedule's later versions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'attendance_marks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.Integer(), nullable=False),
        sa.Column('ref', sa.String(length=64), nullable=False),
        sa.Column('patient', sa.String(length=64), nullable=False),
        sa.Column('mark', sa.String(length=12), nullable=False),
        sa.Column('marked_at', sa.DateTime(), nullable=False),
        sa.Column('marked_by', sa.Integer(), nullable=True),
        sa.CheckConstraint("mark IN ('arrived', 'completed', 'no_show')",
                           name=op.f('ck_attendance_marks_mark')),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'],
                                name=op.f('fk_attendance_marks_clinic_id_clinics'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['marked_by'], ['users.id'],
                                name=op.f('fk_attendance_marks_marked_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_marks')),
        sa.UniqueConstraint('clinic_id', 'ref', name=op.f('uq_attendance_marks_clinic_id')))


def downgrade() -> None:
    op.drop_table('attendance_marks')
