"""server sessions

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

Server-side sessions: one row per login, checked on every request and ended on the server.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.base.db

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
