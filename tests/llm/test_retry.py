"""Retries: backoff, what counts as transient, and the litellm backend against a real HTTP upstream."""

from __future__ import annotations

import asyncio
import random
import socket
import time

import httpx
import pytest
from llm_test_helpers import chat

from mulligan.llm import RetryPolicy, is_transient, make_llm, retry_async


class StatusError(Exception):
    def __init__(self, status_code: int):
        super().__init__(f"status {status_code}")
        self.status_code = status_code


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run_with_recorded_sleeps(call, policy):
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    try:
        return asyncio.run(retry_async(call, policy, sleep=sleep)), sleeps
    except Exception as e:  # noqa: BLE001 - returned for the assertions
        return e, sleeps


@pytest.mark.parametrize(
    "error, transient",
    [
        (StatusError(429), True),
        (StatusError(500), True),
        (StatusError(503), True),
        (StatusError(408), True),
        (StatusError(400), False),
        (StatusError(401), False),
        (StatusError(404), False),
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (ValueError("bad"), False),
    ],
)
def test_is_transient(error, transient):
    assert is_transient(error) is transient


def test_litellm_exception_types_are_classified():
    from mulligan.llm.litellm_backend import import_litellm

    litellm = import_litellm()
    assert is_transient(litellm.RateLimitError("slow down", "openai", "x"))
    assert is_transient(litellm.InternalServerError("boom", "openai", "x"))
    assert is_transient(litellm.APIConnectionError("refused", "openai", "x"))
    assert not is_transient(litellm.AuthenticationError("no key", "openai", "x"))
    assert not is_transient(litellm.BadRequestError("bad", "openai", "x"))


def test_delays_grow_exponentially_within_jitter():
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=3.0, jitter=0.5)
    rng = random.Random(0)
    for retry, full in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        for _ in range(20):
            assert full * 0.5 <= policy.delay(retry, rng) <= full
    assert RetryPolicy(jitter=0).delay(2) == 2.0
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_transient_errors_are_retried_with_backoff_then_succeed():
    flaky = Flaky(StatusError(503), StatusError(429))
    result, sleeps = run_with_recorded_sleeps(flaky, RetryPolicy(attempts=4, base_delay=0.1, jitter=0))
    assert result == "ok" and flaky.calls == 3 and sleeps == [0.1, 0.2]


def test_non_transient_error_is_not_retried():
    flaky = Flaky(StatusError(401))
    result, sleeps = run_with_recorded_sleeps(flaky, RetryPolicy(attempts=4, base_delay=0.1))
    assert isinstance(result, StatusError) and flaky.calls == 1 and sleeps == []


def test_spent_attempts_raise_the_last_error():
    flaky = Flaky(StatusError(500), StatusError(502), StatusError(503))
    result, sleeps = run_with_recorded_sleeps(flaky, RetryPolicy(attempts=2, base_delay=0.1, jitter=0))
    assert isinstance(result, StatusError) and result.status_code == 502 and flaky.calls == 2 and sleeps == [0.1]


# The litellm backend against a real local HTTP upstream (FakeUpstream stands in for a paid API).


def litellm_for(upstream, **options):
    return make_llm(f"litellm:openai/x?api_base={upstream.api_base}&api_key=dummy", retry_base_delay=0.01, **options)


def test_litellm_retries_5xx_and_429_then_succeeds(upstream):
    upstream.script = [500, 429, 503]
    out = asyncio.run(litellm_for(upstream, max_retries=3).generate([chat("hi")]))[0]
    assert out.error is None and out.text == "hello from upstream"
    assert upstream.hits == 4
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (7, 3)


def test_litellm_spent_retries_become_completion_error(upstream):
    upstream.script = [500, 500, 500]
    out = asyncio.run(litellm_for(upstream, max_retries=1).generate([chat("hi")]))[0]
    assert out.error and "500" in out.error and out.text == "" and upstream.hits == 2


def test_litellm_non_transient_error_is_not_retried(upstream):
    upstream.script = [400]
    out = asyncio.run(litellm_for(upstream, max_retries=3).generate([chat("hi")]))[0]
    assert out.error and upstream.hits == 1


def test_litellm_dead_server_fails_fast_without_raising():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = make_llm(f"litellm:openai/x?api_base=http://127.0.0.1:{port}/v1&api_key=dummy&timeout=2&max_retries=1",
                   retry_base_delay=0.01)
    start = time.perf_counter()
    outs = asyncio.run(llm.generate([chat("a"), chat("b")]))
    assert all(o.error and o.text == "" for o in outs)
    assert time.perf_counter() - start < 15


def test_litellm_maps_params_and_tool_calls(upstream):
    upstream.tool_calls = [
        {"id": "call_1", "type": "function", "function": {"name": "go", "arguments": '{"to": "kitchen"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "look", "arguments": "not json"}},
    ]
    tools = [{"type": "function", "function": {"name": "go", "parameters": {"type": "object", "properties": {}}}}]
    request = chat("hi", max_tokens=11, temperature=0.5, top_p=0.9, stop=["\n"], seed=3)
    request.tools = tools
    out = asyncio.run(litellm_for(upstream).generate([request]))[0]
    assert out.error is None and out.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in out.tool_calls] == [
        ("call_1", "go", {"to": "kitchen"}), ("call_2", "look", {"_raw": "not json"})]
    body = upstream.bodies[0]
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    sent = (body["max_tokens"], body["temperature"], body["top_p"], body["stop"], body["seed"])
    assert sent == (11, 0.5, 0.9, ["\n"], 3)
    assert body["tools"][0]["function"]["name"] == "go"


def test_litellm_limits_concurrency(upstream):
    upstream.delay_s = 0.2
    outs = asyncio.run(litellm_for(upstream, max_concurrency=2).generate([chat(str(i)) for i in range(6)]))
    assert all(o.error is None for o in outs)
    assert upstream.max_in_flight == 2
