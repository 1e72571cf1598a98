"""``mulligan serve`` survives its clients: real servers on loopback, real tiny models, real
concurrent clients (the OpenAI Python SDK, httpx and raw sockets), bounded in number."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import time

import httpx
import openai
import pytest
from llm_test_helpers import PROMPTS, Recording, StuckLLM
from typer.testing import CliRunner

from mulligan.llm import start_server
from mulligan.llm.serve import Limits, is_loopback

ENDLESS_MAX = 4000


def wait_for(check, seconds=120.0):
    """Poll ``check()`` until it is truthy (a generous bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the condition never held")


@pytest.fixture(scope="module")
def tiny_server(tiny_llm):
    with start_server(tiny_llm, model_name="tiny", max_wait_ms=20, limits=Limits(max_tokens=600)) as handle:
        yield handle


def sdk(handle, key="unused"):
    return openai.OpenAI(base_url=handle.api_base, api_key=key, max_retries=0, timeout=300)


def ask(client, content=PROMPTS[0], **params):
    params.setdefault("max_tokens", 4)
    return client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": content}], **params)


# -- the OpenAI SDK, bursts ----------------------------------------------------------------------


def test_openai_sdk_chat_and_models(tiny_server):
    client = sdk(tiny_server)
    reply = ask(client, temperature=0)
    assert reply.choices[0].message.role == "assistant" and reply.usage.completion_tokens <= 4
    assert reply.model == "tiny" and [m.id for m in client.models.list().data] == ["tiny"]


@pytest.mark.parametrize("burst", [256])
def test_a_burst_of_concurrent_sdk_clients_loses_nothing(tiny_server, burst):
    client = sdk(tiny_server)
    with concurrent.futures.ThreadPoolExecutor(burst) as pool:
        futures = [pool.submit(ask, client, PROMPTS[i % len(PROMPTS)], max_tokens=2, temperature=0)
                   for i in range(burst)]
        errors = [f.exception() for f in futures if f.exception() is not None]
    assert errors == []
    assert tiny_server._server.request_queue_size >= burst


def test_a_burst_of_raw_connections_is_queued_not_refused(tiny_server):
    """256 sockets connect at once, before any request is sent: all are accepted."""
    import socket

    socks = [socket.create_connection(("127.0.0.1", tiny_server.port), timeout=60) for _ in range(256)]
    try:
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        for s in socks:
            s.sendall(request)
        statuses = [s.makefile("rb").readline().split()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    assert statuses == [b"200"] * 256


# -- every invalid parameter is a 400 with a reason ----------------------------------------------


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"temperature": -5}, "'temperature' = -5: input should be greater than or equal to 0"),
        ({"temperature": 9}, "'temperature' = 9"),
        ({"top_p": 0}, "'top_p' = 0"),
        ({"max_tokens": -1}, "'max_tokens' = -1"),
        ({"max_tokens": 10**9}, "max_tokens = 1000000000: this server gives at most 600 tokens per reply"),
        ({"n": 2}, "'n' = 2"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop takes at most 4 strings"),
        ({"seed": "x"}, "'seed' = 'x'"),
        ({"logprobs": True}, "logprobs are not supported"),
        ({"response_format": {"type": "json_object"}}, "only response_format"),
        ({"extra_body": {"frobnicate": 1}}, "unknown parameter 'frobnicate'"),
    ],
)
def test_invalid_parameters_are_400_with_a_reason(tiny_server, params, fragment):
    with pytest.raises(openai.BadRequestError) as info:
        ask(sdk(tiny_server), **params)
    assert fragment in info.value.body["message"]


def test_an_unknown_model_is_404(tiny_server):
    with pytest.raises(openai.NotFoundError) as info:
        sdk(tiny_server).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert "'gpt-9' does not exist here; this server serves 'tiny'" in info.value.body["message"]


def test_inputs_past_the_limits_are_refused_before_the_model_sees_them(tiny_server):
    client = sdk(tiny_server)
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "x" * (1 << 20))
    assert "this server takes at most 1048576" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "take the apple " * 200)
    assert "the prompt is" in info.value.body["message"] and "takes at most 511" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "take the apple", max_tokens=520)
    assert "exceed the model's context of 512 tokens" in info.value.body["message"]
    assert ask(client, temperature=0).choices[0].finish_reason in ("stop", "length")


