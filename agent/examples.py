"""The example bank: labelled staff questions, and the few nearest to a new one.

The router routes plain phrasing better when it sees a few labelled questions like the one it
is asked. ``examples.yaml`` (package data) holds such questions in English and Chinese, for every
tool and every refusal class, each with the decision the router should make::

    bank = ExampleBank.load()
    bank.nearest("骨科周五床位紧不紧", k=4)   # the 4 closest examples, with their similarity
    bank.vote("who won the match last night?")  # ("off_topic", 0.83)

Every example is embedded once, on first use, with the project's multilingual sentence encoder
(:func:`knowledge.store.default_encoder`); a question costs one encoder call and one
matrix-vector product. :meth:`ExampleBank.leave_one_out` measures how well the bank votes on its
own examples, per language and across languages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowledge.store import Encoder, default_encoder
from knowledge.text import has_cjk

__all__ = [
    "LABEL_TOOL",
    "Example",
    "ExampleBank",
    "LeaveOneOut",
    "Neighbour",
]

Label = Literal[
    "forecast",
    "plan",
    "whatif",
    "cases",
    "off_topic",
    "smalltalk",
    "phi",
    "unsafe",
    "injection",
]
ToolName = Literal["forecast_beds", "plan_beds", "similar_cases", "none"]
Language = Literal["en", "zh"]
Level = Literal["label", "tool"]

LABEL_TOOL: dict[str, str] = {
    "forecast": "forecast_beds",
    "plan": "plan_beds",
    "whatif": "plan_beds",
    "cases": "similar_cases",
    "off_topic": "none",
    "smalltalk": "none",
    "phi": "none",
    "unsafe": "none",
    "injection": "none",
}
"""The tool each label routes to; every refusal class routes to ``none``."""

DEFAULT_K = 5
# A neighbour's vote is exp(similarity / TEMPERATURE): a softmax over the k nearest. Chosen with
# DEFAULT_K by leave-one-out on the bank (k 3-8, temperature 0.05-0.1 and plain similarity
# tried): 0.1 beat plain similarity weights by 4-7 points in every language pairing.
TEMPERATURE = 0.1
RESOURCE = "examples.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


class Example(BaseModel):
    """One labelled staff question and the decision the router should make for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, description="the staff member's message")
    label: Label = Field(description="what kind of question it is")
    tool: ToolName = Field(description="the tool it routes to, or none")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="the router's arguments beside the tool; for none, the short `reply`",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Example:
        if LABEL_TOOL[self.label] != self.tool:
            raise ValueError(
                f"label {self.label!r} routes to {LABEL_TOOL[self.label]!r}, not {self.tool!r}"
            )
        if self.tool == "none" and not str(self.args.get("reply", "")).strip():
            raise ValueError(f"a {self.label} example needs a reply: {self.text!r}")
        return self

    @property
    def language(self) -> Language:
        """``"zh"`` when the text holds a CJK ideograph, else ``"en"``."""
        return "zh" if has_cjk(self.text) else "en"

    def decision(self) -> dict[str, Any]:
        """The router's output for this example: ``{"tool": ..., **args}``."""
        return {"tool": self.tool, **self.args}


class Neighbour(Example):
    """An example returned by :meth:`ExampleBank.nearest`, with its similarity to the question."""

    similarity: float = Field(description="cosine similarity to the question, -1..1")


class LeaveOneOut(BaseModel):
    """How often the bank's vote on one of its own examples (left out) matches its label."""

    correct: int = Field(ge=0)
    total: int = Field(ge=0)

    @property
    def accuracy(self) -> float:
        """``correct / total`` (0.0 for no examples)."""
        return self.correct / self.total if self.total else 0.0


