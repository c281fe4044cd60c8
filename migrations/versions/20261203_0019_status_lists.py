"""status lists

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

The signed W3C Bitstring Status List credentials (revocation, suspension) as served; each is
re-signed when a registration's status flips its bit.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('status_lists',
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('document', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('purpose')
    )
    # One row per list from the start, empty until first signed: publishing then only ever
    # updates a row it has locked, so two processes publishing the first list cannot collide.
    lists = sa.table('status_lists', sa.column('purpose', sa.String),
                     sa.column('document', sa.String),
                     sa.column('updated_at', portal.base.db.UTCDateTime()))
    op.bulk_insert(lists, [{'purpose': p, 'document': '', 'updated_at': portal.base.db.utcnow()}
                           for p in ('revocation', 'suspension')])


def downgrade() -> None:
    op.drop_table('status_lists')