# -- API key ---------------------------------------------------------------------------------------


def test_api_key_guards_v1_but_not_health(tiny_llm):
    with start_server(tiny_llm, model_name="tiny", api_key="s3cret", limits=Limits(max_tokens=8)) as handle:
        with pytest.raises(openai.AuthenticationError):
            ask(sdk(handle, "wrong"))
        with pytest.raises(openai.AuthenticationError):
            sdk(handle, "wrong").models.list()
        assert ask(sdk(handle, "s3cret"), temperature=0).choices
        assert httpx.get(f"{handle.url}/health").status_code == 200


def test_serving_beyond_loopback_needs_an_api_key():
    from mulligan.cli import app

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--model", "x"], env={"MULLIGAN_API_KEY": ""})
    assert result.exit_code == 2 and "--host 0.0.0.0 exposes the model" in result.output


# -- generation stops when nobody waits for it -----------------------------------------------------


def test_a_timed_out_request_stops_generating(endless_llm):
    recorder = Recording(endless_llm)
    limits = Limits(max_tokens=ENDLESS_MAX)
    with start_server(recorder, model_name="endless", timeout_s=0.3, limits=limits) as handle:
        response = httpx.post(f"{handle.api_base}/chat/completions", timeout=300, json={
            "model": "endless", "messages": [{"role": "user", "content": "go"}], "max_tokens": ENDLESS_MAX})
        assert response.status_code == 504 and "longer than 0.3s" in response.json()["error"]["message"]
        (out,) = wait_for(lambda: recorder.outputs)
        assert out.finish_reason == "cancelled" and 0 < out.usage.completion_tokens < ENDLESS_MAX
        assert wait_for(lambda: handle.batcher.busy_s is None)
        health = httpx.get(f"{handle.url}/health").json()
        assert health["status"] == "ok" and health["cancelled"] == 1


def test_a_client_that_leaves_stops_its_generation(endless_llm):
    recorder = Recording(endless_llm)
    with start_server(recorder, model_name="endless", limits=Limits(max_tokens=ENDLESS_MAX)) as handle:
        conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=60)
        body = json.dumps({"messages": [{"role": "user", "content": "go"}], "max_tokens": ENDLESS_MAX})
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        wait_for(lambda: handle.batcher.busy_s is not None)
        conn.close()
        (out,) = wait_for(lambda: recorder.outputs)
        assert out.finish_reason == "cancelled" and 0 < out.usage.completion_tokens < ENDLESS_MAX
        assert httpx.get(f"{handle.url}/health").json()["cancelled"] == 1


def test_a_small_request_is_answered_after_a_cancelled_big_one(endless_llm):
    with start_server(endless_llm, model_name="endless", timeout_s=0.3, limits=Limits(max_tokens=ENDLESS_MAX)) as h:
        client = openai.OpenAI(base_url=h.api_base, api_key="x", max_retries=0, timeout=300)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="endless", messages=[{"role": "user", "content": "go"}],
                                           max_tokens=ENDLESS_MAX)
        small = client.chat.completions.create(model="endless", messages=[{"role": "user", "content": "go"}],
                                               max_tokens=3)
        assert small.usage.completion_tokens == 3


def test_health_says_when_the_model_is_stuck():
    stuck = StuckLLM()
    with start_server(stuck, timeout_s=0.2, stuck_after_s=0.5) as handle:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, f"{handle.api_base}/chat/completions", timeout=60,
                                  json={"messages": [{"role": "user", "content": "hi"}]})
            assert pending.result().status_code == 504
            health = wait_for(lambda: (lambda r: r if r.status_code == 503 else None)(
                httpx.get(f"{handle.url}/health")))
            assert health.json()["status"] == "stuck" and "does not stop" in health.json()["detail"]
            stuck.release()
            wait_for(lambda: httpx.get(f"{handle.url}/health").status_code == 200)
