"""amendments

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03

Changes after approval: an approved registration's holder changes answers in a working copy
(the amendment) that a moderator reviews; the approved answers stay as they are until then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('amendments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('pending_for', sa.Integer(), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('subject_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('roles', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
    sa.Column('identity_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('site_probe', sa.JSON(), nullable=True),
    sa.Column('signed_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', portal.base.db.UTCDateTime(), nullable=True),
    sa.Column('decided_at', portal.base.db.UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('internal_note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pending_for')
    )
    with op.batch_alter_table('amendments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_amendments_registration_id'), ['registration_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_amendments_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('amendments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_amendments_status'))
        batch_op.drop_index(batch_op.f('ix_amendments_registration_id'))
    op.drop_table('amendments')
