"""The transformers backend on a tiny locally built checkpoint."""

from __future__ import annotations

import asyncio

import pytest
from llm_test_helpers import PROMPTS, chat

from mulligan.errors import ConfigError
from mulligan.llm import make_llm
from mulligan.llm.base import ChatRequest, GenerationParams
from mulligan.records import Message


def generate(llm, requests):
    return asyncio.run(llm.generate(requests))


def one_by_one(llm, requests):
    return [generate(llm, [r])[0] for r in requests]


def test_batch_equals_single_greedy_in_order(tiny_llm):
    requests = [chat(p, max_tokens=n) for p, n in zip(PROMPTS, [24, 3, 24, 16, 5, 24])]
    batch = generate(tiny_llm, requests)
    single = one_by_one(tiny_llm, requests)
    assert len(batch) == len(requests)
    assert all(o.error is None and o.text for o in batch)
    assert [o.text for o in batch] == [o.text for o in single]
    assert [o.usage for o in batch] == [o.usage for o in single]
    assert [o.finish_reason for o in batch] == [o.finish_reason for o in single]
    assert batch[1].usage.completion_tokens == 3 and batch[1].finish_reason == "length"


def test_multi_turn_batch_equals_single(tiny_llm):
    history = [Message(role="system", content="You tidy the house."), Message(role="user", content=PROMPTS[0]),
               Message(role="assistant", content="Thought: the apple is on the table. Action: take apple")]
    params = GenerationParams(max_tokens=32)
    requests = [
        ChatRequest(messages=[*history[: 1 + i % 3], Message(role="user", content=p)], params=params)
        for i, p in enumerate(PROMPTS)
    ]
    assert [o.text for o in generate(tiny_llm, requests)] == [o.text for o in one_by_one(tiny_llm, requests)]


def test_greedy_is_deterministic(tiny_llm):
    requests = [chat(p) for p in PROMPTS[:3]]
    assert [o.text for o in generate(tiny_llm, requests)] == [o.text for o in generate(tiny_llm, requests)]


def test_stop_strings_truncate(tiny_llm):
    full = generate(tiny_llm, [chat(PROMPTS[0])])[0].text
    assert "Action:" in full, full
    stopped, plain = generate(tiny_llm, [chat(PROMPTS[0], stop=["Action:", "zzz"]), chat(PROMPTS[0])])
    assert stopped.text == full[: full.index("Action:")] and stopped.finish_reason == "stop"
    assert plain.text == full
    assert stopped.usage.completion_tokens < plain.usage.completion_tokens


def test_usage_counts_prompt_and_generated_tokens(tiny_llm):
    request = chat(PROMPTS[3], max_tokens=4)
    out = generate(tiny_llm, [request])[0]
    prompt_ids = tiny_llm.tokenizer(tiny_llm.render(request), add_special_tokens=False)["input_ids"]
    assert out.usage.prompt_tokens == len(prompt_ids)
    assert out.usage.completion_tokens == 4 and out.finish_reason == "length"
    finished = generate(tiny_llm, [chat(PROMPTS[0], max_tokens=64)])[0]
    assert finished.finish_reason == "stop"
    # The EOS token is counted; its text is not.
    assert finished.usage.completion_tokens == len(tiny_llm.tokenizer(finished.text)["input_ids"]) + 1


def test_seeded_sampling_is_reproducible(tiny_llm):
    requests = [chat(p, temperature=1.5, seed=7) for p in PROMPTS[:2]]
    first, second = generate(tiny_llm, requests), generate(tiny_llm, requests)
    assert [o.text for o in first] == [o.text for o in second]


def test_large_lists_are_chunked(tiny_llm):
    requests = [chat(PROMPTS[i % len(PROMPTS)], max_tokens=2) for i in range(tiny_llm.max_batch_size + 3)]
    outs = generate(tiny_llm, requests)
    assert len(outs) == len(requests) and all(o.error is None for o in outs)


