"""the outbox of messages to patients and staff (change notices, reminders), each with its
idempotency key, the patients who asked for no more reminders, and patients' self-service
links (token hashes only)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Instants as plain DateTime (naive UTC, as in 0001). A partial unique index keeps one held
change notice per clinic, kind and subject (patient or staff member).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('send_after', sa.DateTime(), nullable=False),
    sa.Column('baseline', sa.JSON(), nullable=True),
    sa.Column('to_address', sa.String(length=254), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=True),
    sa.Column('unsubscribe_hash', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('held', 'pending', 'sending', 'sent', 'failed', 'dropped', 'skipped')", name=op.f('ck_outbox_status')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_outbox_clinic_id_clinics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key')),
    sa.UniqueConstraint('unsubscribe_hash', name=op.f('uq_outbox_unsubscribe_hash'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'send_after'], unique=False)
        batch_op.create_index('ix_outbox_held', ['clinic_id', 'kind', 'subject'], unique=True, sqlite_where=sa.text("status = 'held'"), postgresql_where=sa.text("status = 'held'"))

    op.create_table('mail_optouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_mail_optouts_clinic_id_clinics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_optouts')),
    sa.UniqueConstraint('clinic_id', 'patient', name=op.f('uq_mail_optouts_clinic_id'))
    )
    op.create_table('self_service_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_self_service_tokens_clinic_id_clinics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_self_service_tokens_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_service_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_self_service_tokens_token_hash'))
    )
    with op.batch_alter_table('self_service_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_self_service_tokens_live', ['clinic_id', 'patient'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('self_service_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_self_service_tokens_live', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
    op.drop_table('self_service_tokens')
    op.drop_table('mail_optouts')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_held', sqlite_where=sa.text("status = 'held'"), postgresql_where=sa.text("status = 'held'"))
        batch_op.drop_index('ix_outbox_due')
    op.drop_table('outbox')
