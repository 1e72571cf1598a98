"""The batching layer: concurrent callers share backend calls, and survive backend failures."""

from __future__ import annotations

import asyncio

from llm_test_helpers import PROMPTS, FailingLLM, chat

from mulligan.llm import BatchingLLM, ScriptedLLM, complete


async def ask_all(llm, requests):
    return await asyncio.gather(*(complete(llm, r) for r in requests))


def test_concurrent_calls_are_coalesced_and_answered_right(tiny_llm):
    requests = [chat(PROMPTS[i % len(PROMPTS)], max_tokens=4 + i % 5) for i in range(16)]
    expected = asyncio.run(tiny_llm.generate(requests))
    batcher = BatchingLLM(tiny_llm, max_batch_size=8, max_wait_ms=20)
    outs = asyncio.run(ask_all(batcher, requests))
    assert [o.text for o in outs] == [o.text for o in expected]
    assert [o.usage for o in outs] == [o.usage for o in expected]
    assert batcher.requests == 16 and batcher.batches < 16 and batcher.largest_batch == 8


def test_episodes_keep_their_own_order_through_the_batcher():
    batcher = BatchingLLM(ScriptedLLM(["first", "second", "third"]), max_batch_size=4, max_wait_ms=5)

    async def episode(i):
        return [(await complete(batcher, chat("go", episode_id=f"ep{i}"))).text for _ in range(3)]

    async def main():
        return await asyncio.gather(*(episode(i) for i in range(10)))

    assert asyncio.run(main()) == [["first", "second", "third"]] * 10
    assert batcher.requests == 30 and batcher.batches < 30 and batcher.largest_batch <= 4


def test_inner_failure_reaches_every_waiter_and_batcher_goes_on():
    inner = FailingLLM()
    batcher = BatchingLLM(inner, max_wait_ms=5)
    failed = asyncio.run(ask_all(batcher, [chat(f"q{i}") for i in range(5)]))
    assert all(o.error and "backend fell over" in o.error and o.text == "" for o in failed)
    inner.failing = False
    answered = asyncio.run(ask_all(batcher, [chat(f"q{i}") for i in range(5)]))
    assert [o.text for o in answered] == [f"Q{i}" for i in range(5)]


def test_wrong_number_of_completions_is_an_error():
    class Short(FailingLLM):
        async def generate(self, requests):
            return []

    outs = asyncio.run(ask_all(BatchingLLM(Short()), [chat("a"), chat("b")]))
    assert all("0 completions for 2 requests" in o.error for o in outs)


def test_cancelled_caller_does_not_disturb_the_others():
    inner = FailingLLM()
    inner.failing = False
    batcher = BatchingLLM(inner, max_wait_ms=20)

    async def main():
        tasks = [asyncio.create_task(complete(batcher, chat(f"q{i}"))) for i in range(4)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outs = asyncio.run(main())
    assert isinstance(outs[1], asyncio.CancelledError)
    assert [o.text for i, o in enumerate(outs) if i != 1] == ["Q0", "Q2", "Q3"]
    assert batcher.requests == 4 and batcher.largest_batch == 3


def test_per_request_backends_get_concurrent_batches():
    inner = FailingLLM()
    inner.failing = False
    inner.max_batch_size = 1
    batcher = BatchingLLM(inner)
    assert batcher.max_batch_size == 1 and batcher.max_concurrent_batches is None
    outs = asyncio.run(ask_all(batcher, [chat(f"q{i}") for i in range(6)]))
    assert [o.text for o in outs] == [f"Q{i}" for i in range(6)] and batcher.batches == 6