def test_event_loop_stays_responsive(tiny_llm):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await tiny_llm.generate([chat(p, max_tokens=48) for p in PROMPTS])
        task.cancel()
        return ticks

    assert asyncio.run(main()) > 0


def test_spec_options(tiny_checkpoint):
    llm = make_llm(f"hf:{tiny_checkpoint}?device=cpu&max_batch_size=2&dtype=float32")
    try:
        assert (llm.max_batch_size, llm.device, llm.name) == (2, "cpu", f"transformers:{tiny_checkpoint}")
        assert generate(llm, [chat(PROMPTS[0], max_tokens=2)])[0].usage.completion_tokens == 2
    finally:
        llm.close()
        llm.close()
    assert "closed" in generate(llm, [chat(PROMPTS[0])])[0].error


def test_bad_checkpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load checkpoint"):
        make_llm(f"transformers:{tmp_path}")
    with pytest.raises(ConfigError, match="unknown dtype"):
        make_llm(f"transformers:{tmp_path}?dtype=float33")


def _full_forward_logprob(llm, messages, reply):
    """log P(reply, then the end of the turn | messages), by one plain forward pass over the whole text."""
    import torch

    prompt = llm.render(ChatRequest(messages=messages))
    ids = llm.tokenizer(prompt + reply + llm.reply_end, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = llm.model(torch.tensor([ids])).logits.log_softmax(-1)[0]
    return [logprobs[i - 1, ids[i]].item() for i in range(1, len(ids))]


def test_score_ranks_the_greedy_reply_first_and_matches_a_full_forward(tiny_llm):
    from mulligan.llm.base import ScoreRequest

    messages = [Message(role="user", content="take the apple near the table")]
    (greedy,) = generate(tiny_llm, [ChatRequest(messages=messages, params=GenerationParams(max_tokens=48))])
    assert greedy.finish_reason == "stop"
    candidates = [greedy.text, greedy.text.replace("apple", "pen"), greedy.text[:-3], "hello"]
    (scores,) = asyncio.run(tiny_llm.score([ScoreRequest(messages=messages, candidates=candidates)]))
    assert max(range(len(candidates)), key=scores.__getitem__) == 0
    # Differences between candidates equal those of full, uncached forward passes (the shared
    # prefix cancels out), so the cached, right-padded batch changes nothing.
    full = [sum(_full_forward_logprob(tiny_llm, messages, c)) for c in candidates]
    for k in range(1, len(candidates)):
        assert scores[k] - scores[0] == pytest.approx(full[k] - full[0], abs=1e-3)


def test_likelihood_constraint_picks_the_models_favourite_admissible_action(tiny_llm):
    from mulligan.agents.admissible import constrain, nearest
    from mulligan.agents.parsing import ParsedReply
    from mulligan.llm.base import ScoreRequest

    messages = [Message(role="user", content="take the apple near the table")]
    admissible = ["open pen", "take apple", "take mug", "look"]
    proposed = ParsedReply(action="take appel", thought="the apple is on the table.")
    reply = "Thought: the apple is on the table. Action: take appel"
    chosen = asyncio.run(constrain("likelihood", proposed, llm=tiny_llm, messages=messages,
                                   info={"admissible_actions": admissible}, history=[], reply=reply))
    (scores,) = asyncio.run(tiny_llm.score([ScoreRequest(
        messages=messages, prefix="Thought: the apple is on the table. Action: ", candidates=admissible)]))
    assert chosen.action == admissible[max(range(len(admissible)), key=scores.__getitem__)]
    assert chosen.action != nearest(proposed.action, admissible)  # the model chose, not string similarity
    assert chosen.thought == "the apple is on the table."


def _turns(llm, conversations, params, turns=3):
    """Run every conversation for a few turns, each turn's reply and a new user line appended."""
    texts = []
    for turn in range(turns):
        requests = [ChatRequest(messages=list(c), params=params) for c in conversations]
        outputs = generate(llm, requests)
        texts += [(o.text, o.usage, o.finish_reason) for o in outputs]
        for c, o, p in zip(conversations, outputs, PROMPTS[turn + 1 :] + PROMPTS):
            c += [Message(role="assistant", content=o.text), Message(role="user", content=p)]
    return texts


@pytest.mark.parametrize("params", [GenerationParams(max_tokens=24),
                                    GenerationParams(max_tokens=24, temperature=0.9, seed=3)],
                         ids=["greedy", "seeded-sampling"])
def test_prefix_cache_reuses_earlier_turns_and_changes_no_reply(tiny_checkpoint, params):
    from mulligan.llm.transformers_backend import TransformersLLM

    def conversations():
        # Rows of one batch with different histories, so cached and fresh rows mix in a batch.
        return [[Message(role="system", content="You tidy the house."), Message(role="user", content=p)]
                for p in PROMPTS[:4]]

    def extra():
        return conversations()[:2] + [[Message(role="user", content=PROMPTS[5])]]

    cached = TransformersLLM(tiny_checkpoint, device="cpu", prefix_cache=16)
    plain = TransformersLLM(tiny_checkpoint, device="cpu", prefix_cache=0)
    try:
        with_cache = _turns(cached, conversations(), params)
        # A new conversation alongside continuing ones: one row misses, the others hit.
        with_cache += _turns(cached, extra(), params, turns=2)
        without = _turns(plain, conversations(), params) + _turns(plain, extra(), params, turns=2)
    finally:
        cached.close()
        plain.close()
    assert with_cache == without
    assert cached.prefix_cache.hits >= 8
    assert cached.prefix_cache.reused_tokens > 100
    assert plain.prefix_cache.hits == 0


def test_scoring_reuses_the_turns_cached_prompt_and_scores_the_same(tiny_checkpoint):
    from mulligan.llm.base import ScoreRequest
    from mulligan.llm.transformers_backend import TransformersLLM

    cached = TransformersLLM(tiny_checkpoint, device="cpu", prefix_cache=8)
    plain = TransformersLLM(tiny_checkpoint, device="cpu", prefix_cache=0)
    try:
        messages = [Message(role="system", content="You tidy the house."),
                    Message(role="user", content="open the drawer near the desk")]
        (reply,) = generate(cached, [ChatRequest(messages=messages, params=GenerationParams(max_tokens=48))])
        assert "Action:" in reply.text, reply.text
        prefix = reply.text[: reply.text.index("Action:") + len("Action: ")]
        request = ScoreRequest(messages=messages, prefix=prefix,
                               candidates=["open drawer", "take knife", "clean the plate on the shelf"])
        hits = cached.prefix_cache.hits
        (with_cache,) = asyncio.run(cached.score([request]))
        (without,) = asyncio.run(plain.score([request]))
        assert cached.prefix_cache.hits == hits + 1 and len(cached.prefix_cache) == 1  # read, not taken
        assert with_cache == pytest.approx(without, abs=1e-4)
    finally:
        cached.close()
        plain.close()


def test_backend_seed_makes_unseeded_sampling_reproducible_and_distinct(tiny_checkpoint):
    """The run's --seed reaches the model: requests without their own seed sample from it."""
    from mulligan.llm.transformers_backend import TransformersLLM

    def samples(seed):
        llm = TransformersLLM(tiny_checkpoint, device="cpu", seed=seed, prefix_cache=0)
        try:
            requests = [chat(p, max_tokens=12, temperature=1.5) for p in PROMPTS]
            return [asyncio.run(llm.generate([r]))[0].text for r in requests]
        finally:
            llm.close()

    first = samples(1)
    assert samples(1) == first
    assert samples(2) != first


def test_a_cancelled_request_stops_alone_and_says_so(tiny_llm):
    waiting = chat(PROMPTS[0], max_tokens=20)
    waiting.cancel()
    other = chat(PROMPTS[1], max_tokens=5)
    cancelled, answered = asyncio.run(tiny_llm.generate([waiting, other]))
    assert cancelled.finish_reason == "cancelled" and cancelled.usage.completion_tokens == 0
    assert answered.finish_reason in ("stop", "length") and answered.text
