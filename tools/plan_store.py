"""The hospital's current plan: the last plan a bed manager or admin chose to apply.

Previewing a plan or a what-if changes nothing; applying one stores it here, with who applied
it, when, and the what-if it carried. One JSON file, replaced atomically; the audit trail
keeps the history of who applied what.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from knowledge.files import replaced_atomically
from tools.result import ToolResult


class StoredPlan(BaseModel):
    """The current plan as stored: the plan itself and who applied it, when, with what-if."""

    stored_at: datetime
    stored_by: str
    role: str
    days: int
    what_if: str = ""
    plan: dict


class PlanStore:
    """The current plan in one JSON file under ``folder``."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / "current_plan.json"

    def save(
        self, plan: ToolResult, *, user: str, role: str, days: int, what_if: str = ""
    ) -> StoredPlan:
        """Store ``plan`` as the current plan, replacing the previous one."""
        stored = StoredPlan(
            stored_at=datetime.now(UTC),
            stored_by=user,
            role=role,
            days=days,
            what_if=what_if,
            plan=plan.model_dump(mode="json"),
        )
        with replaced_atomically(self.path, "w", encoding="utf-8") as f:
            f.write(stored.model_dump_json(indent=1))
        return stored

    def current(self) -> StoredPlan | None:
        """The current plan, or None when none was applied yet."""
        if not self.path.exists():
            return None
        return StoredPlan.model_validate_json(self.path.read_text(encoding="utf-8"))
