"""Fixtures for training tests: the tiny tokenizer and standard chat templates built locally."""

from __future__ import annotations

import pytest

from mulligan.records import Message

CORPUS = [
    "You are a household agent. Reply with one action.",
    "You are in the middle of a room. You see a fridge 1, a countertop 2 and a cabinet 3.",
    "Your task is to: put a cool apple in the microwave.",
    "go to fridge 1", "open fridge 1", "take apple 1 from fridge 1", "think: the apple is cold now.",
    "The fridge 1 is open. In it, you see an apple 1, a lettuce 2 and a mug 3.",
    "Nothing happens.", "put apple 1 in/on microwave 1",
] * 20

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")


def _standard_tokenizer(style: str):
    """A byte-level BPE trained here, with a real model family's pre-tokenizer, specials and template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if style == "llama3":
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        regex, template = LLAMA3_REGEX, LLAMA3_TEMPLATE
        names = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|end_of_text|>"}
    else:
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        regex, template = QWEN2_REGEX, QWEN2_TEMPLATE
        names = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **names)
    fast.chat_template = template
    return fast


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from mulligan.training.tiny import build_tokenizer

    return build_tokenizer(CORPUS, vocab_size=512)


@pytest.fixture(scope="session", params=["tiny", "llama3", "qwen2"])
def any_tokenizer(request, tiny_tokenizer):
    return tiny_tokenizer if request.param == "tiny" else _standard_tokenizer(request.param)


@pytest.fixture(scope="session")
def make_conversations():
    """A factory of household conversations (``make_conversations(n)``)."""
    return household_conversations


def household_conversations(n: int = 4) -> list[list[Message]]:
    """Conversations mixing trained and untrained assistant turns with system, user and tool turns."""
    convs = []
    for k in range(n):
        convs.append(
            [
                Message(role="system", content="You are a household agent. Reply with one action."),
                Message(role="user", content=f"Your task is to: put a cool apple in the microwave {k + 1}."),
                Message(role="assistant", content="go to fridge 1", kind="action"),
                Message(role="tool", content="The fridge 1 is closed."),
                Message(role="assistant", content="take apple 1 from fridge 1", train=False, kind="action"),
                Message(role="user", content="Nothing happens."),
                Message(role="assistant", content="think: the fridge is closed, I must open it first.",
                        train=True, kind="reflection"),
                Message(role="user", content="OK."),
                Message(role="assistant", content=f"open fridge {k + 1}", kind="revision"),
                Message(role="tool", content="The fridge 1 is open. In it, you see an apple 1."),
            ]
        )
    return convs
