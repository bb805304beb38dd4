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
                "default": 7,
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


def test_arguments_are_coerced_and_checked():
    assert validate_arguments("forecast_beds", {"ward": "CARD", "days": "7"}) == {
        "ward": "CARD",
        "days": 7,
    }
    with pytest.raises(ToolError, match="needs the argument 'ward'"):
        validate_arguments("forecast_beds", {"days": 7})
    with pytest.raises(ToolError) as e:
        validate_arguments("drop_tables", {})
    assert e.value.code == "unknown_tool"


def test_expected_failures_come_back_as_structured_errors(ctx):
    r = call_tool(ctx, "forecast_beds", {"ward": "Narnia", "days": 7})
    assert not r.ok and r.error == "unknown_ward" and "CARD" in r.summary
    r = call_tool(ctx, "forecast_beds", {"ward": "CARD", "days": 90})
    assert not r.ok and r.error == "bad_horizon"


def test_booleans_are_coerced_and_a_role_argument_is_ignored():
    args = validate_arguments("plan_beds", {"apply": "yes", "role": "admin", "user": "boss"})
    assert args == {"apply": True}  # only the schema's arguments pass: no role from the model
    assert validate_arguments("plan_beds", {"apply": "false"}) == {"apply": False}
    with pytest.raises(ToolError, match="apply must be boolean"):
        validate_arguments("plan_beds", {"apply": "maybe"})
