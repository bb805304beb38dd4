"""Property-based tests of the API's input surface (issue 14, part 7): sign-in bodies,
chat-completion bodies and the ``Authorization`` header, as arbitrary JSON, bytes and text.

The properties: every request gets a clear answer below 500 (a 4xx with a message, or a
valid completion), never a server error or a traceback; only the right name and password
sign in; a rejected token reaches no turn. The model is scripted (control flow only) and
always answers without a tool. Examples are derandomized so CI sees the same ones.
"""

from __future__ import annotations

import json
import string

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.app.auth import UserStore, sessions
from agent.fake import ScriptedChatModel
from agent.graph import Agent
from tests.conftest import END
from tools.roles import Role

PW = "correct horse battery"
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NO_TOOL = json.dumps({"tool": "none", "reply": "Ask me about beds."})

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
JSON = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_role = st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "developer"]), JSON)
_content = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=40)}),
            st.fixed_dictionaries({"type": st.text(max_size=10)}, optional={"text": JSON}),
            JSON,
        ),
        max_size=3,
    ),
    JSON,
)
_message = st.one_of(
    st.fixed_dictionaries({"role": _role, "content": _content}),
    st.fixed_dictionaries({}, optional={"role": _role, "content": _content, "name": JSON}),
    JSON,
)
CHAT_BODY = st.one_of(
    st.fixed_dictionaries(
        {"messages": st.lists(_message, max_size=4)},
        optional={"model": JSON, "stream": st.one_of(st.booleans(), JSON), "user": JSON},
    ),
    JSON,
)
LOGIN_BODY = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "username": st.one_of(st.sampled_from(["dr.wang", "DR.WANG", " dr.wang"]), JSON),
            "password": st.one_of(st.sampled_from([PW, PW.upper(), ""]), JSON),
        },
    ),
    JSON,
)
# What a client can put in a header: printable ASCII (httpx refuses the rest before sending).
HEADER = st.text(alphabet=string.printable.strip() + " ", max_size=120)


def _sessions(users: UserStore) -> int:
    with users.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(sessions)).scalar_one()


@pytest.fixture(scope="module")
def app_client(tmp_path_factory, hospital, forecaster):
    from tools.registry import ToolContext
    from ui.serve import create_app

    path = tmp_path_factory.mktemp("fuzz") / "users.db"
    users = UserStore(f"sqlite:///{path}", rounds=4, max_failures=10**9)
    users.add("dr.wang", PW, Role.CLINICIAN)
    model = ScriptedChatModel(script=[NO_TOOL] * 5000)
    ctx = ToolContext(hospital=hospital, forecaster=forecaster)
    agent = Agent(model, ctx, dialect="openai", today=END)
    client = TestClient(create_app(agent, users), raise_server_exceptions=False)
    token = client.post("/v1/login", json={"username": "dr.wang", "password": PW}).json()["token"]
    return client, users, {"Authorization": f"Bearer {token}"}


def _clear(r) -> None:
    """Below 500, and a JSON body that says what was wrong when it is not a success."""
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert body.get("error", {}).get("message") or body.get("detail"), body


@FUZZ
@given(body=LOGIN_BODY)
def test_sign_in_bodies_get_a_clear_answer_and_only_the_right_password_signs_in(app_client, body):
    client, users, _ = app_client
    before = _sessions(users)
    r = client.post("/v1/login", json=body)
    _clear(r)
    name = body.get("username") if isinstance(body, dict) else None
    right = (  # a name is matched without the spaces around it (as typed into the page)
        isinstance(name, str) and name.strip() == "dr.wang" and body.get("password") == PW
    )
    assert (r.status_code == 200) == right, (body, r.status_code)
    assert _sessions(users) == before + right  # a refused sign-in writes no session


@FUZZ
@given(raw=st.binary(max_size=200))
def test_sign_in_with_any_bytes_is_a_clear_error(app_client, raw):
    client, _, _ = app_client
    r = client.post("/v1/login", content=raw, headers={"Content-Type": "application/json"})
    _clear(r)
    assert r.status_code != 200


@FUZZ
@given(header=HEADER)
def test_any_authorization_header_is_refused_without_a_trace(app_client, header):
    client, _, _ = app_client
    for path, method in (("/v1/models", "get"), ("/v1/chat/completions", "post")):
        r = client.request(
            method,
            path,
            headers={"Authorization": header},
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        _clear(r)
        assert r.status_code in (401, 403), (header, r.status_code)


@FUZZ
@given(body=CHAT_BODY)
def test_chat_bodies_get_a_completion_or_a_clear_error(app_client, body):
    client, _, auth = app_client
    r = client.post("/v1/chat/completions", json=body, headers=auth)
    _clear(r)
    if r.status_code == 200:
        if r.headers["content-type"].startswith("text/event-stream"):
            assert r.text.rstrip().endswith("data: [DONE]")
        else:
            assert isinstance(r.json()["choices"][0]["message"]["content"], str)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_chat_with_any_bytes_is_a_clear_error(app_client, raw):
    client, _, auth = app_client
    r = client.post(
        "/v1/chat/completions", content=raw, headers={**auth, "Content-Type": "application/json"}
    )
    _clear(r)
