"""transparency log: entries, complete-subtree hashes, checkpoints

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tlog_entries',
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('entry', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('index')
    )
    op.create_table('tlog_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index')
    )
    op.create_table('tlog_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False),
    sa.Column('root_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('timestamp', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kid', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tree_size')
    )


def downgrade() -> None:
    op.drop_table('tlog_checkpoints')
    op.drop_table('tlog_nodes')
    op.drop_table('tlog_entries')
