"""The audit trail as it was before migrations: one hash-chained table, append-only by trigger.

Created 2026-12-01 from the tables as ``metadata.create_all`` made them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$;
CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""


def upgrade() -> None:
    """Create the ``audit`` table and the triggers that refuse changing or deleting records."""
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("session", sa.String(80), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_no_{statement.lower()} BEFORE {statement} "
                "ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(_PG_APPEND_ONLY)


def downgrade() -> None:
    """Drop the audit trail (its records with it)."""
    op.drop_table("audit")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_append_only()")
