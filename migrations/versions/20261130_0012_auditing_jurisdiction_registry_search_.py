"""auditing: jurisdiction, registry search columns, inspections, exports

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_exports_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_exports_user_id'), ['user_id'], unique=False)

    op.create_table('inspections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('opened_by', sa.Integer(), nullable=False),
    sa.Column('opened_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('conclusion', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('closed_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sanction_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.ForeignKeyConstraint(['closed_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['opened_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.ForeignKeyConstraint(['sanction_id'], ['sanctions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspections_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspections_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspections_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspections_status'), ['status'], unique=False)

    op.create_table('inspection_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspection_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_findings_inspection_id'), ['inspection_id'], unique=False)

    # The registry's rows are rebuilt with the new columns after the upgrade (portal.ops.migrate).
    op.execute("DELETE FROM registry")
    with op.batch_alter_table('registry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), server_default=sa.text("''"), nullable=False))
        batch_op.add_column(sa.Column('subject_kind', sqlmodel.sql.sqltypes.AutoString(length=16), server_default=sa.text("'person'"), nullable=False))
        batch_op.add_column(sa.Column('id_type', sqlmodel.sql.sqltypes.AutoString(length=32), server_default=sa.text("''"), nullable=False))
        batch_op.add_column(sa.Column('roles', sqlmodel.sql.sqltypes.AutoString(length=100), server_default=sa.text("''"), nullable=False))
        batch_op.add_column(sa.Column('risk_level', sqlmodel.sql.sqltypes.AutoString(length=8), server_default=sa.text("'low'"), nullable=False))
        batch_op.add_column(sa.Column('flag_count', sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), server_default=sa.text("''"), nullable=False))
        batch_op.add_column(sa.Column('search_text', sqlmodel.sql.sqltypes.AutoString(), server_default=sa.text("''"), nullable=False))
        batch_op.add_column(sa.Column('submitted_at', portal.base.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', portal.base.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_registry_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_risk_level'), ['risk_level'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_submitted_at'), ['submitted_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=500), server_default=sa.text("'national'"), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('jurisdiction')

    with op.batch_alter_table('registry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_registry_risk_level'))
        batch_op.drop_index(batch_op.f('ix_registry_region'))
        batch_op.drop_column('updated_at')
        batch_op.drop_column('submitted_at')
        batch_op.drop_column('search_text')
        batch_op.drop_column('display_name')
        batch_op.drop_column('flag_count')
        batch_op.drop_column('risk_level')
        batch_op.drop_column('roles')
        batch_op.drop_column('id_type')
        batch_op.drop_column('subject_kind')
        batch_op.drop_column('region')

    with op.batch_alter_table('inspection_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_findings_inspection_id'))

    op.drop_table('inspection_findings')
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspections_status'))
        batch_op.drop_index(batch_op.f('ix_inspections_registration_id'))
        batch_op.drop_index(batch_op.f('ix_inspections_region'))
        batch_op.drop_index(batch_op.f('ix_inspections_client_id'))

    op.drop_table('inspections')
    with op.batch_alter_table('audit_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_exports_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_exports_client_id'))

    op.drop_table('audit_exports')
