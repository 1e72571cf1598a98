"""serve: the OpenAI-compatible server over the tiny model, used through the litellm backend."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from llm_test_helpers import PROMPTS, FailingLLM, chat

from mulligan.llm import make_llm, start_server


@pytest.fixture(scope="module")
def server(tiny_llm):
    handle = start_server(tiny_llm, port=0, model_name="tiny", max_wait_ms=20)
    yield handle
    handle.stop()


def test_litellm_through_server_equals_direct_transformers(server, tiny_llm):
    requests = [chat(p, max_tokens=n, stop=["zz"] if i % 2 else None)
                for i, (p, n) in enumerate(zip(PROMPTS, [24, 3, 24, 16, 5, 24]))]
    direct = [asyncio.run(tiny_llm.generate([r]))[0] for r in requests]
    client = make_llm(f"litellm:openai/tiny?api_base={server.api_base}&api_key=dummy&max_retries=0")
    batches_before = server.batcher.batches
    remote = asyncio.run(client.generate(requests))
    assert [o.error for o in remote] == [None] * len(requests)
    assert [o.text for o in remote] == [o.text for o in direct]
    assert [o.usage for o in remote] == [o.usage for o in direct]
    assert [o.finish_reason for o in remote] == [o.finish_reason for o in direct]
    assert server.batcher.batches - batches_before < len(requests), "concurrent HTTP requests were not batched"


def test_models_and_health(server):
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    models = httpx.get(f"{server.api_base}/models").json()
    assert [m["id"] for m in models["data"]] == ["tiny"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", "malformed JSON"),
        (b'{"model": "tiny"}', "bad parameter 'messages'"),
        (b'{"messages": []}', "bad parameter 'messages' = []"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "stream": true}', "stream=true is not supported"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "n": 2}', "bad parameter 'n' = 2"),
        (b'{"messages": [{"role": "wizard", "content": "hi"}]}', "messages[0].role = 'wizard'"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}',
         "bad parameter 'max_tokens' = 'many'"),
    ],
)
def test_malformed_requests_get_400_and_server_lives(server, body, fragment):
    response = httpx.post(f"{server.api_base}/chat/completions", content=body,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    ok = httpx.post(f"{server.api_base}/chat/completions",
                    json={"messages": [{"role": "user", "content": PROMPTS[0]}], "max_tokens": 2, "temperature": 0})
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 2


def test_unknown_route_is_404(server):
    assert httpx.get(f"{server.url}/nope").status_code == 404
    assert httpx.post(f"{server.url}/v1/completions", json={}).status_code == 404


def test_backend_failure_is_500_and_server_keeps_running():
    inner = FailingLLM()
    with start_server(inner) as handle:
        body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
        failed = httpx.post(f"{handle.api_base}/chat/completions", json=body)
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert error["type"] == "server_error" and "backend fell over" in error["message"]
        inner.failing = False
        answered = httpx.post(f"{handle.api_base}/chat/completions", json=body)
        assert answered.status_code == 200
        assert answered.json()["choices"][0]["message"] == {"role": "assistant", "content": "HI"}
