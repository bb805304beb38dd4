"""The audit trail: one append-only, hash-chained table of turns and tool calls.

Each record's ``hash`` is the SHA-256 of the previous record's hash and this record's
canonical JSON, so changing, deleting or reordering any record breaks every hash after it;
``verify`` walks the chain. Free text (questions, answers, tool text arguments) is stored as a
digest and a length, never verbatim: the audit proves what happened without holding PHI.
SQLite by default (``sqlite:///...``); any SQLAlchemy URL (PostgreSQL) works.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa

GENESIS = "0" * 64
_meta = sa.MetaData()
records = sa.Table(
    "audit",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("session", sa.String(80), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)


class AuditError(RuntimeError):
    """The audit could not be written; the action must not proceed unaudited."""


def digest(text: str) -> dict:
    """A stand-in for free text: its SHA-256 prefix and length."""
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], "chars": len(text)}


def _canonical(row: dict) -> str:
    keys = ("ts", "kind", "session", "role", "payload")
    return json.dumps({k: row[k] for k in keys}, sort_keys=True, ensure_ascii=False)


def _hash(prev: str, row: dict) -> str:
    return hashlib.sha256((prev + _canonical(row)).encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, url: str):
        self.engine = sa.create_engine(url, future=True)
        _meta.create_all(self.engine)
        if self.engine.dialect.name == "sqlite":
            with self.engine.begin() as c:
                for op in ("UPDATE", "DELETE"):
                    c.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON audit "
                        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
                    )

    def append(self, kind: str, session: str, role: str, payload: dict) -> str:
        """Add one record; raise :class:`AuditError` if it cannot be written."""
        try:
            with self.engine.begin() as c:
                last = c.execute(sa.select(records.c.hash).order_by(records.c.id.desc()).limit(1))
                prev = last.scalar() or GENESIS
                row = {
                    "ts": datetime.now(UTC).isoformat(),
                    "kind": kind,
                    "session": session,
                    "role": role,
                    "payload": json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str),
                }
                h = _hash(prev, row)
                c.execute(records.insert().values(**row, prev=prev, hash=h))
                return h
        except sa.exc.SQLAlchemyError as e:
            raise AuditError(f"the audit trail could not be written: {e.orig or e}") from e

    def verify(self) -> tuple[bool, int, str]:
        """Walk the chain: ``(ok, records checked, message)``."""
        prev = GENESIS
        n = 0
        with self.engine.connect() as c:
            for row in c.execute(sa.select(records).order_by(records.c.id)).mappings():
                n += 1
                if row["prev"] != prev or _hash(prev, dict(row)) != row["hash"]:
                    return False, n, f"record {row['id']} does not match the chain"
                prev = row["hash"]
        return True, n, f"{n} records, chain intact"

    def rows(self) -> list[dict]:
        with self.engine.connect() as c:
            return [
                dict(r) for r in c.execute(sa.select(records).order_by(records.c.id)).mappings()
            ]
