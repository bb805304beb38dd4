import pytest

from tools.registry import SCHEMAS, TOOLS, call_tool, tool_schema, validate_arguments
from tools.result import ToolError


def test_every_tool_argument_has_a_description():
    assert {f.__name__ for f in TOOLS} == {"forecast_beds", "plan_beds", "similar_cases"}
    for schema in SCHEMAS.values():
        assert schema["description"]
        for arg, spec in schema["parameters"]["properties"].items():
            assert len(spec["description"]) > 10, arg
            assert spec["type"] in {"string", "integer", "number", "boolean"}


def test_every_argument_has_a_type_the_router_schema_can_copy():
    """agent/graph.py's route schema copies each property's "type": every one has one."""
    for schema in SCHEMAS.values():
        for spec in schema["parameters"]["properties"].values():
            assert isinstance(spec["type"], str) and "anyOf" not in spec and "title" not in spec


def test_forecast_schema_snapshot():
    assert SCHEMAS["forecast_beds"]["parameters"] == {
        "type": "object",
        "properties": {
            "ward": {
                "type": "string",
                "description": 'the ward\'s id or name in English or Chinese, e.g. "CARD", '
                '"Cardiology" or "心内科".',
            },
            "days": {
                "type": "integer",
                "description": 'how many days ahead to forecast, 1 to 28; "next week" is 7.',
                "minimum": 1,
                "maximum": 28,
                "default": 7,
            },
            "start": {
                "type": "string",
                "format": "date",
                "description": "the first day to answer for, as YYYY-MM-DD (e.g. the Friday "
                "asked about); leave empty to start tomorrow.",
            },
        },
        "required": ["ward"],
    }


def test_undocumented_or_untyped_tool_is_rejected():
    def bad(ctx, ward: str):
        """No Args section."""

    def untyped(ctx, ward):
        """Doc.

        Args:
            ward: a ward.
        """

    with pytest.raises(TypeError, match="not documented"):
        tool_schema(bad)
    with pytest.raises(TypeError, match="hint"):
        tool_schema(untyped)


def test_ranges_are_in_the_schemas():
    props = {n: s["parameters"]["properties"] for n, s in SCHEMAS.items()}
    assert (props["plan_beds"]["days"]["minimum"], props["plan_beds"]["days"]["maximum"]) == (1, 14)
    assert (props["similar_cases"]["k"]["minimum"], props["similar_cases"]["k"]["maximum"]) == (
        1,
        20,
    )


def test_arguments_are_typed_and_checked():
    for days in ("7", 7.0, 7, " 7 "):
        assert validate_arguments("forecast_beds", {"ward": "CARD", "days": days}) == {
            "ward": "CARD",
            "days": 7,
        }
    with pytest.raises(ToolError, match="needs the argument 'ward'") as e:
        validate_arguments("forecast_beds", {"days": 7})
    assert e.value.code == "bad_argument"
    with pytest.raises(ToolError) as e:
        validate_arguments("drop_tables", {})
    assert e.value.code == "unknown_tool"


@pytest.mark.parametrize(
    "days,says",
    [
        (7.9, "days must be a whole number from 1 to 28, got 7.9"),
        ("7.9", "days must be a whole number from 1 to 28, got '7.9'"),
        (0, "days must be a whole number from 1 to 28, got 0"),
        (29, "days must be a whole number from 1 to 28, got 29"),
        (True, "days must be a whole number from 1 to 28, got True"),
        ("a week", "days must be a whole number from 1 to 28, got 'a week'"),
    ],
)
def test_bad_types_and_ranges_are_errors_never_coerced(days, says):
    with pytest.raises(ToolError) as e:
        validate_arguments("forecast_beds", {"ward": "CARD", "days": days})
    assert e.value.code == "bad_argument" and says in e.value.message
    assert "forecast" in e.value.hint  # the argument's description: what it takes


def test_empty_arguments_count_as_left_out():
    assert validate_arguments("plan_beds", {"days": "", "what_if": None}) == {}
    with pytest.raises(ToolError, match="needs the argument 'text'"):
        validate_arguments("similar_cases", {"text": "  "})
    with pytest.raises(ToolError) as e:
        validate_arguments("drop_tables", {})
    assert e.value.code == "unknown_tool"


def test_expected_failures_come_back_as_structured_errors(ctx):
    r = call_tool(ctx, "forecast_beds", {"ward": "Narnia", "days": 7})
    assert not r.ok and r.error == "unknown_ward" and "CARD" in r.summary
    r = call_tool(ctx, "forecast_beds", {"ward": "CARD", "days": 90})
    assert not r.ok and r.error == "bad_argument" and "from 1 to 28" in r.summary


def test_booleans_are_coerced_and_a_role_argument_is_ignored():
    args = validate_arguments("plan_beds", {"apply": "yes", "role": "admin", "user": "boss"})
    assert args == {"apply": True}  # only the schema's arguments pass: no role from the model
    assert validate_arguments("plan_beds", {"apply": "false"}) == {"apply": False}
    assert validate_arguments("plan_beds", {"apply": 0}) == {"apply": False}
    with pytest.raises(ToolError, match="apply must be true or false"):
        validate_arguments("plan_beds", {"apply": "maybe"})
