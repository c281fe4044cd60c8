"""checkpoint notes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

Each stored checkpoint keeps the same tree head as a C2SP signed note (tlog-checkpoint), as
served at /log/checkpoint. Checkpoints of earlier tree sizes keep none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tlog_checkpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tlog_checkpoints', schema=None) as batch_op:
        batch_op.drop_column('note')
