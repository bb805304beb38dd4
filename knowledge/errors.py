"""Expected failures: the one exception every layer raises for them.

An expected failure is one the model and the user can act on (an unknown ward, an infeasible
plan, too little history, an empty case index). It carries a machine-readable ``code``, a
sentence for the user and a hint on what to do. Anything else that is raised is a bug and
propagates.

It lives at the bottom layer so that the case index can raise it without importing the tool
layer; :mod:`tools.result` re-exports it and renders it (``ErrorResult.from_error``).
"""

from __future__ import annotations


class ToolError(Exception):
    """An expected failure (unknown ward, infeasible plan, empty history).

    Tools raise it; the agent and the CLI turn it into an :class:`~tools.result.ErrorResult`
    or a clear message. Anything else a tool raises is a bug and propagates.

    Args:
        code: Machine-readable reason, for example ``unknown_ward`` or ``empty_index``.
        message: What went wrong, as a sentence the user can read.
        hint: What to do about it; empty when there is nothing to suggest.
    """

    def __init__(self, code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
