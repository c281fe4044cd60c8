"""site probe findings on attestations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attestations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site_probe', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('attestations', schema=None) as batch_op:
        batch_op.drop_column('site_probe')

