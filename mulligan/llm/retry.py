"""Retries with exponential backoff and jitter, for transient provider errors."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
"""HTTP statuses worth retrying besides 5xx (timeout, conflict, too early, rate limit)."""

_TRANSIENT_NAMES = (
    "RateLimit", "Timeout", "Connect", "Network", "RemoteProtocol",
    "ServiceUnavailable", "InternalServer", "BadGateway",
)


def is_transient(exc: BaseException) -> bool:
    """Whether an error is likely to go away on retry.

    True for rate limits, timeouts, connection errors and 5xx answers. Works on the exception
    types of litellm, openai and httpx by their ``status_code`` and class names, so this module
    imports none of them.
    """
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in TRANSIENT_STATUS or status >= 500
    return any(any(word in cls.__name__ for word in _TRANSIENT_NAMES) for cls in type(exc).__mro__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes:
        attempts: Tries in all, the first included (1 means no retry).
        base_delay: Seconds before the first retry; doubles each retry.
        max_delay: Cap on one delay, before jitter.
        jitter: Fraction of each delay drawn at random (0 = none, 1 = "full jitter").
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        full = min(self.max_delay, self.base_delay * 2**retry)
        return full * (1 - self.jitter * (rng or random).random())


async def retry_async(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy = RetryPolicy(),
    *,
    transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await ``call()``, retrying transient errors with exponential backoff and jitter.

    Args:
        call: Makes a fresh attempt each time it is called.
        policy: Attempts and delays.
        transient: Decides which errors are retried; others raise at once.
        sleep: Waits between attempts (tests pass one that records the delays).

    Returns:
        The first successful result.

    Raises:
        Exception: The last error, when it is not transient or the attempts are spent.
    """
    for attempt in range(policy.attempts):
        try:
            return await call()
        except Exception as e:
            if attempt + 1 >= policy.attempts or not transient(e):
                raise
            wait = policy.delay(attempt)
            log.info("transient error (%s: %s); retry %d in %.2fs", type(e).__name__, str(e)[:200], attempt + 1, wait)
            await sleep(wait)
    raise AssertionError("unreachable")
