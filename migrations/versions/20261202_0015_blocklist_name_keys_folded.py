"""blocklist name keys folded as screening compares names: NFKC, format characters removed

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

A name on the person blocklist is compared by its key. Keys made before screening removed format
characters (a zero-width space in 李\u200b四) kept them, so a folded name would not match; this
recomputes every key. The rule is written out here, as it was when this revision was made.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fold(text: str) -> str:
    unified = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    visible = "".join(ch for ch in unified if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def upgrade() -> None:
    blocklist = sa.table("person_blocklist", sa.column("id", sa.Integer),
                         sa.column("legal_name", sa.String), sa.column("name_key", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(blocklist.c.id, blocklist.c.legal_name,
                                        blocklist.c.name_key)).all()
    for row in rows:
        key = _fold(row.legal_name or "")[:100]
        if key != row.name_key:
            connection.execute(blocklist.update().where(blocklist.c.id == row.id)
                               .values(name_key=key))


def downgrade() -> None:
    # The old keys only kept invisible characters: folded keys are as good for any version.
    pass
