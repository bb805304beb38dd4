"""Users, passwords and sessions (real SQLite, real bcrypt at a low cost), and `wardwise users`."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from agent.app.auth import AuthError, UserError, UserStore
from tools.roles import Caller, Role

PW = "correct horse battery"


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, minutes: float) -> None:
        self.t += minutes * 60


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def store(tmp_path, clock):
    return UserStore(
        f"sqlite:///{tmp_path / 'users.db'}",
        session_minutes=30,
        session_max_hours=2,
        rounds=4,
        clock=clock,
    )


def _dump(store: UserStore) -> str:
    with store.engine.connect() as c:
        rows = [dict(r) for t in ("users", "sessions") for r in c.execute(sa.text(f"SELECT * FROM {t}")).mappings()]  # fmt: skip
    return json.dumps(rows, default=str)


def test_password_is_hashed_and_a_wrong_one_fails(store):
    store.add("li.na", PW, Role.NURSE)
    dump = _dump(store)
    assert PW not in dump and "$2b$04$" in dump  # bcrypt, never the password
    with pytest.raises(AuthError, match="wrong user name or password"):
        store.sign_in("li.na", PW + "!")
    with pytest.raises(AuthError, match="wrong user name or password"):  # same words: no oracle
        store.sign_in("nobody", PW)
    s = store.sign_in("li.na", PW)
    assert s.caller == Caller("li.na", Role.NURSE)
    assert s.token not in _dump(store)  # only the token's digest is stored
    assert store.resolve(s.token) == Caller("li.na", Role.NURSE)


def test_bad_names_passwords_and_duplicates_are_refused(store):
    with pytest.raises(UserError, match="at least 8"):
        store.add("a", "short", Role.ADMIN)
    with pytest.raises(UserError, match="at most 72 bytes"):
        store.add("a", "密" * 25, Role.ADMIN)  # 75 bytes: bcrypt would silently cut it
    with pytest.raises(UserError, match="invalid user name"):
        store.add("a b", PW, Role.ADMIN)
    with pytest.raises(ValueError, match="unknown role"):
        store.add("a", PW, "surgeon")
    store.add("a", PW, "bed-manager")
    with pytest.raises(UserError, match="already exists"):
        store.add("a", PW, Role.ADMIN)
    assert [(u.name, u.role) for u in store.list_users()] == [("a", Role.BED_MANAGER)]


def test_sessions_expire_when_idle_and_at_the_maximum_age(store, clock):
    store.add("wang", PW, Role.CLINICIAN)
    s = store.sign_in("wang", PW)
    clock.advance(29)
    assert store.resolve(s.token).role == Role.CLINICIAN  # use extends the idle window
    clock.advance(29)
    assert store.resolve(s.token).user == "wang"
    clock.advance(31)
    with pytest.raises(AuthError, match="expired"):
        store.resolve(s.token)
    clock.advance(-31)  # and it is gone for good, not merely late
    with pytest.raises(AuthError):
        store.resolve(s.token)

    s = store.sign_in("wang", PW)
    for _ in range(4):  # kept busy, the session still ends 2 hours after sign-in
        clock.advance(25)
        store.resolve(s.token)
    with pytest.raises(AuthError, match="expired"):
        clock.advance(25)
        store.resolve(s.token)
    with pytest.raises(AuthError, match="not signed in"):
        store.resolve("")
    with pytest.raises(AuthError):
        store.resolve("forged-token")


def test_a_request_within_a_minute_of_the_last_extension_only_reads(store, clock):
    from agent.app.auth import sessions

    store.add("zhou", PW, Role.NURSE)
    s = store.sign_in("zhou", PW)
    writes: list[str] = []
    sa.event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, stmt, *_a: writes.append(stmt) if not stmt.startswith("SELECT") else None,
    )

    def expires() -> float:
        with store.engine.connect() as c:
            return c.execute(sa.select(sessions.c.expires)).scalar_one()

    first = expires()
    clock.advance(0.5)  # 30 s later: still valid, not worth a write
    assert store.resolve(s.token).user == "zhou"
    assert writes == [] and expires() == first
    clock.advance(1)  # 90 s after sign-in: the idle window moves
    assert store.resolve(s.token).user == "zhou"
    assert any(w.startswith("UPDATE") for w in writes)
    assert expires() == pytest.approx(clock() + 30 * 60)


def test_repeated_wrong_passwords_lock_the_user_out(store, clock):
    store.add("zhao", PW, Role.ADMIN)
    for _ in range(5):
        with pytest.raises(AuthError, match="wrong"):
            store.sign_in("zhao", "guess-guess")
    with pytest.raises(AuthError, match="locked"):  # even the right password, for now
        store.sign_in("zhao", PW)
    clock.advance(6)
    assert store.sign_in("zhao", PW).caller.role == Role.ADMIN


def test_remove_and_passwd_end_the_users_sessions(store):
    store.add("chen", PW, Role.NURSE)
    s = store.sign_in("chen", PW)
    store.set_password("chen", "another good one")
    with pytest.raises(AuthError):
        store.resolve(s.token)
    with pytest.raises(AuthError):
        store.sign_in("chen", PW)
    s = store.sign_in("chen", "another good one")
    store.remove("chen")
    with pytest.raises(AuthError):
        store.resolve(s.token)
    assert store.count() == 0
    with pytest.raises(UserError, match="no user"):
        store.remove("chen")


def test_users_cli_add_list_passwd_remove(tmp_path, monkeypatch):
    from agent.cli import app

    monkeypatch.setenv("WARDWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WARDWISE_CONFIG", str(tmp_path / "none.toml"))
    run = CliRunner().invoke
    r = run(app, ["users", "add", "li.na", "--role", "nurse", "--password-stdin"], input=PW + "\n")
    assert r.exit_code == 0 and "added li.na (nurse)" in r.output
    r = run(app, ["users", "add", "boss", "--role", "admin"], input=f"{PW}\n{PW}\n")  # prompt
    assert r.exit_code == 0, r.output
    r = run(app, ["users", "add", "x", "--role", "surgeon", "--password-stdin"], input=PW + "\n")
    assert r.exit_code == 2 and "unknown role" in r.output
    r = run(app, ["users", "add", "li.na", "--role", "nurse", "--password-stdin"], input=PW + "\n")
    assert r.exit_code == 2 and "already exists" in r.output
    r = run(app, ["users", "list", "--json"])
    rows = json.loads(r.output)["rows"]
    assert [(u["name"], u["role"], u["last_sign_in"]) for u in rows] == [
        ("boss", "admin", "never"),
        ("li.na", "nurse", "never"),
    ]
    assert "$2b$" not in r.output and PW not in r.output
    db = tmp_path / "data" / "users.db"
    assert db.stat().st_mode & 0o077 == 0  # owner only
    for log in (db.with_name("users.db-wal"), db.with_name("users.db-shm")):  # WAL mode's files
        assert not log.exists() or log.stat().st_mode & 0o077 == 0
    r = run(app, ["users", "passwd", "li.na", "--password-stdin"], input="a new password\n")
    assert r.exit_code == 0
    store = UserStore(f"sqlite:///{db}", rounds=4)
    assert store.sign_in("li.na", "a new password").caller.role == Role.NURSE
    assert run(app, ["users", "remove", "li.na"]).exit_code == 0
    assert run(app, ["users", "remove", "li.na"]).exit_code == 2
    assert [u.name for u in store.list_users()] == ["boss"]


def test_the_pages_first_run_creates_an_admin_once_and_prints_its_password(tmp_path, capsys):
    import re

    from agent.cli import open_users_for_service

    def open_users(_settings):
        return UserStore(f"sqlite:///{tmp_path / 'users.db'}", rounds=4)

    users = open_users_for_service(None, open_users, first_admin=True)
    printed = capsys.readouterr().err
    password = re.search(r"the password (\S+)", printed).group(1)
    assert users.sign_in("admin", password).caller.role == Role.ADMIN
    assert [u.name for u in users.list_users()] == ["admin"]
    open_users_for_service(None, open_users, first_admin=True)  # a second start adds nobody
    assert "password" not in capsys.readouterr().err and users.count() == 1
    # `wardwise serve` creates nobody: it only warns
    empty = lambda _s: UserStore(f"sqlite:///{tmp_path / 'other.db'}", rounds=4)  # noqa: E731
    assert open_users_for_service(None, empty).count() == 0
