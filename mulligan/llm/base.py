"""The LLM protocol: batch-first and async.

Every backend takes a list of :class:`ChatRequest` and returns one :class:`Completion` per
request, in order. Agents ask for one reply at a time through :func:`complete`; the batching
layer (:class:`mulligan.llm.batching.BatchingLLM`) gathers the requests of all episodes in flight
into one backend call.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from mulligan.records import Message, ToolCall, Usage


RAW_ARGUMENTS = "_raw"
"""The only key of ``ToolCall.arguments`` when a backend could not read a call's arguments as a JSON
object: it holds the text as given, and agents answer it as a format error (never run, never trained)."""


class GenerationParams(BaseModel):
    """Sampling parameters; the defaults are greedy decoding."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1)
    stop: list[str] | None = None
    seed: int | None = None


class ChatRequest(BaseModel):
    """One generation request."""

    messages: list[Message]
    params: GenerationParams = Field(default_factory=GenerationParams)
    tools: list[dict[str, Any]] | None = None
    """OpenAI-style tool schemas, for backends with native tool calls."""
    episode_id: str | None = None
    """Which episode asks; lets stateful backends (scripted) keep one cursor per episode."""
    _cancelled: bool = PrivateAttr(default=False)

    def cancel(self) -> None:
        """Ask the backend to stop generating this request (its caller timed out or left).

        Backends that generate step by step (transformers) end it at the next step with
        ``finish_reason="cancelled"``; the others may finish it. Safe to call from any thread.
        """
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled


class Completion(BaseModel):
    """One reply. A failed request has ``error`` set and empty text; it never raises."""

    text: str = ""
    tool_calls: list[ToolCall] | None = None
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str = "stop"
    latency_s: float = 0.0
    error: str | None = None
    exhausted: bool = False
    """Set by the scripted backend when the episode's script has run out."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Backend- or agent-specific facts about the reply; copied into the step's ``info``."""
    token_ids: list[int] | None = None
    """The token ids the backend generated, end-of-sequence token included, as sampled (local engines:
    vLLM, transformers; None elsewhere). The text may be shorter (a stop string cuts it); the ids are not."""
    logprobs: list[float] | None = None
    """One log-probability per generated token, under the distribution it was sampled from: the model's
    logits divided by the temperature, then cut to the top-p nucleus (the plain logits when greedy)."""
    prompt_token_ids: list[int] | None = None
    """The token ids the backend ran as the prompt (chat template applied; an episode's earlier
    generated ids verbatim, see :class:`~mulligan.llm.episode_tokens.EpisodeTokens`)."""


@runtime_checkable
class LLM(Protocol):
    """What every backend provides."""

    name: str
    """The spec-like name recorded on trajectories (``litellm:openai/gpt-4o-mini``)."""
    supports_tools: bool
    """Whether the backend returns native tool calls."""
    max_batch_size: int
    """How many requests one ``generate`` call handles well (1 for per-request APIs)."""

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Answer each request; failures come back as ``Completion(error=...)``, not exceptions."""
        ...

    def close(self) -> None:
        """Release resources (threads, servers, GPU memory). Idempotent."""
        ...


class ScoreRequest(BaseModel):
    """Which of several replies a model finds likeliest after a chat.

    Each candidate is scored as the assistant's reply ``prefix + candidate``, ended, after
    ``messages``: the sum of the log-probabilities of its tokens (the prefix is shared, so it does
    not change the ranking).
    """

    messages: list[Message]
    candidates: list[str]
    prefix: str = ""


@runtime_checkable
class Scorer(Protocol):
    """A backend that can rank given replies by likelihood (local models; APIs mostly cannot)."""

    async def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """One list of log-probabilities per request, one per candidate, in order."""
        ...


def can_score(llm: Any) -> bool:
    """Whether ``llm`` (or the backend it wraps) ranks candidate replies by likelihood."""
    return bool(getattr(llm, "supports_scoring", False)) and isinstance(llm, Scorer)


async def complete(llm: LLM, request: ChatRequest) -> Completion:
    """Ask one request through a batch-first backend."""
    (out,) = await llm.generate([request])
    return out
