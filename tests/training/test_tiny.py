"""The tiny tokenizer and model: lossless text, chat template, save/load, generation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mulligan.training.tiny import build_tiny_model

TEXTS = [
    "go to fridge 1",
    "  leading spaces, trailing spaces  ",
    "line one\nline two\n\n\nthree blank\r\nwindows\ttab",
    "unicode: héllo wörld ñandú ß Ελληνικά русский 中文字符 日本語 한국어",
    "emoji 🙂🚀👩‍👩‍👧 and symbols ©®™ ∑∫√ ≤≥ ← →",
    "punctuation!?.,;:'\"()[]{}<>/\\|@#$%^&*-_=+`~",
    "<|not a special|> <| end |> code: def f(x):\n    return x ** 2  # comment\n",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_lossless(tiny_tokenizer, text):
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == text
    assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text


def test_special_tokens_are_single_ids(tiny_tokenizer):
    for tok in ["<|begin|>", "<|end|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]:
        assert len(tiny_tokenizer(tok, add_special_tokens=False)["input_ids"]) == 1, tok
    assert tiny_tokenizer.eos_token == "<|end|>"
    assert len({tiny_tokenizer.bos_token_id, tiny_tokenizer.eos_token_id, tiny_tokenizer.pad_token_id}) == 3
    # No automatic BOS: the chat template writes it, so tokenizing rendered text never doubles it.
    assert tiny_tokenizer("hi")["input_ids"] == tiny_tokenizer("hi", add_special_tokens=False)["input_ids"]


def test_chat_template_renders_every_role(tiny_tokenizer):
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": "go to fridge 1"},
        {"role": "tool", "content": "ok"},
    ]
    text = tiny_tokenizer.apply_chat_template(msgs, tokenize=False)
    assert text == (
        "<|begin|><|system|>\nsys<|end|>\n<|user|>\ntask<|end|>\n<|assistant|>\ngo to fridge 1<|end|>\n"
        "<|tool|>\nok<|end|>\n"
    )
    prompt = tiny_tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert prompt == text + "<|assistant|>\n"
    ids = tiny_tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert tiny_tokenizer.decode(ids) == prompt


def test_unknown_role_is_an_error(tiny_tokenizer):
    with pytest.raises(Exception, match="unknown role"):
        tiny_tokenizer.apply_chat_template([{"role": "narrator", "content": "x"}], tokenize=False)


def test_saved_model_and_tokenizer_load_and_generate(tiny_tokenizer, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = build_tiny_model(tiny_tokenizer, hidden_size=64, num_layers=2, num_heads=2, max_position_embeddings=256)
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.config.model_type == "llama"
    assert tok.eos_token_id == loaded.generation_config.eos_token_id == tiny_tokenizer.eos_token_id
    for text in TEXTS:
        assert tok.decode(tok(text)["input_ids"]) == text
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": "go"}], add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    out = loaded.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    # RoPE: positions past max_position_embeddings still run.
    with torch.no_grad():
        logits = loaded(torch.randint(0, len(tok), (1, 300))).logits
    assert torch.isfinite(logits).all()


def test_light_imports_do_not_load_torch():
    code = "import sys, mulligan, mulligan.training; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
