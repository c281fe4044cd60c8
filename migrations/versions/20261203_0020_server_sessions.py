"""server sessions

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

Server-side sessions: one row per login (its id's SHA-256), checked on every request and ended
on the server; they replace users.session_epoch, which ended every session of an account at once.
Sessions in flight when this runs end (their cookies name no row): everyone logs in again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_sessions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', portal.base.db.UTCDateTime(), nullable=True),
    sa.Column('pending', sa.Boolean(), nullable=False),
    sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')
