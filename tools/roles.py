"""Who may do what: the four staff roles and the rules every tool checks before it runs.

The caller's role reaches a tool through its :class:`~tools.registry.ToolContext`, set from
the signed-in session (``agent/auth.py``) or from the trusted host command line; it is never
a tool argument, so neither the prompt nor the model's output can change it.

=================  =======================================  ==============================
action             what                                      roles
=================  =======================================  ==============================
``forecast``       read ward forecasts                       all
``plan``           read plans, preview what-ifs              all
``apply_plan``     store a plan or what-if as the current    bed_manager, admin
``cases``          search de-identified past cases           all
``differential``   see candidate diagnoses of those cases    clinician
``ingest``         ingest data, rebuild the case index       admin
``manage_users``   add, remove, list users                   admin
=================  =======================================  ==============================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tools.result import ToolError


class Role(StrEnum):
    """The four staff roles; what each may do is :data:`RULES`."""

    NURSE = "nurse"
    CLINICIAN = "clinician"
    BED_MANAGER = "bed_manager"
    ADMIN = "admin"


_ALL = frozenset(Role)
RULES: dict[str, tuple[frozenset[Role], str]] = {
    "forecast": (_ALL, "read forecasts"),
    "plan": (_ALL, "read or preview plans"),
    "apply_plan": (
        frozenset({Role.BED_MANAGER, Role.ADMIN}),
        "store a plan or a what-if as the current plan",
    ),
    "cases": (_ALL, "search past cases"),
    "differential": (frozenset({Role.CLINICIAN}), "see candidate diagnoses"),
    "ingest": (frozenset({Role.ADMIN}), "ingest data or rebuild the case index"),
    "manage_users": (frozenset({Role.ADMIN}), "manage users"),
}


@dataclass(frozen=True)
class Caller:
    """A signed-in staff member (or the host's own command line)."""

    user: str
    role: Role


HOST = Caller("host", Role.ADMIN)


def parse_role(text: str) -> Role:
    """A role from its name; ``bed-manager`` and ``bed manager`` are accepted too.

    Raises:
        ValueError: not one of the four roles.
    """
    key = str(text).strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Role(key)
    except ValueError:
        raise ValueError(
            f"unknown role {text!r}; choose from {', '.join(r.value for r in Role)}"
        ) from None


def allowed(role: Role, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown action is allowed to nobody)."""
    roles, _ = RULES.get(action, (frozenset(), ""))
    return role in roles


def require(role: Role, action: str) -> None:
    """Raise ``ToolError("forbidden")`` unless ``role`` may do ``action``."""
    if allowed(role, action):
        return
    roles, what = RULES.get(action, (frozenset(), action))
    who = " or ".join(r.value.replace("_", " ") for r in Role if r in roles) or "nobody"
    raise ToolError(
        "forbidden",
        f"Your role ({role.value}) may not {what}.",
        hint=f"only a {who} may; ask one, or do what your role allows",
    )
