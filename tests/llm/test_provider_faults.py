"""Provider faults heal: the real litellm backend against a real fault-injecting local server.

The server (``tests/fault_server.py``) stands in for a paid API; every request goes over HTTP.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from fault_server import FaultServer
from llm_test_helpers import chat

from mulligan.llm import make_llm


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def ask(server, request=None, **options):
    llm = make_llm(server.spec(retry_base_delay=0.01, **options))
    return asyncio.run(llm.generate([request or chat("hi")]))[0]


@pytest.mark.parametrize("fault", ["empty_choices", "null_message", "bad_json", "drop", 503])
def test_broken_replies_are_retried_like_5xx(server, fault):
    server.script = [fault, fault]
    out = ask(server, max_retries=2)
    assert out.error is None and out.text == "hello from upstream" and server.hits == 3


def test_broken_replies_past_the_retries_are_an_error_not_a_crash(server):
    server.script = ["empty_choices"] * 3
    out = ask(server, max_retries=1)
    assert out.text == "" and "no choices" in out.error and server.hits == 2


def test_timeout_is_one_deadline_per_attempt_not_per_read(server):
    """A server trickling its answer a byte at a time is cut at the deadline, then retried."""
    server.script = ["trickle"]
    server.trickle_s = 0.2
    out = ask(server, timeout=1, max_retries=1)
    assert out.error is None and out.text == "hello from upstream" and server.hits == 2
    deadline = time.monotonic() + 30
    while not server.trickled_bytes and time.monotonic() < deadline:
        time.sleep(0.05)
    body = len(str(server.completion({"model": "x"})))
    assert server.trickled_bytes and server.trickled_bytes[0] < body / 2, "the slow answer was read to the end"


def test_a_deadline_past_the_retries_is_reported(server):
    server.script = ["trickle"]
    server.trickle_s = 0.5
    out = ask(server, timeout=1, max_retries=0)
    assert "no complete answer within 1s" in out.error


@pytest.fixture
def recorded_sleeps(monkeypatch):
    """The backend's real retry loop, with its waits recorded instead of slept."""
    from mulligan.llm import litellm_backend, retry

    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    def retry_recorded(call, policy, **kwargs):
        return retry.retry_async(call, policy, sleep=record, **kwargs)

    monkeypatch.setattr(litellm_backend, "retry_async", retry_recorded)
    return sleeps


@pytest.mark.parametrize("headers, wait", [({"Retry-After": "7"}, 7.0), ({"retry-after-ms": "2500"}, 2.5)])
def test_retry_after_is_honoured(server, recorded_sleeps, headers, wait):
    server.script = [(429, headers), 503]
    out = ask(server, max_retries=3)
    assert out.error is None and server.hits == 3
    assert recorded_sleeps[0] == wait and recorded_sleeps[1] < 1


def test_retry_after_longer_than_the_cap_fails_at_once(server, recorded_sleeps):
    server.script = [(429, {"Retry-After": "3600"})]
    out = ask(server, max_retries=3)
    assert "RateLimitError" in out.error and server.hits == 1 and recorded_sleeps == []


def test_the_api_key_never_appears_in_an_error(server):
    server.script = ["auth"]
    llm = make_llm(server.spec(api_key="sk-live-0123456789", max_retries=0))
    out = asyncio.run(llm.generate([chat("hi")]))[0]
    assert server.headers["authorization"] == "Bearer sk-live-0123456789"
    assert out.error and "Incorrect API key provided" in out.error and "sk-live-0123456789" not in out.error
