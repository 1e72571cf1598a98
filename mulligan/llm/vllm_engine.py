"""The vLLM side of the ``vllm:`` backend: an ``AsyncLLM`` engine answering chat requests as dicts.

This file imports only the standard library at module level and vLLM/transformers inside
:class:`Engine`, so it runs in two places:

- in process, when the interpreter running mulligan has vLLM (a GPU install): the backend drives
  :class:`Engine` on an event loop of its own thread;
- as a script in vLLM's own virtualenv (``python vllm_engine.py --model PATH ...``), when vLLM
  cannot share mulligan's environment (the CPU build pins other torch/transformers versions).
  The protocol is one JSON object per line: requests on stdin, answers on stdout, each with the
  request's ``id``; the first line out is ``{"ready": ...}``. Everything else the process prints
  goes to stderr, so logs never corrupt the protocol.

All requests in flight go to the engine at once and vLLM schedules them itself (continuous
batching, prefix caching on); nothing batches on top.

Token in, token out, as in the transformers backend: an answer carries the ids vLLM generated (its
end-of-sequence token included), their log-probabilities under the distribution they were sampled
from (vLLM's ``processed_logprobs``: temperature, then top-p), and the prompt ids it ran; an episode's
next prompt reuses the ids its previous reply was generated as
(:class:`~mulligan.llm.episode_tokens.EpisodeTokens`), so nothing an RL trainer reads was re-tokenized.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from typing import Any

try:
    from mulligan.llm.episode_tokens import EpisodeTokens
except ImportError:  # run as a script in vLLM's own environment: the module sits beside this file
    from episode_tokens import EpisodeTokens  # type: ignore[no-redef]

MARK = "\x00MARK\x00"


def truncate_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    cuts = [i for i in (text.find(s) for s in stop or [] if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def common_prefix(rows: list[list[int]]) -> int:
    n = min(len(r) for r in rows)
    for i in range(n):
        if any(r[i] != rows[0][i] for r in rows):
            return i
    return n


class Engine:
    """vLLM's ``AsyncLLM`` over one checkpoint, speaking mulligan's request/answer dicts.

    Args:
        model: Checkpoint folder (or a Hub name in the local cache).
        engine_args: Further ``AsyncEngineArgs`` fields (``dtype``, ``max_model_len``, ``seed``, ...).
    """

    def __init__(self, model: str, **engine_args: Any):
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        engine_args.setdefault("enable_prefix_caching", True)
        # Logprobs of the distribution each token was sampled from (vLLM's default is before temperature).
        engine_args.setdefault("logprobs_mode", "processed_logprobs")
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if not self.tokenizer.chat_template:
            raise ValueError(f"checkpoint {model!r} has no chat template in its tokenizer")
        self.engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, **engine_args))
        self.max_model_len = int(self.engine.model_config.max_model_len)
        self.eos_ids = set(self._eos_ids(model))
        self.reply_end = self._reply_end()
        self.episode_tokens = EpisodeTokens(self._ids)

    def _eos_ids(self, model: str) -> list[int]:
        from transformers import GenerationConfig

        ids: list[int] = []
        try:
            eos = GenerationConfig.from_pretrained(model).eos_token_id
        except OSError:
            eos = None
        for source in (eos, self.tokenizer.eos_token_id):
            ids += source if isinstance(source, list) else [source] if source is not None else []
        return ids

    def _reply_end(self) -> str:
        """What the chat template writes after an assistant reply (else the EOS token)."""
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": "u"}, {"role": "assistant", "content": MARK}], tokenize=False
        )
        end = text.split(MARK, 1)[1].rstrip() if MARK in text else ""
        return end or (self.tokenizer.eos_token or "")

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def _render(self, request: dict[str, Any]) -> str:
        return self.tokenizer.apply_chat_template(
            request["messages"], tools=request.get("tools"), add_generation_prompt=True, tokenize=False
        )

    async def _run(self, prompt_ids: list[int], params: Any) -> Any:
        from vllm.inputs import TokensPrompt

        final = None
        async for out in self.engine.generate(TokensPrompt(prompt_token_ids=prompt_ids), params, uuid.uuid4().hex):
            final = out
        return final

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer one request dict (``op`` = ``generate`` or ``score``); errors come back in ``error``."""
        try:
            if request.get("op") == "score":
                return {"id": request.get("id"), "scores": await self.score(request)}
            return {"id": request.get("id"), **await self.generate(request)}
        except Exception as e:  # noqa: BLE001 - a bad request fails alone; the engine lives on
            return {"id": request.get("id"), "error": f"{type(e).__name__}: {e}"}

    async def generate(self, request: dict[str, Any]) -> dict[str, Any]:
        from vllm import SamplingParams

        start = time.perf_counter()
        p = request.get("params") or {}
        sampling = float(p.get("temperature", 0.0)) > 0
        params = SamplingParams(
            temperature=float(p.get("temperature", 0.0)),
            top_p=float(p.get("top_p", 1.0)) if sampling else 1.0,
            max_tokens=int(p.get("max_tokens", 256)),
            stop=list(p.get("stop") or []) or None,
            seed=p.get("seed") if sampling else None,
            logprobs=0,
        )
        episode, prompt = request.get("episode_id"), self._render(request)
        prompt_ids = self.episode_tokens.prompt_ids(episode, prompt)
        if len(prompt_ids) + params.max_tokens > self.max_model_len:
            # vLLM 0.32 clamps such a request silently (a reply cut short without a word); refuse it, as serve does.
            raise ValueError(f"prompt ({len(prompt_ids)} tokens) + max_tokens ({params.max_tokens}) exceed the "
                             f"model's context of {self.max_model_len} tokens")
        out = await self._run(prompt_ids, params)
        gen = out.outputs[0]
        ids = list(gen.token_ids)
        logprobs = [float(lp[t].logprob) for lp, t in zip(gen.logprobs or [], ids)] if gen.logprobs else None
        self.episode_tokens.remember(episode, prompt, prompt_ids, self.tokenizer.decode(ids, skip_special_tokens=False),
                                     ids)
        n_text = next((j for j, t in enumerate(ids) if t in self.eos_ids), len(ids))
        text, stopped = truncate_at_stop(self.tokenizer.decode(ids[:n_text], skip_special_tokens=True), params.stop)
        finish = "stop" if stopped or gen.finish_reason == "stop" else (gen.finish_reason or "stop")
        return {
            "text": text, "token_ids": ids, "logprobs": logprobs, "prompt_token_ids": prompt_ids,
            "finish_reason": finish, "prompt_tokens": len(prompt_ids), "completion_tokens": len(ids),
            "latency_s": time.perf_counter() - start,
        }

    async def score(self, request: dict[str, Any]) -> list[float]:
        """Log-likelihood of each candidate reply, from vLLM's prompt logprobs."""
        from vllm import SamplingParams

        candidates = list(request.get("candidates") or [])
        if not candidates:
            return []
        prompt = self._render(request) + request.get("prefix", "")
        rows = [self._ids(prompt + c + self.reply_end) for c in candidates]
        shared = max(1, min(common_prefix(rows), min(len(r) for r in rows) - 1))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outs = await asyncio.gather(*(self._run(row, params) for row in rows))
        scores = []
        for row, out in zip(rows, outs):
            lps = out.prompt_logprobs
            scores.append(sum(float(lps[i][row[i]].logprob) for i in range(shared, len(row))))
        return scores

    def shutdown(self) -> None:
        self.engine.shutdown()


