"""person and organisation keys, screening holds cleared with a reason, restricted functions and overdue correction cases

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

Registrations and blocklist entries get a person key (the same person under another document) and
an organisation key (a USCC under any representative); existing rows get theirs from
portal.ops.migrate after the upgrade, since the keys are keyed hashes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('registrations', 'person_blocklist'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('person_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
            batch_op.add_column(sa.Column('birth_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
            batch_op.add_column(sa.Column('org_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_person_key'), ['person_key'], unique=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_birth_key'), ['birth_key'], unique=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_org_key'), ['org_key'], unique=False)
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('representative_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_registrations_representative_key'), ['representative_key'], unique=False)
    with op.batch_alter_table('screening_flags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cleared_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cleared_at', portal.base.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('clear_reason', sa.String(), server_default=sa.text("''"), nullable=False))
        batch_op.create_foreign_key('fk_screening_flags_cleared_by_users', 'users', ['cleared_by'], ['id'])
    with op.batch_alter_table('sanctions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('functions', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('overdue_case_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sanctions', schema=None) as batch_op:
        batch_op.drop_column('overdue_case_id')
        batch_op.drop_column('functions')
    with op.batch_alter_table('screening_flags', schema=None) as batch_op:
        batch_op.drop_constraint('fk_screening_flags_cleared_by_users', type_='foreignkey')
        batch_op.drop_column('clear_reason')
        batch_op.drop_column('cleared_at')
        batch_op.drop_column('cleared_by')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_representative_key'))
        batch_op.drop_column('representative_key')
    for table in ('registrations', 'person_blocklist'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_org_key'))
            batch_op.drop_index(batch_op.f(f'ix_{table}_birth_key'))
            batch_op.drop_index(batch_op.f(f'ix_{table}_person_key'))
            batch_op.drop_column('org_key')
            batch_op.drop_column('birth_key')
            batch_op.drop_column('person_key')
