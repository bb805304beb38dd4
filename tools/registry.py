"""The agent's tools, listed once, with JSON schemas derived from signatures and docstrings.

Each tool is a typed function whose first parameter is the injected :class:`ToolContext`;
the remaining parameters are what the model may fill in, each documented on one ``Args:``
line. A tool without type hints or a documented argument is rejected at import.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knowledge.hospital import Hospital
from tools.forecast import Forecaster, ForecastResult
from tools.plan_store import PlanStore
from tools.result import ToolError, ToolResult
from tools.roles import Caller, Role, allowed, require


@dataclass
class ToolContext:
    """Dependencies injected into every tool call, and who is calling.

    ``role`` and ``user`` come from the signed-in session (or the trusted host CLI), never from
    the model: no tool has a role argument. The default is the least privileged role.
    """

    hospital: Hospital
    forecaster: Forecaster
    case_index_factory: Callable[[], Any] | None = None
    solver: str = "cbc"
    plan_time_limit: float = 30.0  # solver seconds per plan; a stopped search is labelled
    plan_store: PlanStore | None = None
    role: Role = Role.NURSE
    user: str = ""
    _shared: dict = field(default_factory=dict, repr=False)  # the case index, shared by copies

    @property
    def case_index(self):
        if "case_index" not in self._shared:
            if self.case_index_factory is None:
                raise ToolError("no_index", "no case index is configured", "run `wardwise index`")
            self._shared["case_index"] = self.case_index_factory()
        return self._shared["case_index"]

    def for_caller(self, caller: Caller) -> ToolContext:
        """The same dependencies (and loaded case index) acting for ``caller``."""
        return dataclasses.replace(self, role=Role(caller.role), user=caller.user)


def forecast_beds(ctx: ToolContext, ward: str, days: int = 7) -> ForecastResult:
    """Forecast one ward's occupied beds per day, with P10/P50/P90 and backtest accuracy.

    Args:
        ward: the ward's id or name in English or Chinese, e.g. "CARD", "Cardiology" or "心内科".
        days: how many days ahead to forecast, 1 to 28; "next week" is 7.
    """
    require(ctx.role, "forecast")
    return ctx.forecaster.forecast(ward, days)


def plan_beds(
    ctx: ToolContext, days: int = 7, what_if: str = "", apply: bool = False
) -> ToolResult:
    """Plan open beds, surge beds, transfers and nurses per shift for every ward.

    Args:
        days: how many days ahead to plan, 1 to 14.
        what_if: a change to test against the plan, e.g. "close 4 beds on CARD on Friday" or "2 RNs call in sick on ICU night shift"; leave empty for the normal plan.
        apply: true only when the staff member asks to apply, adopt or save this plan as the current plan; false to preview it.
    """
    from tools.allocation import plan_from_forecast

    require(ctx.role, "plan")
    if apply:
        require(ctx.role, "apply_plan")  # before any work: a refused apply solves nothing
        if ctx.plan_store is None:
            raise ToolError("no_plan_store", "no plan store is configured, nothing was applied")
    if not 1 <= days <= 14:
        raise ToolError("bad_horizon", f"days must be between 1 and 14, got {days}")
    forecasts = {
        w.ward_id: ctx.forecaster.forecast(w.ward_id, days).days for w in ctx.hospital.wards
    }
    changes = [what_if] if what_if.strip() else []
    result = plan_from_forecast(
        list(ctx.hospital.wards),
        forecasts,
        what_if=changes,
        solver=ctx.solver,
        time_limit=ctx.plan_time_limit,
    )
    if apply and result.ok:
        ctx.plan_store.save(
            result, user=ctx.user, role=ctx.role.value, days=days, what_if=what_if.strip()
        )
        who = f"{ctx.user} ({ctx.role.value})" if ctx.user else ctx.role.value
        result = result.model_copy(
            update={"summary": f"{result.summary} Applied as the current plan by {who}."}
        )
    return result


def similar_cases(ctx: ToolContext, text: str, k: int = 5) -> ToolResult:
    """Find similar past case records (decision support for a clinician, with citations).

    Args:
        text: the patient's complaint, symptoms or findings, in English or Chinese.
        k: how many similar cases to return, 1 to 20.
    """
    from tools.cases import search_cases, without_differential

    require(ctx.role, "cases")
    try:
        result = search_cases(ctx.case_index, text, k)
    except _index_failures() as e:  # the store is down or damaged: say so, do not crash
        raise ToolError(
            "index_unavailable",
            f"The case index is not available right now ({type(e).__name__}).",
            hint="check the Chroma server or the index folder, or rebuild it with `wardwise index`",
        ) from e
    if not allowed(ctx.role, "differential"):
        result = without_differential(result, ctx.role.value)
    return result


def _index_failures() -> tuple[type[BaseException], ...]:
    """What an unreachable or damaged Chroma store raises (a missing server is a ValueError)."""
    import sqlite3

    import httpx
    from chromadb.errors import ChromaError

    return (ChromaError, OSError, ValueError, sqlite3.Error, httpx.HTTPError)


TOOLS: tuple[Callable[..., ToolResult], ...] = (forecast_beds, plan_beds, similar_cases)

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _arg_docs(doc: str) -> dict[str, str]:
    m = re.search(r"\n\s*Args:\s*\n(.*?)(?:\n\s*\n|\Z)", doc, re.S)
    if not m:
        return {}
    out = {}
    for line in m.group(1).splitlines():
        am = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?:\s*(.+)", line)
        if am:
            out[am.group(1)] = am.group(2).strip()
    return out


def tool_schema(fn: Callable) -> dict:
    """OpenAI-style function schema of a tool (without the context parameter)."""
    doc = inspect.getdoc(fn) or ""
    hints = typing.get_type_hints(fn)
    docs = _arg_docs("\n" + doc)
    props: dict[str, dict] = {}
    required = []
    for i, (name, p) in enumerate(inspect.signature(fn).parameters.items()):
        if i == 0:
            continue
        if name not in hints or hints[name] not in _JSON_TYPES:
            raise TypeError(
                f"tool {fn.__name__}: argument {name!r} needs a str/int/float/bool hint"
            )
        if name not in docs:
            raise TypeError(f"tool {fn.__name__}: argument {name!r} is not documented under Args:")
        props[name] = {"type": _JSON_TYPES[hints[name]], "description": docs[name]}
        if p.default is inspect.Parameter.empty:
            required.append(name)
        else:
            props[name]["default"] = p.default
    return {
        "name": fn.__name__,
        "description": doc.split("\n\n")[0].strip(),
        "parameters": {"type": "object", "properties": props, "required": required},
    }


SCHEMAS: dict[str, dict] = {fn.__name__: tool_schema(fn) for fn in TOOLS}
BY_NAME: dict[str, Callable[..., ToolResult]] = {fn.__name__: fn for fn in TOOLS}


_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(value)


def validate_arguments(name: str, arguments: dict) -> dict:
    """Check and coerce the model's arguments against the tool's schema.

    Raises:
        ToolError: unknown tool, missing or ill-typed argument.
    """
    if name not in SCHEMAS:
        raise ToolError("unknown_tool", f"no tool named {name!r}", f"tools: {', '.join(SCHEMAS)}")
    params = SCHEMAS[name]["parameters"]
    out = {}
    for key, spec in params["properties"].items():
        if key not in arguments or arguments[key] in (None, ""):
            if key in params["required"]:
                raise ToolError("bad_arguments", f"{name} needs the argument {key!r}")
            continue
        value = arguments[key]
        try:
            if spec["type"] == "integer":
                value = int(float(value))
            elif spec["type"] == "number":
                value = float(value)
            elif spec["type"] == "string":
                value = str(value)
            elif spec["type"] == "boolean":
                value = _boolean(value)
        except (TypeError, ValueError) as e:
            raise ToolError("bad_arguments", f"{name}: {key} must be {spec['type']}") from e
        out[key] = value
    return out


def call_tool(ctx: ToolContext, name: str, arguments: dict) -> ToolResult:
    """Validate and run one tool; expected failures come back as an ErrorResult."""
    try:
        args = validate_arguments(name, arguments)
        return BY_NAME[name](ctx, **args)
    except ToolError as e:
        return e.to_result()
