"""registry search terms, masked ID numbers, an index by status, and numbers indexed byte by byte on PostgreSQL

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('registry_terms',
    sa.Column('term', sa.String(length=100).with_variant(sa.String(length=100, collation='C'), 'postgresql'), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['number'], ['registry.number'], name='fk_registry_terms_number_registry', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'number')
    )
    with op.batch_alter_table('registry_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registry_terms_number'), ['number'], unique=False)
    with op.batch_alter_table('registry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_number_masked', sqlmodel.sql.sqltypes.AutoString(length=40), server_default=sa.text("''"), nullable=False))
        batch_op.create_index('ix_registry_status_number', ['status', 'number'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Number prefixes are searched as a byte-wise range (portal.records.registry.bytewise).
        op.execute('CREATE INDEX ix_registry_number_c ON registry (number COLLATE "C")')
    # Existing rows get their terms and masked ID numbers from portal.ops.migrate after the upgrade.


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP INDEX ix_registry_number_c')
    with op.batch_alter_table('registry', schema=None) as batch_op:
        batch_op.drop_index('ix_registry_status_number')
        batch_op.drop_column('id_number_masked')
    with op.batch_alter_table('registry_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_terms_number'))

    op.drop_table('registry_terms')
