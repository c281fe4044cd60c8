"""age band, data confirmation, system sanctions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_band', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False, server_default='adult'))
        batch_op.add_column(sa.Column('data_confirmed_at', portal.base.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('sanctions', schema=None) as batch_op:
        batch_op.alter_column('issued_by',
               existing_type=sa.INTEGER(),
               nullable=True)



def downgrade() -> None:
    with op.batch_alter_table('sanctions', schema=None) as batch_op:
        batch_op.alter_column('issued_by',
               existing_type=sa.INTEGER(),
               nullable=False)

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('data_confirmed_at')
        batch_op.drop_column('age_band')

