"""Retries with exponential backoff and jitter, for transient provider errors.

A ``Retry-After`` (or ``retry-after-ms``) header on the error is honoured: the wait is at least
what the provider asked, and a provider that asks for longer than ``max_retry_after`` gets no
retry at all (the error is returned at once instead of sleeping through a long outage).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

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
    if getattr(exc, "transient", None) is True:  # ProviderError(transient=True): an empty or broken reply
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
        max_retry_after: The longest ``Retry-After`` waited for; a longer one ends the retries.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        full = min(self.max_delay, self.base_delay * 2**retry)
        return full * (1 - self.jitter * (rng or random).random())


def _headers(exc: BaseException) -> Any:
    for holder in (getattr(exc, "response", None), exc):
        headers = getattr(holder, "headers", None)
        if headers is not None and hasattr(headers, "get"):
            return headers
    headers = getattr(exc, "litellm_response_headers", None)
    return headers if headers is not None and hasattr(headers, "get") else None


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked to wait (``retry-after-ms``, or ``Retry-After`` as seconds or an
    HTTP date), or None when the error carries no such header."""
    headers = _headers(exc)
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(str(value))
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


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
        Exception: The last error, when it is not transient, the attempts are spent, or the
            provider asks to wait longer than ``policy.max_retry_after``.
    """
    for attempt in range(policy.attempts):
        try:
            return await call()
        except Exception as e:
            if attempt + 1 >= policy.attempts or not transient(e):
                raise
            asked = retry_after(e)
            if asked is not None and asked > policy.max_retry_after:
                raise
            wait = max(policy.delay(attempt), asked or 0.0)
            log.info("transient error (%s: %s); retry %d in %.2fs", type(e).__name__, str(e)[:200], attempt + 1, wait)
            await sleep(wait)
    raise AssertionError("unreachable")