class ExampleBank:
    """Labelled examples embedded once, searched by cosine similarity.

    Args:
        examples: the labelled examples.
        encoder: embeds texts as rows (L2-normalised or not); default: the project's
            multilingual encoder, loaded on first use.
        version: the bank's version (from the YAML), for the audit record.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        encoder: Encoder | None = None,
        version: int = 0,
    ) -> None:
        if not examples:
            raise ValueError("an example bank needs at least one example")
        self.examples: tuple[Example, ...] = tuple(examples)
        self.version = version
        self._encoder = encoder
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, encoder: Encoder | None = None, resource: str = RESOURCE) -> ExampleBank:
        """The bank shipped as package data (``agent/examples.yaml``).

        Args:
            encoder: as for the constructor.
            resource: the YAML file's name inside the ``agent`` package.

        Raises:
            pydantic.ValidationError: an example whose label, tool or reply do not agree.
        """
        text = resources.files(__package__).joinpath(resource).read_text(encoding="utf-8")
        return cls.from_yaml(text, encoder)

    @classmethod
    def from_yaml(cls, text: str, encoder: Encoder | None = None) -> ExampleBank:
        """A bank from YAML text: ``{version: N, examples: [{text, label, tool, args}, ...]}``.

        Args:
            text: the YAML document.
            encoder: as for the constructor.
        """
        data = yaml.load(text, Loader=_LOADER) or {}
        examples = [Example.model_validate(e) for e in data.get("examples") or []]
        return cls(examples, encoder, version=int(data.get("version", 0)))

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def encoder(self) -> Encoder:
        """The encoder in use (the default one is loaded on first access)."""
        if self._encoder is None:
            self._encoder = default_encoder()
        return self._encoder

    @property
    def matrix(self) -> np.ndarray:
        """Unit-length embeddings of the examples, shape ``(len(self), dim)``, computed once."""
        if self._matrix is None:
            with self._lock:
                if self._matrix is None:
                    self._matrix = _unit_rows(self.encoder.encode([e.text for e in self.examples]))
        return self._matrix

    def expect(self, question: str) -> None:
        """Announce a question that will be voted on soon (a turn that starts), so that an
        encoder that embeds announced texts together (:class:`knowledge.store.RecentQueries`)
        embeds it along with the next one; other encoders ignore it."""
        announce = getattr(self._encoder, "expect", None)
        if announce is not None:
            announce(question)

    def unexpect(self, question: str) -> None:
        """Withdraw :meth:`expect`'s announcement (the turn has ended)."""
        withdraw = getattr(self._encoder, "unexpect", None)
        if withdraw is not None:
            withdraw(question)

    def similarities(self, question: str) -> np.ndarray:
        """Cosine similarity of ``question`` to every example, shape ``(len(self),)``.

        One encoder call for the question; the examples' matrix is computed on first use.
        """
        matrix = self.matrix
        query = _unit_rows(self.encoder.encode([question]))[0]
        return matrix @ query

    def nearest(self, question: str, k: int = 4) -> list[Neighbour]:
        """The ``k`` examples most similar to ``question``, most similar first.

        Args:
            question: the staff member's message.
            k: how many examples to return (at most the bank's size).
        """
        return self._neighbours(self.similarities(question), k)

    def vote(
        self,
        question: str,
        k: int = DEFAULT_K,
        level: Level = "label",
        temperature: float = TEMPERATURE,
    ) -> tuple[str, float]:
        """Similarity-weighted vote of the ``k`` nearest examples.

        Each neighbour weighs ``exp(similarity / temperature)``.

        Args:
            question: the staff member's message.
            k: how many neighbours vote.
            level: ``"label"`` votes on the example's label, ``"tool"`` on the tool it
                routes to (the refusal classes all vote for ``none``).
            temperature: how much more a closer neighbour weighs; large values give every
                neighbour the same vote.

        Returns:
            The winning label (or tool) and its share of the neighbours' weight, 0..1.

        Raises:
            ValueError: ``k`` below 1 or a temperature that is not positive.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return _weighted_vote(self._neighbours(self.similarities(question), k), level, temperature)

    def leave_one_out(
        self,
        k: int = DEFAULT_K,
        *,
        level: Level = "label",
        temperature: float = TEMPERATURE,
        queries: Language | None = None,
        neighbours: Language | None = None,
    ) -> LeaveOneOut:
        """Vote on every example with itself left out, and count the right answers.

        Uses the cached matrix only: no encoder call beyond the bank's own embedding.

        Args:
            k: how many neighbours vote.
            level: score the label, or only the tool it routes to.
            temperature: as for :meth:`vote`.
            queries: only examples in this language are asked (default: all).
            neighbours: only examples in this language may vote (default: all), e.g.
                ``queries="zh", neighbours="en"`` for a Chinese question against English examples.
        """
        sims = self.matrix @ self.matrix.T
        langs = [e.language for e in self.examples]
        allowed = np.array([neighbours is None or lang == neighbours for lang in langs])
        correct = total = 0
        for i, example in enumerate(self.examples):
            if queries is not None and langs[i] != queries:
                continue
            row = np.where(allowed, sims[i], -np.inf)
            row[i] = -np.inf
            found = self._neighbours(row, min(k, int(np.isfinite(row).sum())))
            if not found:
                continue
            guess, _ = _weighted_vote(found, level, temperature)
            total += 1
            correct += guess == (example.label if level == "label" else example.tool)
        return LeaveOneOut(correct=correct, total=total)

    def _neighbours(self, sims: np.ndarray, k: int) -> list[Neighbour]:
        k = max(0, min(k, len(sims)))
        if k == 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [Neighbour(**self.examples[i].model_dump(), similarity=float(sims[i])) for i in top]


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def _weighted_vote(
    found: Sequence[Neighbour], level: Level, temperature: float
) -> tuple[str, float]:
    """Sum ``exp(similarity / temperature)`` per label or tool (``found``: nearest first)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    top = found[0].similarity  # subtracted before exp: the same shares, no overflow
    weights: dict[str, float] = {}
    for n in found:
        key = n.label if level == "label" else n.tool
        weights[key] = weights.get(key, 0.0) + math.exp((n.similarity - top) / temperature)
    best = max(weights, key=lambda key: weights[key])  # ties: the nearest neighbour's
    return best, weights[best] / sum(weights.values())
