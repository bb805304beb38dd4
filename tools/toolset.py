"""Tool schemas and argument validation, both from a tool's typed signature (pydantic).

A tool is a typed function whose first parameter is the injected context; every other
parameter is an argument the model fills in. Its type hint says what the argument takes,
ranges included (``days: Annotated[int, Field(ge=1, le=28)] = 7``); its description is the
parameter's line under ``Args:`` in the Google-style docstring (or ``Field(description=...)``).
From the signature one pydantic model is built per tool: it validates the model's arguments
and its JSON schema is the tool's ``parameters``, the same schema the router decodes under,
so a range is enforced by the decoder where it can and by the validator always.

Validation is lax only where nothing is lost: ``"7"`` and ``7.0`` are the integer 7, but
``7.9`` is an error, never silently 7; a boolean is ``true``/``false`` or ``yes``/``no``/
``1``/``0`` (as text too); a boolean is never read as a number. An empty argument (``""`` or
null) counts as left out. A bad argument is a :class:`~tools.result.ToolError`
(``bad_argument``) whose message says which argument, what it takes and what came, for the
model to correct.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from tools.result import ToolError

JSON_TYPES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    date: "string",
}
_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def _yes_no(value: Any) -> Any:
    """A boolean argument: a bool, or true/false, yes/no, 1/0 (as text or number)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("not a yes/no value")


def _not_bool(value: Any) -> Any:
    """A number argument never takes a boolean (``true`` is not 1 day)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def arg_docs(doc: str) -> dict[str, str]:
    """The one-line descriptions under ``Args:`` of a Google-style docstring, by name."""
    m = re.search(r"\n\s*Args:\s*\n(.*?)(?:\n\s*\n|\Z)", "\n" + doc, re.S)
    if not m:
        return {}
    out = {}
    for line in m.group(1).splitlines():
        am = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?:\s*(.+)", line)
        if am:
            out[am.group(1)] = am.group(2).strip()
    return out


def _split(hint: Any) -> tuple[Any, list[Any], bool]:
    """``Annotated[X | None, m...]`` -> ``(X, [m...], True)``."""
    meta: list[Any] = []
    if typing.get_origin(hint) is Annotated:
        hint, *meta = typing.get_args(hint)
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else hint
    return hint, meta, optional


class Tool:
    """One tool: its function, the pydantic model of its arguments and its JSON schema.

    Args:
        fn: a typed function ``fn(ctx, arg1: T1 = ..., ...)`` with a Google-style docstring.

    Raises:
        TypeError: an argument without a str/int/float/bool/date hint or without a description.
    """

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.name = fn.__name__
        doc = inspect.getdoc(fn) or ""
        self.description = doc.split("\n\n")[0].strip()
        hints = typing.get_type_hints(fn, include_extras=True)
        docs = arg_docs(doc)
        fields: dict[str, Any] = {}
        for i, (name, p) in enumerate(inspect.signature(fn).parameters.items()):
            if i == 0:
                continue  # the injected context
            base, meta, optional = _split(hints.get(name))
            if base not in JSON_TYPES:
                raise TypeError(
                    f"tool {self.name}: argument {name!r} needs a str/int/float/bool/date hint"
                )
            described = [m.description for m in meta if isinstance(m, FieldInfo) and m.description]
            description = described[0] if described else docs.get(name)
            if not description:
                raise TypeError(
                    f"tool {self.name}: argument {name!r} is not documented under Args:"
                )
            annotation = hints[name]
            if base is bool:
                annotation = Annotated[annotation, BeforeValidator(_yes_no)]
            elif base in (int, float):
                annotation = Annotated[annotation, BeforeValidator(_not_bool)]
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[name] = (annotation, Field(default, description=description))
        self.arguments: type[BaseModel] = create_model(
            f"{self.name}_arguments",
            __config__=ConfigDict(extra="ignore", coerce_numbers_to_str=True),
            **fields,
        )
        self.schema = self._schema()
        self.expects = {k: _expects(v) for k, v in self.schema["parameters"]["properties"].items()}

    def _schema(self) -> dict:
        raw = self.arguments.model_json_schema()
        props = {}
        for name, spec in raw["properties"].items():
            if "anyOf" in spec:  # X | None: the model leaves it empty to mean None
                spec = {**next(s for s in spec["anyOf"] if s.get("type") != "null"), **spec}
                spec.pop("anyOf")
            out = {"type": spec["type"]}
            if "format" in spec:
                out["format"] = spec["format"]
            out["description"] = spec["description"]
            out.update({k: spec[k] for k in _KEYS if k in spec})
            if spec.get("default") is not None:
                out["default"] = spec["default"]
            props[name] = out
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "object",
                "properties": props,
                "required": list(raw.get("required", [])),
            },
        }

    def validate(self, arguments: dict) -> dict:
        """The model's arguments checked and typed; only those it gave (defaults stay the
        function's).

        Raises:
            ToolError: ``bad_argument``: a required argument is missing, or one has the
                wrong type or is out of range.
        """
        if not isinstance(arguments, dict):
            raise ToolError(
                "bad_argument",
                f"{self.name}: the arguments must be a JSON object of names and values, "
                f"got {type(arguments).__name__}",
                hint=", ".join(f"{k}: {v}" for k, v in self.expects.items()),
            )
        given = {
            k: v
            for k, v in arguments.items()
            if k in self.expects and not (v is None or (isinstance(v, str) and not v.strip()))
        }
        try:
            checked = self.arguments.model_validate(given)
        except ValidationError as e:
            err = e.errors()[0]
            arg = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "missing":
                raise ToolError(
                    "bad_argument",
                    f"{self.name} needs the argument {arg!r}",
                    hint=f"{arg}: {self.expects.get(arg, '')}",
                ) from None
            raise ToolError(
                "bad_argument",
                f"{self.name}: {arg} must be {self.expects.get(arg, 'valid')}, "
                f"got {err.get('input')!r}",
                hint=f"{arg}: {self.schema['parameters']['properties'][arg]['description']}",
            ) from None
        return {k: getattr(checked, k) for k in self.expects if k in given}


def _expects(spec: dict) -> str:
    """What an argument takes, in words, from its JSON schema."""
    kind = {
        "integer": "a whole number",
        "number": "a number",
        "boolean": "true or false",
        "string": "text",
    }[spec["type"]]
    if spec.get("format") == "date":
        kind = "a date as YYYY-MM-DD"
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    if lo is not None:
        return f"{kind} of at least {lo}"
    if hi is not None:
        return f"{kind} of at most {hi}"
    return kind
