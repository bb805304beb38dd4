"""Chat history: each session's questions and answers, kept in a database so a restarted
``wardwise serve`` or page continues the conversation.

Unlike the audit trail this store holds the conversation's text (it is what the model must
see again), so it is a separate database (``WARDWISE_HISTORY_URL``, default SQLite in
``$WARDWISE_HOME/history``) to be protected and backed up like the case records, and its
rows can be deleted (``forget``) without touching the audit chain. Only answered turns are
stored: a turn that failed or was refused leaves the history as it was, so it can be retried.
The table is made and upgraded by the store's migrations (:mod:`agent.app.db`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from agent.app import db

_meta = sa.MetaData()
turns = sa.Table(
    "chat_turns",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session", sa.String(80), nullable=False, index=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
)
STORE = db.Store("history", _meta, baseline_tables=("chat_turns",))


class ChatHistory:
    """Questions and answers per session id on any SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, connect_args=args)
        self._lock = threading.Lock()
        db.upgrade(self.engine, STORE)

    def append(self, session: str, question: str, answer: str) -> None:
        """Store one answered turn."""
        row = {
            "session": session,
            "ts": datetime.now(UTC).isoformat(),
            "question": question,
            "answer": answer,
        }
        with self._lock, self.engine.begin() as c:
            c.execute(turns.insert().values(**row))

    def recent(self, session: str, n: int) -> list[tuple[str, str]]:
        """The session's last ``n`` turns as ``(question, answer)``, oldest first."""
        q = (
            sa.select(turns.c.question, turns.c.answer)
            .where(turns.c.session == session)
            .order_by(turns.c.id.desc())
            .limit(n)
        )
        with self.engine.connect() as c:
            return [(r.question, r.answer) for r in c.execute(q)][::-1]

    def forget(self, session: str) -> int:
        """Delete a session's history; returns how many turns were removed."""
        with self._lock, self.engine.begin() as c:
            return c.execute(turns.delete().where(turns.c.session == session)).rowcount
