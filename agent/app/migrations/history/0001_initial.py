"""Chat history as it was before migrations: one table of answered turns.

Created 2026-12-01 from the tables as ``metadata.create_all`` made them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create ``chat_turns``, indexed by session."""
    op.create_table(
        "chat_turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session", sa.String(80), nullable=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_index("ix_chat_turns_session", "chat_turns", ["session"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("chat_turns")
