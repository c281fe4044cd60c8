"""message language

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

The language of the messages sent to each person, chosen on the account (existing accounts:
English, until they choose on /me); the drafts of wizard steps (what was typed and not saved,
encrypted), some held against the login page when a session ended.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      server_default='en', nullable=False))
    op.create_table('step_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('held_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', portal.base.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('held_token')
    )
    with op.batch_alter_table('step_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_step_drafts_registration_id'), ['registration_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('step_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_step_drafts_registration_id'))
    op.drop_table('step_drafts')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
