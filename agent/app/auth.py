"""Staff accounts and sign-in sessions for the page and the API.

Users have a name, one role (:class:`tools.roles.Role`) and a bcrypt password hash; the
password itself is never stored, logged or shown. Signing in returns a random session token;
only its SHA-256 is stored, so a copy of the database does not hold usable tokens. A session
expires after ``session_minutes`` without use and in any case ``session_max_hours`` after
sign-in. After ``max_failures`` wrong passwords in a row a user is locked out for
``lockout_minutes`` (a correct password does not help meanwhile); an unknown user name costs
the same bcrypt check as a known one, so timing does not reveal which names exist.

Users are managed only on the host (``wardwise users ...``): neither the page nor the API
exposes user management. SQLite in the data dir by default (``users.db``, mode 0600); any
SQLAlchemy URL works (same conventions as :mod:`agent.app.audit`); the tables are made and
upgraded by the store's migrations (:mod:`agent.app.db`). The clock is injectable.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import sqlalchemy as sa

from agent.app import db
from tools.roles import Caller, Role, parse_role

MIN_PASSWORD = 8
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; longer passwords are refused, not cut
_NAME = re.compile(r"^[\w.@-]{1,64}$")
NO_USERS_HINT = (
    "No users exist yet. On the Wardwise host, add one: "
    "`wardwise users add NAME --role admin` (roles: nurse, clinician, bed_manager, admin)."
)

_meta = sa.MetaData()
users = sa.Table(
    "users",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_sign_in", sa.Float),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.Float, nullable=False, default=0.0),
)
sessions = sa.Table(
    "sessions",
    _meta,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)
STORE = db.Store("users", _meta, baseline_tables=("users", "sessions"))
# a request's session check, built once (a statement built per request cost more CPU than
# running it): drop expired sessions, find the token's, extend it
# A session's idle expiry moves with use, written at most once a minute: most requests only read
# (a write per request was a commit, and a wait for the write lock, on every API call).
EXTEND_EVERY_S = 60.0
_EXPIRE = sessions.delete().where(sessions.c.expires <= sa.bindparam("now"))
_LOOKUP = (
    sa.select(sessions, users.c.name, users.c.role)
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.token_sha256 == sa.bindparam("sha"))
)
_EXTEND = (
    sessions.update()
    .where(sessions.c.token_sha256 == sa.bindparam("sha"))
    .values(expires=sa.bindparam("until", type_=sa.Float))
)


class AuthError(Exception):
    """Sign-in refused, or a session unknown or expired: the caller must sign in (again)."""


class UserError(ValueError):
    """A user cannot be added or changed as asked (bad name, weak password, duplicate)."""


@dataclass(frozen=True)
class UserInfo:
    """A user as listed: never the password hash."""

    name: str
    role: Role
    created: datetime
    last_sign_in: datetime | None


@dataclass(frozen=True)
class Session:
    """A signed-in session: the token (shown once to the client), who holds it, until when."""

    token: str
    caller: Caller
    expires: datetime


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else _at(ts)


def check_password(password: str) -> bytes:
    """The password as bytes, if it is acceptable; raise :class:`UserError` if not."""
    raw = password.encode("utf-8")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise UserError(f"the password must be at most {MAX_PASSWORD_BYTES} bytes (UTF-8)")
    return raw


class UserStore:
    """Users and their sessions on one database (``url``: any SQLAlchemy URL).

    Args:
        url: the database.
        session_minutes: a session ends after this many minutes without use.
        session_max_hours: and in any case this many hours after sign-in.
        max_failures: wrong passwords in a row before the user is locked out.
        lockout_minutes: how long a lockout lasts.
        rounds: the bcrypt cost (4 in tests, 12 in service).
        clock: seconds since the epoch, now.
    """

    def __init__(
        self,
        url: str,
        *,
        session_minutes: float = 30,
        session_max_hours: float = 12,
        max_failures: int = 5,
        lockout_minutes: float = 5,
        rounds: int = 12,
        clock: Callable[[], float] = time.time,
    ):
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            path = self.engine.url.database
            if path and path != ":memory:" and Path(path).parent.is_dir():
                # hashes and session digests: owner only, the file made so before SQLite opens
                # it (its -wal and -shm files take the database file's mode)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                Path(path).chmod(0o600)
            sa.event.listen(self.engine, "connect", lambda conn, _rec: db.sqlite_wal(conn))
        db.upgrade(self.engine, STORE)
        self.idle = session_minutes * 60
        self.max_age = session_max_hours * 3600
        self.max_failures = max_failures
        self.lockout = lockout_minutes * 60
        self.rounds = rounds
        self.clock = clock
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds))

    # -- users (host CLI only) ----------------------------------------------------------
    def add(self, name: str, password: str, role: Role | str) -> UserInfo:
        """Add a user; raise :class:`UserError` for a bad name or password, or a duplicate."""
        name = name.strip()
        if not _NAME.match(name):
            raise UserError(
                f"invalid user name {name!r}: 1-64 letters, digits, '.', '_', '-' or '@'"
            )
        role = role if isinstance(role, Role) else parse_role(role)
        digest = bcrypt.hashpw(check_password(password), bcrypt.gensalt(self.rounds)).decode()
        now = self.clock()
        try:
            with self.engine.begin() as c:
                c.execute(
                    users.insert().values(
                        name=name,
                        role=role.value,
                        password_hash=digest,
                        created=now,
                        failures=0,
                        locked_until=0.0,
                    )
                )
        except sa.exc.IntegrityError:
            raise UserError(f"user {name!r} already exists") from None
        return UserInfo(name, role, _at(now), None)

    def remove(self, name: str) -> None:
        """Delete the user and end all their sessions."""
        with self.engine.begin() as c:
            uid = self._id(c, name)
            c.execute(sessions.delete().where(sessions.c.user_id == uid))
            c.execute(users.delete().where(users.c.id == uid))

    def set_password(self, name: str, password: str) -> None:
        """Replace the password (and end the user's sessions, clear a lockout)."""
        digest = bcrypt.hashpw(check_password(password), bcrypt.gensalt(self.rounds)).decode()
        with self.engine.begin() as c:
            uid = self._id(c, name)
            c.execute(
                users.update()
                .where(users.c.id == uid)
                .values(password_hash=digest, failures=0, locked_until=0.0)
            )
            c.execute(sessions.delete().where(sessions.c.user_id == uid))

    def list_users(self) -> list[UserInfo]:
        """Every user, by name."""
        with self.engine.connect() as c:
            rows = c.execute(sa.select(users).order_by(users.c.name)).mappings()
            return [
                UserInfo(r["name"], Role(r["role"]), _at(r["created"]), _when(r["last_sign_in"]))
                for r in rows
            ]

    def count(self) -> int:
        """How many users exist."""
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()

    def _id(self, c, name: str) -> int:
        uid = c.execute(sa.select(users.c.id).where(users.c.name == name.strip())).scalar()
        if uid is None:
            raise UserError(f"no user named {name!r}")
        return uid

    # -- sign-in and sessions -----------------------------------------------------------
    def sign_in(self, name: str, password: str) -> Session:
        """Check the password and open a session; raise :class:`AuthError` if refused."""
        now = self.clock()
        raw = (password or "").encode("utf-8")[:MAX_PASSWORD_BYTES]
        session: Session | None = None
        with self.engine.begin() as c:  # failures are committed before the refusal is raised
            row = (
                c.execute(sa.select(users).where(users.c.name == (name or "").strip()))
                .mappings()
                .first()
            )
            if row is None:
                bcrypt.checkpw(raw, self._dummy)  # the same cost as a known name
                refused = "wrong user name or password"
            elif row["locked_until"] > now:
                minutes = max(1, round((row["locked_until"] - now) / 60))
                refused = f"too many wrong passwords: signing in is locked for about {minutes} min"
            elif not bcrypt.checkpw(raw, row["password_hash"].encode()):
                failures = row["failures"] + 1
                locked = now + self.lockout if failures >= self.max_failures else 0.0
                c.execute(
                    users.update()
                    .where(users.c.id == row["id"])
                    .values(failures=0 if locked else failures, locked_until=locked)
                )
                refused = "wrong user name or password"
            else:
                token = secrets.token_urlsafe(32)
                expires = min(now + self.idle, now + self.max_age)
                c.execute(
                    users.update()
                    .where(users.c.id == row["id"])
                    .values(failures=0, locked_until=0.0, last_sign_in=now)
                )
                c.execute(
                    sessions.insert().values(
                        token_sha256=_sha(token), user_id=row["id"], created=now, expires=expires
                    )
                )
                session = Session(token, Caller(row["name"], Role(row["role"])), _at(expires))
        if session is None:
            raise AuthError(refused)
        return session

    def resolve(self, token: str | None) -> Caller:
        """The caller of a live session, extending it; raise :class:`AuthError` if none.

        Every API request comes through here, so the usual case only reads: the session's
        expiry is moved (a write) when that moves it by :data:`EXTEND_EVERY_S` or more, and
        expired sessions are deleted then, or when the one asked for has expired."""
        if not token:
            raise AuthError("not signed in")
        now = self.clock()
        with self.engine.connect() as c:
            row = c.execute(_LOOKUP, {"sha": _sha(token)}).mappings().first()
        if row is not None and row["expires"] > now:
            until = min(now + self.idle, row["created"] + self.max_age)
            if until - row["expires"] >= EXTEND_EVERY_S:
                with self.engine.begin() as c:
                    c.execute(_EXPIRE, {"now": now})
                    c.execute(_EXTEND, {"sha": row["token_sha256"], "until": until})
            return Caller(row["name"], Role(row["role"]))
        if row is not None:
            with self.engine.begin() as c:
                c.execute(_EXPIRE, {"now": now})  # expired: gone
        raise AuthError("the session has expired or ended: please sign in again")

    def sign_out(self, token: str | None) -> None:
        """End the session of ``token`` (nothing if there is none)."""
        if token:
            with self.engine.begin() as c:
                c.execute(sessions.delete().where(sessions.c.token_sha256 == _sha(token)))
