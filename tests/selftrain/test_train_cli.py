"""`mulligan train`: SFT with exact masks, DPO, LoRA; the checkpoints load in every backend."""

from __future__ import annotations

import asyncio
import json
from itertools import groupby

import httpx
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from mulligan.cli import app
from mulligan.llm import ChatRequest, GenerationParams, make_llm, start_server
from mulligan.records import Message
from mulligan.training.export import build_rows, write_rows
from mulligan.training.finetune import sft_conversations
from mulligan.training.rowfile import load_rows


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Real exported rows: search paths and splices of the slip policy (mixed train flags)."""
    from selftrain_helpers import SlipPolicy
    from test_search import search

    trajs = search(SlipPolicy(), samples=3, iterations=4, max_depth=7)
    folder = tmp_path_factory.mktemp("data")
    sft = build_rows(trajs, "sft")[:2] + build_rows(trajs, "agentr")[:2]
    dpo = build_rows(trajs, "dpo")[:4]
    assert len(sft) == 4 and dpo
    return {"sft": write_rows(sft, folder / "sft.jsonl"), "dpo": write_rows(dpo, folder / "dpo.jsonl")}


def train(*args):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def generate(llm):
    request = ChatRequest(messages=[Message(role="user", content="Your task is to: examine the pillow.")],
                          params=GenerationParams(max_tokens=4))
    (out,) = asyncio.run(llm.generate([request]))
    return out


def weights(path):
    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def test_sft_checkpoint_loads_in_process_and_through_serve(data, tiny_checkpoint, tmp_path):
    out = tmp_path / "sft"
    result = train(data["sft"], "--model", tiny_checkpoint, "--out", out, "--epochs", "1", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    assert "sft on 4 rows" in said(result)
    meta = json.loads((out / "finetune.json").read_text())
    assert meta["kind"] == "sft" and meta["rows"] == 4 and meta["base"] == str(tiny_checkpoint)
    before, after = weights(tiny_checkpoint), weights(out)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    for spec in (f"transformers:{out}", str(out)):
        llm = make_llm(spec)
        assert generate(llm).error is None
    handle = start_server(llm, port=0, model_name="trained")
    try:
        reply = httpx.post(f"{handle.api_base}/chat/completions", timeout=30,
                           json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "temperature": 0})
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["role"] == "assistant"
    finally:
        handle.stop()
        llm.close()


def test_trainer_labels_are_the_train_flags_of_rows_read_by_the_cli(data, tiny_checkpoint):
    """Token by token, what TRL trains on is the content (and end token) of the flagged messages."""
    from mulligan.training.sft import labels_seen_by_trainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    convs = sft_conversations(load_rows(data["sft"]))
    assert any(m["role"] == "assistant" and not m["train"] for c in convs for m in c)
    for conv, labels in zip(convs, labels_seen_by_trainer(convs, tokenizer)):
        runs = [tokenizer.decode(list(run)) for trained, run in groupby(labels, key=lambda t: t != -100) if trained]
        assert runs == [m["content"].strip() + tokenizer.eos_token
                        for m in conv if m["role"] == "assistant" and m["train"]]


def test_dpo_trains_and_loads(data, tiny_checkpoint, tmp_path):
    out = tmp_path / "dpo"
    result = train(data["dpo"], "--model", tiny_checkpoint, "--out", out, "--dpo", "--batch-size", "1", "--lr", "1e-3")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "finetune.json").read_text())["kind"] == "dpo"
    before, after = weights(tiny_checkpoint), weights(out)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert generate(make_llm(f"transformers:{out}")).error is None


def test_lora_saves_a_merged_plain_checkpoint(data, tiny_checkpoint, tmp_path):
    out = tmp_path / "lora"
    result = train(data["sft"], "--model", tiny_checkpoint, "--out", out, "--lora", "--epochs", "1",
                   "--batch-size", "1", "--lr", "1e-2")
    assert result.exit_code == 0, result.output
    after = weights(out)
    assert not any("lora" in k for k in after)
    before = weights(tiny_checkpoint)
    assert any(not torch.equal(before[k], after[k]) for k in before if "proj" in k)
    assert generate(make_llm(f"transformers:{out}")).error is None


def test_bad_data_is_reported_with_file_and_line(data, tiny_checkpoint, tmp_path):
    missing = tmp_path / "nope.jsonl"
    result = train(missing, "--model", tiny_checkpoint, "--out", tmp_path / "a")
    assert result.exit_code == 2 and "nope.jsonl: no such data file" in said(result)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(data["sft"].read_text().splitlines()[0] + "\n{not json\n")
    result = train(broken, "--model", tiny_checkpoint, "--out", tmp_path / "b")
    assert result.exit_code == 2 and "broken.jsonl:2: not JSON" in said(result)
    result = train(data["sft"], "--model", tiny_checkpoint, "--out", tmp_path / "c", "--dpo")
    assert result.exit_code == 2 and "sft.jsonl:1: a DPO row needs" in said(result)
    assert "drop --dpo" in said(result)
    result = train(data["dpo"], "--model", tiny_checkpoint, "--out", tmp_path / "d")
    assert result.exit_code == 2 and "dpo.jsonl:1: an SFT row needs" in said(result) and "pass --dpo" in said(result)
    result = train(data["sft"], "--model", tmp_path, "--out", tmp_path / "e")
    assert result.exit_code == 2 and "not a local checkpoint folder" in said(result)
    assert not any((tmp_path / x).exists() for x in "abcde")
