"""case references and deadlines

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03

A buyer's complaint gets a reference, the key to its public page; every case gets a deadline,
the end of a day in China counted from the day it was received. Cases opened before this
revision get the deadline the rule gives them (docs/decisions.md, "Case deadlines"); earlier
complaints have no reference (their buyers were never given one).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rule as this revision sets it (portal.oversight.cases.ANSWER_DAYS may change later).
ANSWER_DAYS = {"complaint": 7, "violation_report": 7, "correction_overdue": 3,
               "linked_blacklisting": 3, "moderator": 14}
CHINA_TZ = timezone(timedelta(hours=8), "CST")


def _deadline(source: str, received: datetime) -> datetime:
    day = received.astimezone(CHINA_TZ).date() + timedelta(days=ANSWER_DAYS.get(source, 7))
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA_TZ).astimezone(UTC)


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('deadline', portal.base.db.UTCDateTime(), nullable=True))
    cases = sa.table('cases', sa.column('id', sa.Integer()), sa.column('source', sa.String()),
                     sa.column('created_at', portal.base.db.UTCDateTime()),
                     sa.column('deadline', portal.base.db.UTCDateTime()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(cases.c.id, cases.c.source, cases.c.created_at)).all()
    for case_id, source, created_at in rows:
        bind.execute(cases.update().where(cases.c.id == case_id)
                     .values(deadline=_deadline(source, created_at)))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('deadline', existing_type=portal.base.db.UTCDateTime(),
                              nullable=False)
        batch_op.create_index(batch_op.f('ix_cases_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_reference'), ['reference'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_reference'))
        batch_op.drop_index(batch_op.f('ix_cases_deadline'))
        batch_op.drop_column('deadline')
        batch_op.drop_column('reference')
