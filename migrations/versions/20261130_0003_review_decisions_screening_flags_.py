"""review: decisions, screening flags, blocklist, notifications, access log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('moderator_id', sa.Integer(), nullable=False),
    sa.Column('at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('internal_note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['moderator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_registration_id'), ['registration_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_user_id'), ['user_id'], unique=False)

    op.create_table('person_blocklist',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identity_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('id_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('legal_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lift_requested_by', sa.Integer(), nullable=True),
    sa.Column('lifted_by', sa.Integer(), nullable=True),
    sa.Column('lifted_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['lift_requested_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['lifted_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('person_blocklist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_blocklist_identity_index'), ['identity_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_blocklist_name_key'), ['name_key'], unique=False)

    op.create_table('pii_access_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pii_access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pii_access_log_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pii_access_log_registration_id'), ['registration_id'], unique=False)

    op.create_table('screening_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('screening_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_flags_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_screening_flags_registration_id'), ['registration_id'], unique=False)

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_at', portal.base.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('valid_from', portal.base.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('valid_until', portal.base.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('flag_count', sa.Integer(), nullable=False, server_default='0'))



def downgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('flag_count')
        batch_op.drop_column('valid_until')
        batch_op.drop_column('valid_from')
        batch_op.drop_column('decided_at')

    with op.batch_alter_table('screening_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_flags_registration_id'))
        batch_op.drop_index(batch_op.f('ix_screening_flags_code'))

    op.drop_table('screening_flags')
    with op.batch_alter_table('pii_access_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pii_access_log_registration_id'))
        batch_op.drop_index(batch_op.f('ix_pii_access_log_actor_id'))

    op.drop_table('pii_access_log')
    with op.batch_alter_table('person_blocklist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_blocklist_name_key'))
        batch_op.drop_index(batch_op.f('ix_person_blocklist_identity_index'))

    op.drop_table('person_blocklist')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_user_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_registration_id'))

    op.drop_table('decisions')