class ThreadedEngine:
    """An :class:`Engine` on an event loop of its own thread; ``submit`` works from any thread."""

    def __init__(self, model: str, **engine_args: Any):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vllm-engine", daemon=True)
        self._thread.start()

        async def build() -> Engine:
            return Engine(model, **engine_args)

        self.engine = asyncio.run_coroutine_threadsafe(build(), self.loop).result()

    def submit(self, request: dict[str, Any]) -> Any:
        """A ``concurrent.futures.Future`` of the answer dict."""
        return asyncio.run_coroutine_threadsafe(self.engine.handle(request), self.loop)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.engine.shutdown)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)


def _serve(args: argparse.Namespace) -> None:
    # The protocol keeps the real stdout; anything else printed (vLLM's logs, C libraries) goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    engine_args = json.loads(args.engine_args)
    try:
        threaded = ThreadedEngine(args.model, **engine_args)
    except Exception as e:  # noqa: BLE001 - reported to the parent as the first line
        proto.write(json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
        raise SystemExit(1) from e
    lock = threading.Lock()
    proto.write(json.dumps({"ready": True, "reply_end": threaded.engine.reply_end}) + "\n")

    def answer(future: Any) -> None:
        line = json.dumps(future.result())
        with lock:
            proto.write(line + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "close":
            break
        threaded.submit(request).add_done_callback(answer)
    threaded.close()
    proto.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="mulligan's vLLM engine process (JSON lines on stdin/stdout)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine-args", default="{}", help="AsyncEngineArgs fields as a JSON object")
    _serve(parser.parse_args(argv))


if __name__ == "__main__":
    main()
