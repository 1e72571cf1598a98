"""Fixtures for the self-training tests: the slip policy and a tiny checkpoint."""

from __future__ import annotations

import pytest
from selftrain_helpers import TASK, SlipPolicy, expert_replies


@pytest.fixture
def slip_policy():
    """``slip_policy(tasks=(TASK,), period=3)``: a fresh :class:`SlipPolicy`."""
    return SlipPolicy


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny untrained Llama (hidden 32, 1 layer) with a tokenizer fit to household text, saved."""
    from mulligan.training.tiny import build_tiny_model, build_tokenizer

    corpus = expert_replies(TASK) * 20 + ["You are in the middle of a room.", "Nothing happens.", "Reflection:"] * 20
    tokenizer = build_tokenizer(corpus, vocab_size=400)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2)
    out = tmp_path_factory.mktemp("tiny") / "ckpt"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
