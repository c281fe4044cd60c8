"""inspection requests and platform records

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

Inspection requests that auditors and authorities send platforms, the platforms' answers and
their files (encrypted, as registration documents are); platforms' licences with their expiry,
their security assessment documents (encrypted) and the history of changes to their record.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inspection_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('request', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('deadline', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('requested_by_client', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('overdue_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['requested_by_client'], ['api_clients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspection_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_requests_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_requests_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_requests_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_requests_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_requests_status'), ['status'], unique=False)
    op.create_table('inspection_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['inspection_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspection_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_answers_request_id'), ['request_id'], unique=False)
    op.create_table('inspection_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['inspection_answers.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['inspection_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspection_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_files_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_files_request_id'), ['request_id'], unique=False)

    op.create_table('platform_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('platform_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_documents_client_id'), ['client_id'], unique=False)
    op.create_table('platform_licences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('reminded_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('added_at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by', sa.Integer(), nullable=True),
    sa.Column('removed_at', portal.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('platform_licences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_licences_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_platform_licences_expires_on'), ['expires_on'], unique=False)
    op.create_table('platform_record_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('old', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('new', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('changed_by', sa.Integer(), nullable=True),
    sa.Column('at', portal.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['changed_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('platform_record_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_record_changes_client_id'), ['client_id'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('platform_record_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_record_changes_client_id'))
    op.drop_table('platform_record_changes')
    with op.batch_alter_table('platform_licences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_licences_expires_on'))
        batch_op.drop_index(batch_op.f('ix_platform_licences_client_id'))
    op.drop_table('platform_licences')
    with op.batch_alter_table('platform_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_documents_client_id'))
    op.drop_table('platform_documents')
    with op.batch_alter_table('inspection_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_files_request_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_files_answer_id'))
    op.drop_table('inspection_files')
    with op.batch_alter_table('inspection_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_answers_request_id'))
    op.drop_table('inspection_answers')
    with op.batch_alter_table('inspection_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_requests_status'))
        batch_op.drop_index(batch_op.f('ix_inspection_requests_registration_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_requests_region'))
        batch_op.drop_index(batch_op.f('ix_inspection_requests_deadline'))
        batch_op.drop_index(batch_op.f('ix_inspection_requests_client_id'))
    op.drop_table('inspection_requests')
