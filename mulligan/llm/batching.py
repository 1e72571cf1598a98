"""The batching layer: coalesces concurrent single requests into backend batches.

Agents are plain sequential code that asks for one reply at a time; with many episodes in flight,
:class:`BatchingLLM` gathers their requests and sends them to the inner backend as one
``generate`` call, which a local model answers in one forward pass per token.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mulligan.llm.base import LLM, ChatRequest, Completion, ScoreRequest, can_score

log = logging.getLogger(__name__)

_Waiter = tuple[ChatRequest, "asyncio.Future[Completion]"]


class BatchingLLM:
    """An LLM that batches the requests of concurrent callers into its inner backend.

    A batch is sent when it is full, or when ``max_wait_ms`` passed with no new request. While
    ``max_concurrent_batches`` batches are running, new requests keep gathering, so a busy local
    model gets larger batches. If the inner call raises, every request of that batch gets a
    ``Completion`` with ``error`` set and the batcher goes on. A caller that is cancelled while it
    waits has its requests cancelled too (:meth:`ChatRequest.cancel`), so the backend stops them.

    Args:
        inner: The backend that answers the batches.
        max_batch_size: Requests per inner call; defaults to ``inner.max_batch_size``.
        max_wait_ms: How long a batch waits for one more request before it is sent.
        max_concurrent_batches: Inner calls in flight at once. Defaults to 1 for batching
            backends (a local model runs one batch at a time) and unlimited for per-request
            APIs (``inner.max_batch_size == 1``), which limit their own concurrency.

    Attributes:
        batches: Inner ``generate`` calls made so far.
        requests: Requests received so far.
        largest_batch: Size of the largest batch sent.
        busy_s: How long the oldest inner call now running has run (None when none runs).
    """

    def __init__(
        self,
        inner: LLM,
        max_batch_size: int | None = None,
        max_wait_ms: float = 5,
        max_concurrent_batches: int | None = None,
    ):
        self.inner = inner
        self.name = inner.name
        self.supports_tools = inner.supports_tools
        self.supports_scoring = can_score(inner)
        self.max_batch_size = int(max_batch_size or inner.max_batch_size)
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.max_wait_s = max_wait_ms / 1000
        if max_concurrent_batches is None and inner.max_batch_size > 1:
            max_concurrent_batches = 1
        self.max_concurrent_batches = max_concurrent_batches
        self.batches = 0
        self.requests = 0
        self.largest_batch = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: list[float] = []

    def _bind(self) -> asyncio.AbstractEventLoop:
        # Futures and timers belong to one event loop; a new loop (a new asyncio.run) starts afresh.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._pending: list[_Waiter] = []
            self._timer: asyncio.TimerHandle | None = None
            self._due = False
            self._running = 0
            self._tasks: set[asyncio.Task[None]] = set()
        return loop

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Queue the requests with those of other callers and wait for their answers."""
        loop = self._bind()
        futures = [loop.create_future() for _ in requests]
        self._pending += zip(requests, futures)
        self.requests += len(requests)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(self.max_wait_s, self._on_timer)
        self._pump()
        try:
            return list(await asyncio.gather(*futures))
        except asyncio.CancelledError:
            for request in requests:
                request.cancel()
            raise

    @property
    def busy_s(self) -> float | None:
        started = list(self._started)
        return time.monotonic() - min(started) if started else None

    async def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """Rank candidates with the inner backend (scoring is rare enough to go unbatched)."""
        if not self.supports_scoring:
            raise NotImplementedError(f"{self.name} cannot score candidate replies")
        return await self.inner.score(requests)  # type: ignore[attr-defined]

    def _on_timer(self) -> None:
        self._timer = None
        self._due = True
        self._pump()

    def _has_slot(self) -> bool:
        return self.max_concurrent_batches is None or self._running < self.max_concurrent_batches

    def _pump(self) -> None:
        """Send every batch that is ready while there is a free slot."""
        self._pending = [w for w in self._pending if not w[1].done()]  # drop cancelled callers
        while self._pending and self._has_slot() and (self._due or len(self._pending) >= self.max_batch_size):
            batch, self._pending = self._pending[: self.max_batch_size], self._pending[self.max_batch_size :]
            self._running += 1
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            task = asyncio.ensure_future(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not self._pending:
            self._due = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    async def _run(self, batch: list[_Waiter]) -> None:
        started = time.monotonic()
        self._started.append(started)
        try:
            try:
                outs = await self.inner.generate([request for request, _ in batch])
                if len(outs) != len(batch):
                    raise RuntimeError(f"backend returned {len(outs)} completions for {len(batch)} requests")
            except Exception as e:  # noqa: BLE001 - every waiter gets the error; the batcher lives on
                log.warning("batch of %d failed: %s: %s", len(batch), type(e).__name__, e)
                error = f"{type(e).__name__}: {e}"
                outs = [Completion(error=error, finish_reason="error") for _ in batch]
            for (_, future), out in zip(batch, outs):
                if not future.done():
                    future.set_result(out)
        finally:
            for _, future in batch:  # cancelled mid-call: no waiter may hang
                if not future.done():
                    future.cancel()
            self._running -= 1
            self._started.remove(started)
            self._pump()

    def close(self) -> None:
        """Stop the timer and close the inner backend."""
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
            self._timer = None
        self.inner.close()
