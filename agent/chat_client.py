"""The chat model the agent talks to: LangChain's ``ChatOpenAI`` with a leaner request path.

A non-streaming call (the router's decision, a tool call, a repair) sends the JSON body
``ChatOpenAI`` builds, on the same pooled ``httpx`` client, but without the ``openai`` SDK in
between: the SDK walks every request through its typed-dict transform and builds typed
models from the reply, about 3 ms of CPU a call (a third of a turn's own work with the fake
model), all of it under the GIL that concurrent turns share. The body on the wire and the
message that comes back are the same; so are the errors: a server that cannot be reached,
times out or answers an HTTP error raises the ``openai`` exception the SDK would, and a
JSON-schema-constrained reply cut off at the token limit raises
``openai.LengthFinishReasonError`` as the SDK's ``parse`` does. Streaming is unchanged.

``invoke`` also skips LangChain's run bookkeeping when nothing would receive it: with no
callback handler (none given, no tracing, no verbose), no cache, no rate limiter and no
config, ``BaseChatModel.invoke`` only wraps ``_generate`` in run managers and result
objects, about 1 ms of CPU a call under the GIL. The fast path returns the same message
(content, tool calls, usage and response metadata; the message id is the same ``lc_run-``
form); anything else goes the full way.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

# CallbackManager.configure (every call, in _unobserved) imports these on first use: ~15 ms of
# CPU that the first turn after start-up spent while the others waited. Imported here instead.
import langchain_core.tracers.context  # noqa: F401
import langchain_core.tracers.langchain  # noqa: F401
import langchain_core.tracers.stdout  # noqa: F401
import openai
from langchain_core.callbacks.manager import CallbackManager
from langchain_core.globals import get_llm_cache
from langchain_core.language_models.chat_models import _gen_info_and_msg_metadata
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.utils.utils import LC_ID_PREFIX
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletion


class LeanChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` whose non-streaming calls skip the ``openai`` SDK (module docstring)."""

    def invoke(self, input: Any, config: Any = None, *, stop: list[str] | None = None, **kwargs):
        """``BaseChatModel.invoke``, without the run bookkeeping when nothing receives it."""
        if config is not None or not self._unobserved(**kwargs):
            return super().invoke(input, config, stop=stop, **kwargs)
        result = self._generate(self._convert_input(input).to_messages(), stop=stop, **kwargs)
        generation = result.generations[0]
        message: AIMessage = generation.message  # type: ignore[assignment]
        if message.id is None:
            message.id = f"{LC_ID_PREFIX}-{uuid.uuid4()}-0"
        message.response_metadata = _gen_info_and_msg_metadata(generation)
        if len(result.generations) == 1 and result.llm_output is not None:
            message.response_metadata = {**result.llm_output, **message.response_metadata}
        return message

    def _unobserved(self, **kwargs: Any) -> bool:
        """Whether a call has no handler, cache, rate limiter or streaming to serve: then
        ``invoke`` is ``_generate`` and the metadata it adds (:meth:`invoke`)."""
        handlers = CallbackManager.configure(
            None, self.callbacks, self.verbose, None, self.tags, None, self.metadata
        )
        return (
            not handlers.handlers
            and not handlers.inheritable_handlers
            and (self.cache is False or (self.cache is None and get_llm_cache() is None))
            and self.rate_limiter is None
            and self.output_version != "v1"
            and not self._should_stream(async_api=False, **kwargs)
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        payload = self._get_request_payload(messages, stop=stop, **kwargs)
        payload["stream"] = False  # as the SDK sends it
        payload.update(payload.pop("extra_body", None) or {})  # merged as the SDK merges it
        data = self._post(payload)
        choice = (data.get("choices") or [{}])[0]
        if "response_format" in payload and choice.get("finish_reason") == "length":
            raise openai.LengthFinishReasonError(completion=ChatCompletion.model_validate(data))
        return self._create_chat_result(data)

    def _post(self, payload: dict) -> dict:
        client = self.root_client
        try:
            r = client._client.post(  # the http_client given to make_chat_model
                f"{str(client.base_url).rstrip('/')}/chat/completions",
                json=payload,
                headers={"Authorization": f"Bearer {client.api_key}"},
            )
        except httpx.TimeoutException as e:
            raise openai.APITimeoutError(request=e.request) from e  # type: ignore[arg-type]
        except httpx.HTTPError as e:
            raise openai.APIConnectionError(request=e.request) from e  # type: ignore[arg-type]
        if r.status_code >= 400:
            raise client._make_status_error_from_response(r)
        try:
            return r.json()
        except ValueError as e:
            raise openai.APIResponseValidationError(response=r, body=r.text) from e
