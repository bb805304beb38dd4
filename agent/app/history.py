"""Chat history: each session's questions and answers, kept in a database so a restarted
``wardwise serve`` or page continues the conversation.

Unlike the audit trail this store holds the conversation's text (it is what the model must
see again), so it is a separate database (``WARDWISE_HISTORY_URL``, default SQLite in
``$WARDWISE_HOME/history``) to be protected and backed up like the case records, and its
rows can be deleted (``forget``) without touching the audit chain. Only answered turns are
stored: a turn that failed or was refused leaves the history as it was, so it can be retried.
The table is made and upgraded by the store's migrations (:mod:`agent.app.db`).

Retention: :meth:`ChatHistory.purge` deletes the turns older than a given age
(``wardwise history purge --older-than 30d``), and :class:`Retention` does so once at start and
then daily while ``wardwise up`` or ``wardwise serve`` runs (``WARDWISE_HISTORY_RETENTION_DAYS``).
On SQLite deleted rows are overwritten (``PRAGMA secure_delete``) and the write-ahead log is
emptied into the file after each delete, so the text is gone from both files, not only from the
table; PostgreSQL reclaims the space at its next ``VACUUM``
(autovacuum). The audit trail holds digests only and is never purged with the history.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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
_INSERT = turns.insert()  # built once (a statement per append cost more CPU)
_RECENT = (  # built once too: a session's last n turns, newest first
    sa.select(turns.c.question, turns.c.answer)
    .where(turns.c.session == sa.bindparam("session"))
    .order_by(turns.c.id.desc())
    .limit(sa.bindparam("n"))
)
STORE = db.Store("history", _meta, baseline_tables=("chat_turns",))
DAY_S = 86_400.0
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dh])\s*$", re.I)
log = logging.getLogger("wardwise.history")


def parse_age(text: str) -> timedelta:
    """An age written ``Nd`` (days) or ``Nh`` (hours), e.g. ``30d`` or ``12h``.

    Raises:
        ValueError: the text is not a positive number followed by ``d`` or ``h``.
    """
    m = _AGE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not an age like 30d (days) or 12h (hours)")
    n = float(m.group(1))
    return timedelta(days=n) if m.group(2).lower() == "d" else timedelta(hours=n)


def _timestamp(t: datetime) -> str:
    """The ``ts`` column's form: UTC ISO 8601 (its strings sort in time order)."""
    return t.astimezone(UTC).isoformat()


def _sqlite_engine(url: str) -> sa.Engine:
    """SQLite that overwrites deleted rows: purged or forgotten text leaves the file too; in WAL
    mode (:func:`agent.app.db.sqlite_wal`), emptied after every delete."""
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA secure_delete = ON")
        db.sqlite_wal(dbapi_conn)

    return engine


class ChatHistory:
    """Questions and answers per session id on any SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _sqlite_engine(url) if url.startswith("sqlite") else sa.create_engine(url)
        self._lock = threading.Lock()
        db.upgrade(self.engine, STORE)

    def append(self, session: str, question: str, answer: str, ts: datetime | None = None) -> None:
        """Store one answered turn (``ts``: when it was answered, default now)."""
        row = {
            "session": session,
            "ts": _timestamp(ts or datetime.now(UTC)),
            "question": question,
            "answer": answer,
        }
        with self._lock, self.engine.begin() as c:
            c.execute(_INSERT, row)

    def recent(self, session: str, n: int) -> list[tuple[str, str]]:
        """The session's last ``n`` turns as ``(question, answer)``, oldest first."""
        with self.engine.connect() as c:
            return [(q, a) for q, a in c.execute(_RECENT, {"session": session, "n": n})][::-1]

    def forget(self, session: str) -> int:
        """Delete a session's history; returns how many turns were removed."""
        return self._delete(turns.c.session == session)

    def purge(self, older_than: timedelta, now: datetime | None = None) -> int:
        """Delete every turn answered more than ``older_than`` before ``now`` (default: the
        current time), in every session; returns how many turns were removed."""
        cutoff = _timestamp((now or datetime.now(UTC)) - older_than)
        return self._delete(turns.c.ts < cutoff)

    def _delete(self, where) -> int:
        """Delete the turns ``where`` holds and empty SQLite's write-ahead log, so the log's
        copies of their text go too; returns how many turns were removed."""
        with self._lock:
            with self.engine.begin() as c:
                n = c.execute(turns.delete().where(where)).rowcount
            db.sqlite_truncate_wal(self.engine)
        return n

    def count(self) -> int:
        """How many turns are stored, in all sessions."""
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(turns)).scalar() or 0)


class Retention:
    """Purges a history of turns older than ``days``: once when started, then every
    ``interval_s`` seconds (a day) on a daemon thread, until :meth:`stop`.

    A failed purge (the database down) is logged and tried again at the next interval; it
    never stops the service. ``days`` of 0 (or less) keeps the history forever: nothing starts.
    """

    def __init__(
        self,
        history: ChatHistory,
        days: float,
        interval_s: float = DAY_S,
        report: Callable[[str], None] | None = None,
    ):
        self.history, self.days, self.interval_s = history, days, interval_s
        self.report = report or log.info
        self.purged = 0  # turns removed since start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One purge now; returns the turns removed (0 after a logged failure)."""
        try:
            n = self.history.purge(timedelta(days=self.days))
        except sa.exc.SQLAlchemyError as e:
            log.warning("chat-history purge failed: %s", type(e).__name__)
            return 0
        self.purged += n
        if n:
            self.report(f"chat history: removed {n} turns older than {self.days:g} days")
        return n

    def start(self) -> Retention:
        """Purge now and start the daily thread (nothing when retention is off)."""
        if self.days > 0 and self._thread is None:
            self.run_once()
            self._thread = threading.Thread(
                target=self._loop, name="wardwise-history-retention", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread (at once; a purge under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()
