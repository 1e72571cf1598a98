"""Fixtures for the llm tests: a tiny local chat model, built and briefly trained in the session."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest


OBJECTS = ["apple", "mug", "key", "book", "lamp", "towel", "plate", "knife", "pen", "cup"]
PLACES = ["table", "shelf", "drawer", "sink", "desk", "bed", "fridge", "counter", "cabinet", "sofa"]
VERBS = ["take", "put", "open", "find", "clean", "move"]


def dialogues() -> list[tuple[str, str]]:
    """A few hundred (user, assistant) pairs in a small household language."""
    pairs = []
    for verb, obj, place in itertools.product(VERBS, OBJECTS, PLACES):
        reply = f"Thought: the {obj} is on the {place}. Action: {verb} {obj}"
        pairs.append((f"{verb} the {obj} near the {place}", reply))
    random.Random(0).shuffle(pairs)
    return pairs[:300]


def _train(model, tokenizer, pairs, steps: int = 80, batch_size: int = 16, seed: int = 0) -> None:
    """A few optimiser steps, so greedy decoding has clear winners rather than near-ties."""
    import torch

    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": u}, {"role": "assistant", "content": a}], tokenize=False
        )
        for u, a in pairs
    ]
    tokenizer.padding_side = "right"
    torch.manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch = [texts[(step * batch_size + i) % len(texts)] for i in range(batch_size)]
        enc = tokenizer(batch, add_special_tokens=False, padding=True, return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A local checkpoint folder: byte-level BPE tokenizer with a chat template, tiny trained Llama."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from mulligan.training.tiny import build_tiny_model, build_tokenizer

    pairs = dialogues()
    tokenizer = build_tokenizer([f"{u}\n{a}" for u, a in pairs], vocab_size=400)
    model = build_tiny_model(tokenizer, hidden_size=64, num_layers=2, num_heads=4, max_position_embeddings=512)
    _train(model, tokenizer, pairs)
    path = tmp_path_factory.mktemp("tiny-chat-model")
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path


def _cpu_llm(path: Path):
    from mulligan.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM(path, device="cpu", max_batch_size=8)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def tiny_llm(tiny_checkpoint):
    """The transformers backend on the tiny checkpoint, on CPU."""
    yield from _cpu_llm(tiny_checkpoint)


@pytest.fixture(scope="session")
def endless_llm(endless_checkpoint):
    """The transformers backend on the endless checkpoint, on CPU."""
    yield from _cpu_llm(endless_checkpoint)


@pytest.fixture
def upstream():
    """A fake OpenAI-compatible upstream on 127.0.0.1 (stands in for a paid API)."""
    from llm_test_helpers import FakeUpstream

    server = FakeUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def endless_checkpoint(tmp_path_factory) -> Path:
    """A tiny untrained Llama (4096-token context) that never ends a reply on its own: its end and pad
    tokens are suppressed in its generation config, so every reply runs to ``max_tokens`` unless it
    is stopped. It is the long, slow generation a large model gives, at a tiny model's cost."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from mulligan.training.tiny import build_tiny_model, build_tokenizer

    tokenizer = build_tokenizer([f"{u}\n{a}" for u, a in dialogues()], vocab_size=300)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, max_position_embeddings=4096)
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    path = tmp_path_factory.mktemp("endless-model")
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path
