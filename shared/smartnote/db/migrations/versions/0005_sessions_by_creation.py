"""sessions: an index of each user's sessions newest first, for GET /auth/sessions' pages

A page of a user's live sessions (newest first, by id among equal creation times) is a range
of this index read in order from the previous page's last session: no sort of every session
of the user, whatever the page's position. It starts with `user_id`, so it also serves what
`ix_sessions_user_id` did (ending every session of a user, the cascade of an account's
deletion), which is dropped.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sessions_user_created",
        "sessions",
        ["user_id", sa.text("created_at DESC"), "id"],
    )
    op.drop_index("ix_sessions_user_id", table_name="sessions")


def downgrade() -> None:
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.drop_index("ix_sessions_user_created", table_name="sessions")
