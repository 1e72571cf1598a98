"""The litellm backend: any API model, or any OpenAI-compatible server (vLLM, llama.cpp, serve)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import time
import weakref
from pathlib import Path
from typing import Any

from mulligan.errors import ConfigError, DependencyNotInstalled, ProviderError
from mulligan.llm.base import RAW_ARGUMENTS, ChatRequest, Completion
from mulligan.llm.retry import RetryPolicy, retry_async
from mulligan.options import unknown_option
from mulligan.records import ToolCall, Usage

PASS_THROUGH_PREFIX = "litellm."
"""Options named ``litellm.NAME`` go to ``litellm.acompletion`` as ``NAME``, unchecked (provider
specifics the check below does not know)."""
PROVIDER_OPTIONS = frozenset({
    "drop_params", "extra_body", "extra_query", "organization", "api_type", "vertex_project", "vertex_location",
    "vertex_credentials", "aws_region_name", "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
    "aws_profile_name",
})
"""Common provider options accepted besides ``litellm.acompletion``'s own parameters."""
OWN_OPTIONS = frozenset({"model", "messages", "timeout", "temperature", "top_p", "max_tokens", "stop", "tools",
                         "stream", "n", "num_retries", "max_retries"})
"""Parameters this backend sets itself (from the request and its own options)."""


def import_litellm() -> Any:
    """Import litellm without letting it reach for the network.

    litellm fetches its model cost map at import unless told to use the bundled one, and tiktoken
    downloads encodings unless pointed at the copies litellm ships.
    """
    missing = DependencyNotInstalled("litellm", "llm", "needed by the litellm backend")
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise missing
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    bundled = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    if bundled.is_dir():
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    try:
        import litellm
    except ImportError as e:
        raise missing from e

    litellm.suppress_debug_info = True
    return litellm


def _mcp_bypass(litellm: Any) -> dict[str, Any]:
    """Extra kwargs for requests with tools.

    litellm 1.106 imports its MCP gateway (which needs the optional ``mcp`` package) for any
    request with tools, and fails without it; our tools are plain OpenAI functions, so where
    litellm knows the private switch that skips that gateway and ``mcp`` is missing, use it.
    """
    import inspect

    if importlib.util.find_spec("mcp") is None and "_skip_mcp_handler" in inspect.getsource(litellm.main):
        return {"_skip_mcp_handler": True}
    return {}


def _tool_call(raw: Any) -> ToolCall:
    function = raw.function
    text = function.arguments or "{}"
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        # Kept verbatim so the agent can show the model what it got wrong.
        arguments = {RAW_ARGUMENTS: text}
    kwargs = {"id": raw.id} if getattr(raw, "id", None) else {}
    return ToolCall(name=function.name or "", arguments=arguments, **kwargs)


def to_completion(response: Any) -> Completion:
    """Turn a litellm ``ModelResponse`` into a :class:`Completion`.

    Raises:
        ProviderError: (transient) The reply has no choice, no message, or neither text nor tool
            calls: a broken answer, retried like a 5xx.
    """
    choices = getattr(response, "choices", None)
    if not choices:
        raise ProviderError("the provider answered with no choices", transient=True)
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None or (message.content is None and not getattr(message, "tool_calls", None)):
        raise ProviderError("the provider answered with an empty message (no text, no tool calls)", transient=True)
    usage = getattr(response, "usage", None)
    calls = getattr(message, "tool_calls", None)
    return Completion(
        text=message.content or "",
        tool_calls=[_tool_call(c) for c in calls] if calls else None,
        usage=Usage(
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        ),
        finish_reason=choice.finish_reason or "stop",
    )


