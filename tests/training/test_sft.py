"""SFT through TRL: the loss falls, checkpoints load with the Auto classes and generate."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mulligan.training.sft import train_sft
from mulligan.training.tiny import build_tiny_model


def _losses(out):
    return [e["loss"] for e in json.loads((out / "train_log.json").read_text()) if "loss" in e]


def _reply(model, tok, messages, max_new_tokens=16):
    inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def test_full_training_learns_and_checkpoint_loads(make_conversations, tiny_tokenizer, tmp_path):
    convs = make_conversations(4)
    model = build_tiny_model(tiny_tokenizer, hidden_size=64, num_layers=2, num_heads=2)
    out = train_sft(convs, model, tiny_tokenizer, tmp_path / "ckpt", epochs=40, lr=3e-3, batch_size=4,
                    max_length=512, progress=False, logging_steps=5, seed=0)
    losses = _losses(out)
    assert losses[-1] < 0.5 * losses[0]
    tok = AutoTokenizer.from_pretrained(out)
    loaded = AutoModelForCausalLM.from_pretrained(out)
    # The first trained reply is the same in every conversation: memorised, and generation stops at <|end|>.
    prompt = [m.to_openai() for m in convs[0][:2]]
    assert _reply(loaded, tok, prompt) == "go to fridge 1"


def test_lora_training_saves_a_merged_plain_checkpoint(make_conversations, tiny_tokenizer, tmp_path):
    convs = make_conversations(2)
    base = build_tiny_model(tiny_tokenizer, hidden_size=64, num_layers=2, num_heads=2)
    base_dir = tmp_path / "base"
    base.save_pretrained(base_dir)
    out = train_sft(convs, str(base_dir), tiny_tokenizer, tmp_path / "lora", epochs=3, lr=1e-2, batch_size=2,
                    lora=True, progress=False, logging_steps=1)
    loaded = AutoModelForCausalLM.from_pretrained(out)
    state = loaded.state_dict()
    assert not any("lora" in k for k in state)
    before = AutoModelForCausalLM.from_pretrained(base_dir).state_dict()
    changed = [k for k in state if "proj" in k and not torch.equal(state[k], before[k])]
    assert changed, "LoRA training did not change any merged weight"
    assert torch.equal(state["model.embed_tokens.weight"], before["model.embed_tokens.weight"])
    _reply(loaded, AutoTokenizer.from_pretrained(out), [m.to_openai() for m in convs[0][:2]], max_new_tokens=4)
