"""The agent's tools, listed once, with JSON schemas and validators from their signatures.

Each tool is a typed function whose first parameter is the injected :class:`ToolContext`;
the remaining parameters are what the model may fill in, each typed (ranges included, as
``Annotated[int, Field(ge=1, le=28)]``) and documented on one ``Args:`` line. A tool without
type hints or a documented argument is rejected at import (:mod:`tools.toolset`).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

import httpx
from pydantic import Field

from knowledge.hospital import Hospital
from tools.allocation import DEFAULT_SOLVER, plan_from_forecast
from tools.cases import MAX_K, CasesResult, search_cases, without_differential
from tools.forecast import MAX_DAYS, Forecaster, ForecastResult
from tools.plan_store import PlanStore
from tools.result import ErrorResult, ToolError, ToolResult
from tools.roles import Caller, Role, allowed, require
from tools.toolset import Tool

PLAN_MAX_DAYS = 14  # the plan's horizon: the forecast's, halved (a plan is re-solved daily)


@dataclass
class ToolContext:
    """Dependencies injected into every tool call, and who is calling.

    ``role`` and ``user`` come from the signed-in session (or the trusted host CLI), never from
    the model: no tool has a role argument. The default is the least privileged role.
    """

    hospital: Hospital
    forecaster: Forecaster
    case_index_factory: Callable[[], Any] | None = None
    solver: str = DEFAULT_SOLVER
    plan_time_limit: float = 30.0  # solver seconds per plan; a stopped search is labelled
    plan_store: PlanStore | None = None
    role: Role = Role.NURSE
    user: str = ""
    _shared: dict = field(default_factory=dict, repr=False)  # the case index, shared by copies

    @property
    def case_index(self) -> Any:
        """The case index, loaded on first use and shared by copies of this context.

        Raises:
            ToolError: ``no_index`` when no index is configured.
        """
        if "case_index" not in self._shared:
            if self.case_index_factory is None:
                raise ToolError("no_index", "no case index is configured", "run `wardwise index`")
            self._shared["case_index"] = self.case_index_factory()
        return self._shared["case_index"]

    def for_caller(self, caller: Caller) -> ToolContext:
        """The same dependencies (and loaded case index) acting for ``caller``."""
        return dataclasses.replace(self, role=Role(caller.role), user=caller.user)


def forecast_beds(
    ctx: ToolContext,
    ward: str,
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 7,
    start: date | None = None,
) -> ForecastResult:
    """Forecast one ward's occupied beds per day, with P10/P50/P90 and backtest accuracy.

    Args:
        ward: the ward's id or name in English or Chinese, e.g. "CARD", "Cardiology" or "心内科".
        days: how many days ahead to forecast, 1 to 28; "next week" is 7.
        start: the first day to answer for, as YYYY-MM-DD (e.g. the Friday asked about); leave empty to start tomorrow.
    """
    require(ctx.role, "forecast")
    if start is None:
        return ctx.forecaster.forecast(ward, days)
    return ctx.forecaster.window(ward, start, days)


def plan_beds(
    ctx: ToolContext,
    days: Annotated[int, Field(ge=1, le=PLAN_MAX_DAYS)] = 7,
    what_if: str = "",
    apply: bool = False,
    start: date | None = None,
) -> ToolResult:
    """Plan open beds, surge beds, transfers and nurses per shift for every ward.

    Args:
        days: how many days ahead to plan, 1 to 14.
        what_if: a change to test against the plan, e.g. "close 4 beds on CARD on Friday" or "2 RNs call in sick on ICU night shift"; leave empty for the normal plan.
        apply: true only when the staff member asks to apply, adopt or save this plan as the current plan; false to preview it.
        start: the first day to plan, as YYYY-MM-DD; leave empty to start tomorrow.
    """
    require(ctx.role, "plan")
    if apply:
        require(ctx.role, "apply_plan")  # before any work: a refused apply solves nothing
        if ctx.plan_store is None:
            raise ToolError("no_plan_store", "no plan store is configured, nothing was applied")
    forecasts = {
        w.ward_id: (
            ctx.forecaster.forecast(w.ward_id, days)
            if start is None
            else ctx.forecaster.window(w.ward_id, start, days)
        ).days
        for w in ctx.hospital.wards
    }
    changes = [what_if] if what_if.strip() else []
    result = plan_from_forecast(
        list(ctx.hospital.wards),
        forecasts,
        what_if=changes,
        solver=ctx.solver,
        time_limit=ctx.plan_time_limit,
    )
    if apply and result.ok and ctx.plan_store is not None:  # checked above: it is set
        ctx.plan_store.save(
            result, user=ctx.user, role=ctx.role.value, days=days, what_if=what_if.strip()
        )
        who = f"{ctx.user} ({ctx.role.value})" if ctx.user else ctx.role.value
        result = result.model_copy(
            update={"summary": f"{result.summary} Applied as the current plan by {who}."}
        )
    return result


def similar_cases(
    ctx: ToolContext, text: str, k: Annotated[int, Field(ge=1, le=MAX_K)] = 5
) -> CasesResult:
    """Find similar past case records (decision support for a clinician, with citations).

    Args:
        text: the patient's complaint, symptoms or findings, in English or Chinese.
        k: how many similar cases to return, 1 to 20.
    """
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
    from chromadb.errors import ChromaError  # heavy: chromadb

    return (ChromaError, OSError, ValueError, sqlite3.Error, httpx.HTTPError)


TOOLS: tuple[Callable[..., ToolResult], ...] = (forecast_beds, plan_beds, similar_cases)
_TOOLSET: dict[str, Tool] = {fn.__name__: Tool(fn) for fn in TOOLS}
SCHEMAS: dict[str, dict] = {name: tool.schema for name, tool in _TOOLSET.items()}
BY_NAME: dict[str, Callable[..., ToolResult]] = {fn.__name__: fn for fn in TOOLS}


def tool_schema(fn: Callable) -> dict:
    """OpenAI-style function schema of a tool (without the context parameter).

    Raises:
        TypeError: an argument without a supported type hint or a description.
    """
    return Tool(fn).schema


def validate_arguments(name: str, arguments: dict) -> dict:
    """Check and type the model's arguments against the tool's signature.

    Raises:
        ToolError: ``unknown_tool``; ``bad_argument`` for a missing, ill-typed or
            out-of-range argument (see :mod:`tools.toolset`).
    """
    if name not in _TOOLSET:
        raise ToolError("unknown_tool", f"no tool named {name!r}", f"tools: {', '.join(SCHEMAS)}")
    return _TOOLSET[name].validate(arguments)


def call_tool(ctx: ToolContext, name: str, arguments: dict) -> ToolResult:
    """Validate and run one tool; expected failures come back as an ErrorResult."""
    try:
        args = validate_arguments(name, arguments)
        return BY_NAME[name](ctx, **args)
    except ToolError as e:
        return ErrorResult.from_error(e)