class LiteLLMBackend:
    """Calls ``litellm.acompletion`` once per request, concurrently, with retries.

    Transient errors (rate limits, timeouts, connection errors, 5xx, and replies with no choice or
    an empty message) are retried with exponential backoff and jitter, waiting at least what a
    ``Retry-After`` header asks; other errors and spent retries come back as
    ``Completion(error=...)``. Each attempt has one overall deadline (``timeout``), however slowly
    the server trickles its answer. The API key never appears in an error.

    Args:
        model: A litellm model name (``openai/gpt-4o-mini``).
        api_base: Base URL of the API (``http://127.0.0.1:8000/v1`` for a local server).
        api_key: API key; litellm reads the provider's environment variable when None.
        timeout: Seconds one attempt may take in all (connecting, waiting, reading).
        max_retries: Retries after the first attempt, for transient errors.
        retry_base_delay: Seconds before the first retry; doubles each retry.
        max_concurrency: Requests in flight at once, across all calls to ``generate``.
        **litellm_kwargs: Passed to ``litellm.acompletion``: its own parameters (``extra_headers``,
            ``seed``, ``reasoning_effort``, ...) and :data:`PROVIDER_OPTIONS`; any other name is an
            error (a typo would otherwise pass silently) unless written ``litellm.NAME``.
    """

    supports_tools = True
    max_batch_size = 1

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_base_delay: float = 0.5,
        max_concurrency: int = 16,
        **litellm_kwargs: Any,
    ):
        self._litellm = import_litellm()
        self._tools_kwargs: dict[str, Any] | None = None
        for name, value, ok, rule in (
            ("timeout", timeout, timeout > 0, "above 0"), ("max_retries", max_retries, max_retries >= 0, "at least 0"),
            ("retry_base_delay", retry_base_delay, retry_base_delay >= 0, "at least 0"),
            ("max_concurrency", max_concurrency, max_concurrency >= 1, "at least 1"),
        ):
            if not ok:
                raise ConfigError(f"bad backend 'litellm' option {name!r} = {value!r}: must be {rule}")
        self.model = model
        self.name = f"litellm:{model}"
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = float(timeout)
        self.retry = RetryPolicy(attempts=int(max_retries) + 1, base_delay=float(retry_base_delay))
        self.max_concurrency = int(max_concurrency)
        self.litellm_kwargs = pass_through(self._litellm, litellm_kwargs)
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _limit(self) -> asyncio.Semaphore:
        # One semaphore per event loop: a semaphore is bound to the loop that first waits on it.
        loop = asyncio.get_running_loop()
        if loop not in self._limits:
            self._limits[loop] = asyncio.Semaphore(self.max_concurrency)
        return self._limits[loop]

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        p = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_openai() for m in request.messages],
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "timeout": self.timeout,
            # Retries are ours (with backoff); litellm's and the openai client's are turned off.
            "num_retries": 0,
            "max_retries": 0,
            **self.litellm_kwargs,
        }
        optional = {"stop": p.stop or None, "seed": p.seed, "tools": request.tools, "api_base": self.api_base,
                    "api_key": self.api_key}
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if request.tools:
            if self._tools_kwargs is None:
                self._tools_kwargs = _mcp_bypass(self._litellm)
            kwargs.update(self._tools_kwargs)
        return kwargs

    async def _one(self, request: ChatRequest) -> Completion:
        start = time.perf_counter()
        kwargs = self._kwargs(request)

        async def attempt() -> Completion:
            # litellm's timeout bounds each read; this bounds the whole attempt (a trickling server).
            try:
                response = await asyncio.wait_for(self._litellm.acompletion(**kwargs), self.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no complete answer within {self.timeout:g}s") from None
            return to_completion(response)

        try:
            async with self._limit():
                out = await retry_async(attempt, self.retry)
        except Exception as e:  # noqa: BLE001 - a failed request is data, never raised
            out = Completion(error=self._redacted(f"{type(e).__name__}: {str(e)[:2000]}"), finish_reason="error")
        out.latency_s = time.perf_counter() - start
        return out

    def _redacted(self, text: str) -> str:
        from mulligan.llm.spec import redact

        if self.api_key:
            text = text.replace(str(self.api_key), "***")
        return redact(text)

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Answer all requests concurrently (at most ``max_concurrency`` in flight)."""
        return list(await asyncio.gather(*(self._one(r) for r in requests)))

    def close(self) -> None:
        """Nothing held beyond litellm's shared clients."""


def pass_through(litellm: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The extra options for ``litellm.acompletion``, checked by name (see :class:`LiteLLMBackend`).

    Raises:
        ConfigError: A name litellm does not take, with a close match.
    """
    import inspect

    known = {p for p in inspect.signature(litellm.acompletion).parameters if p != "kwargs"} - OWN_OPTIONS
    known |= PROVIDER_OPTIONS
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key.startswith(PASS_THROUGH_PREFIX) and len(key) > len(PASS_THROUGH_PREFIX):
            out[key[len(PASS_THROUGH_PREFIX):]] = value
        elif key in known:
            out[key] = value
        else:
            mine = ["api_base", "api_key", "timeout", "max_retries", "retry_base_delay", "max_concurrency"]
            error = unknown_option(key, [*mine, *sorted(known)], "backend 'litellm'")
            raise ConfigError(f"{str(error).split(' Options:')[0]} Options: {', '.join(mine)}, litellm's own "
                              f"(extra_headers, seed, ...), or {PASS_THROUGH_PREFIX}NAME for anything else.")
    return out
