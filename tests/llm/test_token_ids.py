"""Token in, token out: the transformers backend records the ids it generated and shows them again verbatim."""

from __future__ import annotations

import asyncio

import pytest
from llm_test_helpers import PROMPTS, chat

from mulligan.llm.base import ChatRequest, GenerationParams
from mulligan.llm.episode_tokens import EpisodeTokens
from mulligan.records import Message


def generate(llm, requests):
    return asyncio.run(llm.generate(requests))


def forward_logprobs(llm, prompt_ids, ids, temperature=1.0):
    """The log-probability of each of ``ids`` after ``prompt_ids``, from one plain forward pass."""
    import torch

    with torch.inference_mode():
        logits = llm.model(input_ids=torch.tensor([prompt_ids + ids])).logits[0].float()
    logprobs = torch.log_softmax(logits / temperature, dim=-1)
    return [logprobs[len(prompt_ids) - 1 + k, token].item() for k, token in enumerate(ids)]


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_completions_carry_their_ids_logprobs_and_prompt(tiny_llm, temperature):
    requests = [chat(p, max_tokens=n, temperature=temperature, seed=3) for p, n in zip(PROMPTS, [32, 3, 32, 32])]
    for request, out in zip(requests, generate(tiny_llm, requests)):
        rendered = tiny_llm.render(request)
        assert out.prompt_token_ids == tiny_llm.tokenizer(rendered, add_special_tokens=False)["input_ids"]
        assert len(out.token_ids) == len(out.logprobs) == out.usage.completion_tokens
        ended = out.finish_reason == "stop"
        assert (out.token_ids[-1] in tiny_llm.eos_ids) == ended
        assert tiny_llm.tokenizer.decode(out.token_ids, skip_special_tokens=True) == out.text
        expected = forward_logprobs(tiny_llm, out.prompt_token_ids, out.token_ids, temperature or 1.0)
        assert out.logprobs == pytest.approx(expected, abs=1e-4)


def nucleus_logprobs(llm, prompt_ids, ids, temperature, top_p):
    """The log-probability of each of ``ids`` renormalised over the top-p nucleus of logits / temperature."""
    import torch

    with torch.inference_mode():
        logits = llm.model(input_ids=torch.tensor([prompt_ids + ids])).logits[0].float() / temperature
    out = []
    for k, token in enumerate(ids):
        probs = torch.softmax(logits[len(prompt_ids) - 1 + k], dim=-1)
        order = torch.argsort(probs, descending=True)
        before = torch.cumsum(probs[order], dim=0) - probs[order]  # mass of the likelier tokens
        kept = order[before < top_p]
        assert token in kept.tolist()  # a sampled token is always inside the nucleus
        out.append((torch.log(probs[token]) - torch.log(probs[kept].sum())).item())
    return out


def test_top_p_logprobs_are_those_of_the_nucleus_sampled_from(tiny_llm):
    """With top-p the recorded logprobs are the nucleus's (what vLLM's processed_logprobs report), not the
    whole distribution's: each token's probability is renormalised over the tokens that could be drawn."""
    requests = [chat(p, max_tokens=24, temperature=0.8, top_p=0.5, seed=5) for p in PROMPTS]
    renormalised = 0
    for out in generate(tiny_llm, requests):
        expected = nucleus_logprobs(tiny_llm, out.prompt_token_ids, out.token_ids, 0.8, 0.5)
        assert out.logprobs == pytest.approx(expected, abs=1e-4)
        whole = forward_logprobs(tiny_llm, out.prompt_token_ids, out.token_ids, 0.8)
        renormalised += sum(abs(a - b) > 1e-3 for a, b in zip(out.logprobs, whole))
    assert renormalised > 0, "the nucleus never cut anything; the top-p path went untested"


def test_the_next_turn_shows_the_generated_ids_verbatim(tiny_llm):
    params = GenerationParams(max_tokens=32)
    history = [Message(role="user", content=PROMPTS[0])]
    first = generate(tiny_llm, [ChatRequest(messages=history, params=params, episode_id="ep-1")])[0]
    history += [Message(role="assistant", content=first.text), Message(role="user", content="Nothing happens.")]
    second = generate(tiny_llm, [ChatRequest(messages=history, params=params, episode_id="ep-1")])[0]
    turn = first.prompt_token_ids + first.token_ids
    assert second.prompt_token_ids[: len(turn)] == turn
    # The ids still spell exactly the rendered prompt.
    rendered = tiny_llm.render(ChatRequest(messages=history))
    assert tiny_llm.tokenizer.decode(second.prompt_token_ids, skip_special_tokens=False) == rendered


def test_a_rewritten_reply_keeps_the_prompt_ids_and_tokenizes_only_the_change(tiny_llm):
    params = GenerationParams(max_tokens=32)
    history = [Message(role="user", content=PROMPTS[1])]
    first = generate(tiny_llm, [ChatRequest(messages=history, params=params, episode_id="ep-2")])[0]
    history += [Message(role="assistant", content="Thought: rewritten\nAction: look"),
                Message(role="user", content="Nothing happens.")]
    second = generate(tiny_llm, [ChatRequest(messages=history, params=params, episode_id="ep-2")])[0]
    assert second.prompt_token_ids[: len(first.prompt_token_ids)] == first.prompt_token_ids
    rendered = tiny_llm.render(ChatRequest(messages=history))
    assert second.prompt_token_ids == tiny_llm.tokenizer(rendered, add_special_tokens=False)["input_ids"]


def test_ids_a_tokenizer_would_not_produce_survive_the_next_turn(tiny_llm):
    """A reply spelled in tokens other than the tokenizer's own is shown again as spelled, not re-tokenized."""
    tokenizer = tiny_llm.tokenizer
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    memory = EpisodeTokens(encode)
    prompt = tiny_llm.render(ChatRequest(messages=[Message(role="user", content=PROMPTS[2])]))
    reply = "Action: open drawer"
    spelled = [i for ch in reply for i in encode(ch)] + [tokenizer.eos_token_id]  # one token per character
    assert spelled[:-1] != encode(reply)
    memory.remember("ep", prompt, encode(prompt), tokenizer.decode(spelled, skip_special_tokens=False), spelled)
    history = [Message(role="user", content=PROMPTS[2]), Message(role="assistant", content=reply),
               Message(role="user", content="The drawer is open.")]
    text = tiny_llm.render(ChatRequest(messages=history))
    ids = memory.prompt_ids("ep", text)
    assert ids[: len(encode(prompt)) + len(spelled)] == encode(prompt) + spelled
    assert ids != encode(text) and tokenizer.decode(ids, skip_special_tokens=False) == text
    assert memory.verbatim == 1
    assert memory.prompt_ids("other episode", text) == encode(text)


def test_clear_caches_forgets_episodes(tiny_llm):
    generate(tiny_llm, [chat(PROMPTS[0], episode_id="ep-3")])
    assert len(tiny_llm.episode_tokens) > 0
    tiny_llm.clear_caches()
    assert len(tiny_llm.episode_tokens) == 0 and len(tiny_llm.prefix_cache) == 0
