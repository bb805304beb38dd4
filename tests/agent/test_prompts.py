import pytest
from jinja2 import UndefinedError

from prompts import load_prompt, prompt_names, prompt_version
from tools.registry import SCHEMAS

VARS = {
    "router": dict(
        tools=list(SCHEMAS.values()),
        wards=[],
        today="2026-06-30",
        error=None,
        language="English",
        examples=[{"text": "q", "decision": "{}"}],
    ),
    "answer": dict(language="English", results=[{"name": "t", "summary": "s", "facts": []}]),
    "repair": dict(numbers=["3"], language="Chinese"),
    "fallback": dict(language="Chinese", results=[{"summary": "s"}]),
    "tools_system": dict(wards=[], today="2026-06-30"),
    "decision_support": dict(language="English"),
    "capabilities": dict(language="Chinese"),
    "plan_not_optimal": dict(language="English", gap=8.47),
    "refusal": dict(language="Chinese", kind="phi"),
    "tool_error": dict(
        language="Chinese",
        code="unknown_ward",
        summary="s",
        hint="h",
        wards=[{"name_zh": "心内科"}],
    ),
}


def test_every_prompt_is_covered_and_versioned():
    assert set(prompt_names()) == set(VARS)
    for name in prompt_names():
        assert prompt_version(name).startswith(f"{name}@")


@pytest.mark.parametrize("name", sorted(VARS))
def test_every_prompt_renders(name):
    text = load_prompt(name, **VARS[name])
    assert text and "{{" not in text and "{%" not in text


def test_missing_variable_raises_instead_of_leaving_a_blank():
    with pytest.raises(UndefinedError):
        load_prompt("answer", results=[])


def test_router_lists_every_tool_and_argument():
    text = load_prompt("router", **VARS["router"])
    for name, schema in SCHEMAS.items():
        assert name in text
        for arg in schema["parameters"]["properties"]:
            assert f"{arg} (" in text


def test_an_edited_prompt_file_is_read_again(tmp_path):
    """Prompt texts are cached by file size and mtime: an edit, even one of the same length,
    is what the next turn renders."""
    import os

    path = tmp_path / "greet.j2"
    path.write_text("{# version: 1 #}\nhello {{ who }}", encoding="utf-8")
    assert prompt_version("greet", tmp_path) == "greet@1"
    assert load_prompt("greet", tmp_path, who="ward") == "hello ward"
    path.write_text("{# version: 2 #}\nhullo {{ who }}", encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a coarse clock
    assert prompt_version("greet", tmp_path) == "greet@2"
    assert load_prompt("greet", tmp_path, who="ward") == "hullo ward"
