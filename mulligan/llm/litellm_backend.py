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

from mulligan.errors import DependencyNotInstalled
from mulligan.llm.base import RAW_ARGUMENTS, ChatRequest, Completion
from mulligan.llm.retry import RetryPolicy, retry_async
from mulligan.records import ToolCall, Usage


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
    """Turn a litellm ``ModelResponse`` into a :class:`Completion`."""
    choice = response.choices[0]
    message = choice.message
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

    Transient errors (rate limits, timeouts, connection errors, 5xx) are retried with exponential
    backoff and jitter; other errors and spent retries come back as ``Completion(error=...)``.

    Args:
        model: A litellm model name (``openai/gpt-4o-mini``).
        api_base: Base URL of the API (``http://127.0.0.1:8000/v1`` for a local server).
        api_key: API key; litellm reads the provider's environment variable when None.
        timeout: Seconds allowed for one attempt.
        max_retries: Retries after the first attempt, for transient errors.
        retry_base_delay: Seconds before the first retry; doubles each retry.
        max_concurrency: Requests in flight at once, across all calls to ``generate``.
        **litellm_kwargs: Passed to ``litellm.acompletion`` as is (``extra_headers``, ...).
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
        self.model = model
        self.name = f"litellm:{model}"
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = float(timeout)
        self.retry = RetryPolicy(attempts=int(max_retries) + 1, base_delay=float(retry_base_delay))
        self.max_concurrency = int(max_concurrency)
        self.litellm_kwargs = litellm_kwargs
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
        try:
            async with self._limit():
                response = await retry_async(lambda: self._litellm.acompletion(**kwargs), self.retry)
            out = to_completion(response)
        except Exception as e:  # noqa: BLE001 - a failed request is data, never raised
            out = Completion(error=f"{type(e).__name__}: {str(e)[:2000]}", finish_reason="error")
        out.latency_s = time.perf_counter() - start
        return out

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Answer all requests concurrently (at most ``max_concurrency`` in flight)."""
        return list(await asyncio.gather(*(self._one(r) for r in requests)))

    def close(self) -> None:
        """Nothing held beyond litellm's shared clients."""
