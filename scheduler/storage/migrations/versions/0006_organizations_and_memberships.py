"""organizations, and a role per clinic: clinics and users belong to an organization; an
account is its organization's admin or a member of some of its clinics (a role and a staff link
each); one-time passwords must be changed; access tokens know when they were made

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

The data moves as it stood: every clinic and user joins one organization; an admin stays the
admin; every other user, whose role held in every clinic, becomes a member of every clinic with
that role and staff link (an admin's staff link becomes a manager's membership, the only place a
link lives now).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'organizations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')))
    bind = op.get_bind()
    bind.execute(sa.text("INSERT INTO organizations (id, name, created_at) "
                         "VALUES (1, 'Chairtime', CURRENT_TIMESTAMP)"))
    if bind.dialect.name == 'postgresql':
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('organizations', 'id'), 1)"))
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=False,
                                      server_default='1'))
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.alter_column('organization_id', server_default=None)
        batch_op.create_foreign_key(batch_op.f('fk_clinics_organization_id_organizations'),
                                    'organizations', ['organization_id'], ['id'])
    op.create_table(
        'memberships',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('staff_id', sa.String(length=64), nullable=True),
        sa.CheckConstraint("role IN ('front_desk', 'manager')", name=op.f('ck_memberships_role')),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'],
                                name=op.f('fk_memberships_clinic_id_clinics'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
        sa.UniqueConstraint('user_id', 'clinic_id', name=op.f('uq_memberships_user_id')))
    bind.execute(sa.text(
        "INSERT INTO memberships (user_id, clinic_id, role, staff_id) "
        "SELECT u.id, c.id, CASE WHEN u.role = 'admin' THEN 'manager' ELSE u.role END, "
        "u.staff_id FROM users u CROSS JOIN clinics c "
        "WHERE u.role <> 'admin' OR u.staff_id IS NOT NULL"))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('admin', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(), nullable=True))
    bind.execute(sa.text("UPDATE users SET admin = (role = 'admin')"))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('organization_id', server_default=None)
        batch_op.alter_column('admin', server_default=None)
        batch_op.alter_column('must_change_password', server_default=None)
        batch_op.create_foreign_key(batch_op.f('fk_users_organization_id_organizations'),
                                    'organizations', ['organization_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_users_role'), type_='check')
        batch_op.drop_column('role')
        batch_op.drop_column('staff_id')
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_column('created_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=20), nullable=False,
                                      server_default='front_desk'))
        batch_op.add_column(sa.Column('staff_id', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE users SET role = CASE WHEN admin THEN 'admin' WHEN EXISTS (SELECT 1 FROM "
        "memberships m WHERE m.user_id = users.id AND m.role = 'manager') THEN 'manager' "
        "ELSE 'front_desk' END, staff_id = (SELECT MIN(m.staff_id) FROM memberships m "
        "WHERE m.user_id = users.id)"))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('role', server_default=None)
        batch_op.create_check_constraint(batch_op.f('ck_users_role'),
                                         "role IN ('front_desk', 'manager', 'admin')")
        batch_op.drop_constraint(batch_op.f('fk_users_organization_id_organizations'),
                                 type_='foreignkey')
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('admin')
        batch_op.drop_column('organization_id')
    op.drop_table('memberships')
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_clinics_organization_id_organizations'),
                                 type_='foreignkey')
        batch_op.drop_column('organization_id')
    op.drop_table('organizations')
