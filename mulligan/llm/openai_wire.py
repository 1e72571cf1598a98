"""The OpenAI chat-completions wire format, as :mod:`mulligan.llm.serve` speaks it.

Requests are checked before they reach the model: every parameter by type and range, the model
name, the size of the reply asked for, and (where the backend can count tokens) the prompt
against the server's input limit and the model's context. Each problem is one
:class:`BadRequest` (HTTP 400, or 404 for an unknown model) whose message names the parameter
and what it accepts.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mulligan.llm.base import ChatRequest, Completion, GenerationParams
from mulligan.options import validation_message
from mulligan.records import Message, ToolCall

OPENAI_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})
DEFAULT_MAX_TOKENS = GenerationParams().max_tokens


class BadRequest(ValueError):
    """The client sent a request this server cannot answer (HTTP 400 unless ``status`` says otherwise)."""

    def __init__(self, message: str, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server.

    Attributes:
        max_request_bytes: Size of a request body at most.
        max_tokens: ``max_tokens`` (reply tokens) a request may ask for at most.
        max_input_tokens: Prompt tokens at most (checked where the backend counts tokens); None:
            the model's context length less one reply token.
    """

    max_request_bytes: int = 1 << 20
    max_tokens: int = 1024
    max_input_tokens: int | None = None


class _Body(BaseModel):
    """The parameters of a chat-completions request this server knows; any other is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = None
    messages: list[Any] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: Union[str, list[str], None] = None
    seed: int | None = None
    n: int | None = Field(None, ge=1, le=1)
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Union[str, dict[str, Any], None] = None
    parallel_tool_calls: bool | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    stream_options: dict[str, Any] | None = None


def _content(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: only text parts are supported
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text", ""), str)
                   for p in value):
            raise BadRequest("only text content parts are supported")
        return "".join(p.get("text", "") for p in value)
    raise BadRequest("message content must be a string or a list of text parts")


def _message(raw: Any, index: int) -> Message:
    if not isinstance(raw, dict):
        raise BadRequest(f"messages[{index}] must be an object with 'role' and 'content'")
    role = "system" if raw.get("role") == "developer" else raw.get("role")
    if role not in ("system", "user", "assistant", "tool"):
        raise BadRequest(f"messages[{index}].role = {raw.get('role')!r}: use system, developer, user, assistant or tool")
    calls = None
    if raw.get("tool_calls"):
        try:
            calls = [ToolCall(name=c["function"]["name"], arguments=json.loads(c["function"].get("arguments") or "{}"),
                              **({"id": c["id"]} if c.get("id") else {}))
                     for c in raw["tool_calls"]]
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise BadRequest(f"messages[{index}]: malformed tool_calls ({e})") from None
    return Message(role=role, content=_content(raw.get("content")), tool_calls=calls,
                   tool_call_id=raw.get("tool_call_id") if isinstance(raw.get("tool_call_id"), str) else None)


def _unsupported(body: _Body) -> str | None:
    if body.stream:
        return "stream=true is not supported by this server; send a non-streaming request"
    if body.logprobs or body.top_logprobs:
        return "logprobs are not supported by this server"
    if body.logit_bias:
        return "logit_bias is not supported by this server"
    if body.response_format and body.response_format.get("type") not in (None, "text"):
        return "only response_format {'type': 'text'} is supported by this server"
    if isinstance(body.stop, list) and len(body.stop) > 4:
        return "stop takes at most 4 strings"
    return None


def parse_chat_request(raw: Any, *, model_name: str | None = None, limits: Limits = Limits(),
                       llm: Any = None) -> ChatRequest:
    """Turn an OpenAI chat-completions body into a checked :class:`ChatRequest`.

    Args:
        raw: The decoded JSON body.
        model_name: The model this server serves; another name is a 404 (None: any name).
        limits: What one request may ask for.
        llm: The backend; where it has ``count_tokens`` (and ``context_length``) the prompt is
            checked against the input limit and the context.

    Raises:
        BadRequest: The first problem found, in one line.
    """
    if not isinstance(raw, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        body = _Body.model_validate(raw)
    except ValidationError as e:
        raise BadRequest(validation_message(e, "", "parameter")) from None
    if model_name is not None and body.model is not None and body.model != model_name:
        raise BadRequest(f"the model {body.model!r} does not exist here; this server serves {model_name!r}",
                         status=404, code="model_not_found")
    problem = _unsupported(body)
    if problem:
        raise BadRequest(problem)
    asked = body.max_completion_tokens or body.max_tokens
    if asked is not None and asked > limits.max_tokens:
        raise BadRequest(f"max_tokens = {asked}: this server gives at most {limits.max_tokens} tokens per reply")
    request = ChatRequest(
        messages=[_message(m, i) for i, m in enumerate(body.messages)],
        params=GenerationParams(
            temperature=body.temperature if body.temperature is not None else 1.0,
            top_p=body.top_p if body.top_p is not None else 1.0,
            max_tokens=asked or min(DEFAULT_MAX_TOKENS, limits.max_tokens),
            stop=[body.stop] if isinstance(body.stop, str) else body.stop,
            seed=body.seed,
        ),
        tools=body.tools,
    )
    _check_length(request, asked, limits, llm)
    return request


def _check_length(request: ChatRequest, asked: int | None, limits: Limits, llm: Any) -> None:
    """Prompt tokens within the input limit, and prompt + reply within the model's context."""
    count = getattr(llm, "count_tokens", None)
    if count is None:
        return
    context = getattr(llm, "context_length", None)
    prompt = count(request)
    most = limits.max_input_tokens if limits.max_input_tokens is not None else (context - 1 if context else None)
    if most is not None and prompt > most:
        raise BadRequest(f"the prompt is {prompt} tokens; this server takes at most {most}", code="context_length")
    if context is None:
        return
    room = context - prompt
    if asked is None:
        request.params.max_tokens = max(1, min(request.params.max_tokens, room))
    elif asked > room:
        raise BadRequest(f"the prompt ({prompt} tokens) and max_tokens ({asked}) exceed the model's context of "
                         f"{context} tokens; ask for at most {room}", code="context_length")


def completion_body(completion: Completion, model_name: str) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` object for a completion."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if completion.tool_calls:
        message["tool_calls"] = Message(role="assistant", tool_calls=completion.tool_calls).to_openai()["tool_calls"]
    finish = completion.finish_reason if completion.finish_reason in OPENAI_FINISH_REASONS else "stop"
    usage = completion.usage
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "total_tokens": usage.total},
    }


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
