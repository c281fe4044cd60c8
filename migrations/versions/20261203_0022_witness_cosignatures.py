"""witness cosignatures

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03

The witnesses' cosignatures on the log's checkpoints (C2SP tlog-witness), one per witness and
tree size, each signature line as the witness returned it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tlog_cosignatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False),
    sa.Column('witness', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('line', sa.Text(), nullable=False),
    sa.Column('signed_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tree_size', 'witness')
    )
    with op.batch_alter_table('tlog_cosignatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tlog_cosignatures_tree_size'), ['tree_size'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tlog_cosignatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tlog_cosignatures_tree_size'))
    op.drop_table('tlog_cosignatures')
