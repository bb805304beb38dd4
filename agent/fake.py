"""A scripted chat model for tests of the agent's control flow (never for model quality).

Each call to the model pops the next scripted reply: an ``AIMessage`` (content and/or
``tool_calls``), a string (content), or an exception to raise. Every call's messages and
keyword arguments are recorded in ``calls``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    script: list[Any] = Field(default_factory=list)
    calls: list[dict] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _next(self, messages: list[BaseMessage], kwargs: dict) -> AIMessage:
        self.calls.append({"messages": messages, "kwargs": kwargs})
        if not self.script:
            raise AssertionError("the scripted model ran out of replies")
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item if isinstance(item, AIMessage) else AIMessage(content=str(item))

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kwargs))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        msg = self._next(messages, kwargs)
        text = str(msg.content)
        for i in range(0, max(len(text), 1), 8):  # an empty reply is one empty chunk
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[i : i + 8]))

    def bind_tools(self, tools, **kwargs):
        return self.bind(tools=tools, **kwargs)
