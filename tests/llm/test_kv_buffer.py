"""The in-place key/value buffer and the backend's choice of when to reuse keys."""

from __future__ import annotations

import asyncio

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from llm_test_helpers import PROMPTS, chat  # noqa: E402

from mulligan.llm.kv_buffer import ReservedLayer, reserved_cache  # noqa: E402
from mulligan.llm.transformers_backend import full_attention_only  # noqa: E402


def test_reserved_layer_holds_what_concatenation_would_and_grows_when_full():
    layer = ReservedLayer(reserve=2)
    chunks = [torch.randn(2, 3, n, 4) for n in (5, 1, 1, 1, 3, 1)]
    for chunk in chunks:
        keys, values = layer.update(chunk, -chunk)
    expected = torch.cat(chunks, dim=-2)
    assert torch.equal(keys, expected) and torch.equal(values, -expected)
    assert layer.get_seq_length() == expected.shape[-2]
    layer.batch_repeat_interleave(2)  # replaces the tensors: the next update starts a new buffer
    more = torch.randn(4, 3, 1, 4)
    keys, _ = layer.update(more, more)
    assert torch.equal(keys, torch.cat([expected.repeat_interleave(2, dim=0), more], dim=-2))


def test_reserved_cache_starts_from_given_layers():
    past = [(torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)) for _ in range(2)]
    cache = reserved_cache(2, past, reserve=4)
    assert cache.get_seq_length() == 3
    assert torch.equal(cache.layers[1].keys, past[1][0])
    assert reserved_cache(3).get_seq_length() == 0


def test_backend_replies_match_plain_hugging_face_generate(tiny_llm):
    """Greedy replies through the reserved buffer equal ``model.generate`` with its own cache."""
    requests = [chat(p, max_tokens=20) for p in PROMPTS[:4]]
    replies = asyncio.run(tiny_llm.generate(requests))
    tok, model = tiny_llm.tokenizer, tiny_llm.model
    for request, reply in zip(requests, replies):
        ids = tok(tiny_llm.render(request), add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=20, do_sample=False, pad_token_id=tiny_llm.pad_id,
                                 eos_token_id=tiny_llm.eos_ids)
        assert reply.text == tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("config, expected", [
    (transformers.LlamaConfig(), True),
    (transformers.MistralConfig(sliding_window=4096), False),
    (transformers.MistralConfig(sliding_window=None), True),
    (transformers.Qwen2Config(use_sliding_window=False, sliding_window=4096), True),
    (transformers.Qwen2Config(use_sliding_window=True, sliding_window=4096, max_window_layers=0), False),
])
def test_keys_are_reused_only_for_full_attention_models(config, expected):
    assert full_attention_only(config) is expected
