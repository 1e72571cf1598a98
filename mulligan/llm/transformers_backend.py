"""The transformers backend: a local Hugging Face checkpoint, batched, on CPU or GPU."""

from __future__ import annotations

import asyncio
import functools
import gc
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mulligan.errors import ConfigError, DependencyNotInstalled
from mulligan.llm.base import ChatRequest, Completion, GenerationParams, ScoreRequest
from mulligan.llm.episode_tokens import EpisodeTokens
from mulligan.llm.prefix_cache import PrefixCache, common_prefix_len
from mulligan.records import Usage


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as e:
        raise DependencyNotInstalled(e.name or "transformers", "train", "needed by the transformers backend") from e
    return torch, transformers


def _pick_device(torch: Any, device: str) -> str:
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _pick_dtype(torch: Any, dtype: str, device: str) -> Any:
    if dtype == "auto":
        # The checkpoint's own dtype on accelerators; half precision on CPU is slow or unsupported.
        return "auto" if device != "cpu" else torch.float32
    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return value


def truncate_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """Cut ``text`` at the earliest occurrence of any stop string; say whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop or [] if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def full_attention_only(config: Any) -> bool:
    """Whether every layer of a (text) model config attends to the whole past, with no sliding window."""
    layer_types = getattr(config, "layer_types", None)
    if layer_types and any(t != "full_attention" for t in layer_types):
        return False
    return not (getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True))


def _common_prefix_len(rows: list[list[int]]) -> int:
    """How many leading tokens all rows share."""
    first = np.asarray(rows[0])
    return min(common_prefix_len(first, np.asarray(r)) for r in rows)


def _cancellation(torch: Any, requests: list[ChatRequest]) -> Any:
    """Stopping criteria that end each row whose request was cancelled."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.tensor([r.cancelled for r in requests], dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


def _group_key(params: GenerationParams) -> tuple[Any, ...]:
    # Requests that can share one ``generate`` call; max_tokens differs per row and is cut after.
    sampling = params.temperature > 0
    return (sampling, params.temperature if sampling else None, params.top_p if sampling else None,
            params.seed if sampling else None, tuple(params.stop or ()))


@dataclass
class _Batch:
    """One ``generate`` call's inputs: the token rows, their left-aligned ids and mask, the reused cache."""

    ids: Any
    mask: Any
    past: Any
    rows: list[list[int]]

    @property
    def width(self) -> int:
        return int(self.ids.shape[1])

    def model_inputs(self) -> dict[str, Any]:
        inputs = {"input_ids": self.ids, "attention_mask": self.mask}
        if self.past is not None:
            inputs["past_key_values"] = self.past
        return inputs


class _LogprobRecorder:
    """A logits processor that keeps the log-probability of each sampled token, one step late.

    At step ``s`` it sees the token chosen at ``s - 1`` (the last input id) and reads its
    log-probability from the distribution it kept then, so only one step's distribution is held.
    The distribution is the one the token was sampled from: the model's logits divided by the
    temperature, cut to the top-p nucleus (the plain logits when greedy), as vLLM's
    ``processed_logprobs`` are; with ``top_p`` 1 it is what TRL's trainers compute for the same token.
    """

    def __init__(self, torch: Any, temperature: float, top_p: float = 1.0):
        self.torch = torch
        self.temperature = temperature if temperature > 0 else 1.0
        self.top_p = None
        if temperature > 0 and top_p < 1.0:
            from transformers import TopPLogitsWarper

            self.top_p = TopPLogitsWarper(top_p)
        self.picked: list[Any] = []
        self.last: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.last is not None:
            self.picked.append(self.last.gather(1, input_ids[:, -1:]).squeeze(1))
        scaled = scores.float() / self.temperature
        if self.top_p is not None:
            scaled = self.top_p(input_ids, scaled)
        self.last = self.torch.log_softmax(scaled, dim=-1)
        return scores

    def result(self, new: Any) -> list[list[float]]:
        """Per row, the log-probabilities of the ``new`` token ids (``[rows, steps]``)."""
        picked = list(self.picked[: new.shape[1]])
        if len(picked) < new.shape[1] and self.last is not None:
            picked.append(self.last.gather(1, new[:, len(picked) : len(picked) + 1].to(self.last.device)).squeeze(1))
        if not picked:
            return [[] for _ in range(new.shape[0])]
        return self.torch.stack(picked, dim=1).tolist()


class TransformersLLM:
    """Generates with ``AutoModelForCausalLM`` on whole batches of chat requests.

    Prompts are rendered with the tokenizer's chat template, left-padded and generated in one
    ``model.generate`` call per group of requests sharing sampling settings (greedy when
    ``temperature == 0``, seeded sampling otherwise). Generation runs in a worker thread so the
    event loop stays responsive. The keys and values of recent prompts and replies are kept in a
    :class:`~mulligan.llm.prefix_cache.PrefixCache`, so an agent's next turn only runs the tokens
    its transcript gained since the last one. A request that is cancelled while it generates
    (:meth:`~mulligan.llm.base.ChatRequest.cancel`) stops at the next token, alone.

    Token in, token out: every completion carries the ids it generated, their log-probabilities and
    the prompt ids it ran, and an episode's next prompt reuses those ids verbatim where the transcript
    kept the reply as generated (:class:`~mulligan.llm.episode_tokens.EpisodeTokens`), so a reply is
    never re-tokenized from its text.

    Args:
        path: A local checkpoint folder, or a Hub name already in the local cache.
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ...
        dtype: ``auto`` (the checkpoint's on GPU, float32 on CPU), ``float32``, ``bfloat16``, ``float16``.
        max_batch_size: Larger request lists are split into chunks of this size.
        local_files_only: Never download; defaults to True for an existing local folder.
        trust_remote_code: Allow model code shipped with the checkpoint.
        prefix_cache: How many recent sequences' keys and values to keep for reuse (0: none).
        seed: Seeds sampling for requests that give no seed of their own: each sampling call draws
            its seed from this one, so a run is reproducible and a new seed samples differently.
            None leaves torch's global random state as it is.
    """

    supports_tools = False
    supports_scoring = True

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_batch_size: int = 32,
        local_files_only: bool | None = None,
        trust_remote_code: bool = False,
        prefix_cache: int = 64,
        seed: int | None = None,
    ):
        torch, transformers = _import_torch_transformers()
        path = str(path)
        local = Path(path).expanduser().exists()
        load = {"local_files_only": local if local_files_only is None else local_files_only,
                "trust_remote_code": trust_remote_code}
        device = _pick_device(torch, str(device))
        torch_dtype = _pick_dtype(torch, str(dtype), device)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(path, **load)
            model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **load)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load checkpoint {path!r}: {e}") from e
        model.to(device).eval()
        self._setup(model, tokenizer, path, device, max_batch_size, prefix_cache)
        self._seeds = random.Random(seed) if seed is not None else None

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str = "in-memory", max_batch_size: int = 32,
                   prefix_cache: int = 64) -> "TransformersLLM":
        """A backend over a model already loaded (a trainer's policy during RL rollouts).

        The model stays on its device and in its mode; call :meth:`clear_caches` after its weights change.
        """
        self = cls.__new__(cls)
        device = str(next(model.parameters()).device)
        self._setup(model, tokenizer, name, device, max_batch_size, prefix_cache)
        return self

    def _setup(self, model: Any, tokenizer: Any, path: str, device: str, max_batch_size: int,
               prefix_cache: int) -> None:
        torch, _ = _import_torch_transformers()
        self._seeds: random.Random | None = None
        self._torch = torch
        self.path = path
        self.name = f"transformers:{path}"
        self.max_batch_size = int(max_batch_size)
        if self.max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.device = device
        self.tokenizer = tokenizer
        self.model = model
        if not self.tokenizer.chat_template:
            raise ConfigError(f"checkpoint {self.path!r} has no chat template in its tokenizer")
        self.tokenizer.padding_side = "left"
        self.eos_ids = self._eos_ids()
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_ids[0]
        text_config = self.model.config.get_text_config()
        self._num_layers = int(text_config.num_hidden_layers)
        self._full_attention = full_attention_only(text_config)
        # Cached keys are reused only where every layer attends to the whole past; sliding-window
        # or recurrent layers keep a different cache.
        self.prefix_cache = PrefixCache(prefix_cache if self._full_attention else 0)
        self.episode_tokens = EpisodeTokens(self._encode)
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._counter: Any = None
        context = getattr(text_config, "max_position_embeddings", None)
        self.context_length: int | None = int(context) if context else None
        """Tokens the model attends to at most (prompt and reply), from its config."""

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def clear_caches(self) -> None:
        """Forget cached keys and values and the episodes' token histories (after the weights change)."""
        with self._lock:
            self.prefix_cache.clear()
            self.episode_tokens.clear()

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        for source in (self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            ids += source if isinstance(source, list) else [source] if source is not None else []
        if not ids:
            raise ConfigError(f"checkpoint {self.path!r} defines no end-of-sequence token")
        return list(dict.fromkeys(ids))

    def render(self, request: ChatRequest) -> str:
        """The prompt text the model sees for a request (chat template + generation prompt)."""
        messages = [m.to_openai() for m in request.messages]
        return self.tokenizer.apply_chat_template(
            messages, tools=request.tools, add_generation_prompt=True, tokenize=False
        )

    def count_tokens(self, request: ChatRequest) -> int:
        """Prompt tokens of a request as this model sees it (for servers that check limits first).

        Uses its own tokenizer copy, so counting never waits for a generation in progress.
        """
        with self._count_lock:
            if self._counter is None:
                import copy

                self._counter = copy.deepcopy(self.tokenizer)
            messages = [m.to_openai() for m in request.messages]
            text = self._counter.apply_chat_template(messages, tools=request.tools, add_generation_prompt=True,
                                                     tokenize=False)
            return len(self._counter(text, add_special_tokens=False)["input_ids"])

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Answer the requests, ``max_batch_size`` at a time, in a worker thread."""
        if self.model is None:
            return [Completion(error=f"{self.name} is closed", finish_reason="error") for _ in requests]
        out: list[Completion] = []
        for start in range(0, len(requests), self.max_batch_size):
            out += await asyncio.to_thread(self._generate_chunk, requests[start : start + self.max_batch_size])
        return out

    def _generate_chunk(self, requests: list[ChatRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[tuple[int, str]]] = {}
        for i, request in enumerate(requests):
            if request.cancelled:  # its caller left while it waited for the model
                results[i] = Completion(finish_reason="cancelled")
                continue
            try:
                groups.setdefault(_group_key(request.params), []).append((i, self.render(request)))
            except Exception as e:  # noqa: BLE001 - a bad request fails alone
                results[i] = Completion(error=f"chat template failed: {type(e).__name__}: {e}", finish_reason="error")
        for members in groups.values():
            index = [i for i, _ in members]
            try:
                done = self._generate_group([requests[i] for i in index], [p for _, p in members])
            except Exception as e:  # noqa: BLE001 - reported on every request of the group
                failed = Completion(error=f"generation failed: {type(e).__name__}: {e}", finish_reason="error")
                done = [failed] * len(index)
            for i, completion in zip(index, done):
                results[i] = completion.model_copy()
        return [r for r in results if r is not None]

    def _generate_group(self, requests: list[ChatRequest], prompts: list[str]) -> list[Completion]:
        torch = self._torch
        start = time.perf_counter()
        params = requests[0].params
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(r.params.max_tokens for r in requests),
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids,
            "do_sample": params.temperature > 0,
            "return_dict_in_generate": True,
        }
        if params.temperature > 0:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        kwargs["stopping_criteria"] = _cancellation(torch, requests)
        # One generate at a time: the seed is global RNG state, a fast tokenizer's state is shared,
        # the prefix cache is handed from call to call, and parallel calls only contend.
        recorder = _LogprobRecorder(torch, params.temperature, params.top_p)
        with self._lock, torch.inference_mode():
            rows = [self.episode_tokens.prompt_ids(r.episode_id, p) for r, p in zip(requests, prompts)]
            batch = self._batch(rows, reserve=kwargs["max_new_tokens"])
            if params.temperature > 0 and params.seed is not None:
                torch.manual_seed(params.seed)
            elif params.temperature > 0 and self._seeds is not None:
                torch.manual_seed(self._seeds.getrandbits(63))
            out = self.model.generate(**batch.model_inputs(), logits_processor=[recorder], **kwargs)
            generated = out.sequences[:, batch.width :]
            new, logprobs = generated.tolist(), recorder.result(generated)
            done = [self._finish(*args) for args in zip(requests, new, rows, logprobs)]
            self._keep(batch, out.past_key_values, new, done)
            for request, prompt, row, completion in zip(requests, prompts, rows, done):
                reply = self.tokenizer.decode(completion.token_ids, skip_special_tokens=False)
                self.episode_tokens.remember(request.episode_id, prompt, row, reply, completion.token_ids)
        latency = time.perf_counter() - start
        return [completion.model_copy(update={"latency_s": latency}) for completion in done]

    def _batch(self, rows: list[list[int]], reserve: int) -> "_Batch":
        """Left-aligned inputs for ``generate``, with whatever the prefix cache already holds.

        The cache has room for ``reserve`` more tokens per row, so decoding writes in place.
        """
        torch = self._torch
        taken = [self.prefix_cache.take(row) for row in rows]
        reuse = [n for _, n in taken]
        past_len = max(reuse)
        new_len = max(len(row) - n for row, n in zip(rows, reuse))
        ids = torch.full((len(rows), past_len + new_len), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        # Row i: [pad][its cached prefix] | [pad][its new tokens]. Positions come from the mask's
        # running sum, so the holes do not shift them, and the cached keys keep their positions.
        for i, (row, n) in enumerate(zip(rows, reuse)):
            ids[i, past_len - n : past_len] = torch.tensor(row[:n], dtype=torch.long)
            mask[i, past_len - n : past_len] = 1
            rest = row[n:]
            ids[i, ids.shape[1] - len(rest) :] = torch.tensor(rest, dtype=torch.long)
            mask[i, ids.shape[1] - len(rest) :] = 1
        layers = []
        if past_len:
            sample = next(entry for entry, _ in taken if entry is not None).layers
            for layer, (keys0, values0) in enumerate(sample):
                keys = keys0.new_zeros((len(rows), keys0.shape[0], past_len, keys0.shape[2]))
                values = values0.new_zeros((len(rows), values0.shape[0], past_len, values0.shape[2]))
                for i, (entry, n) in enumerate(taken):
                    if entry is not None and n:
                        keys[i, :, past_len - n :] = entry.layers[layer][0][:, :n]
                        values[i, :, past_len - n :] = entry.layers[layer][1][:, :n]
                layers.append((keys, values))
        past = None
        if self._full_attention:
            from mulligan.llm.kv_buffer import reserved_cache

            past = reserved_cache(self._num_layers, layers, reserve=reserve + new_len)
        return _Batch(ids.to(self.device), mask.to(self.device), past, rows)

    def _keep(self, batch: "_Batch", cache: Any, new: list[list[int]], done: list[Completion]) -> None:
        """Put each row's prompt and reply keys and values into the prefix cache."""
        if self.prefix_cache.capacity == 0 or cache is None:
            return
        torch = self._torch
        cached_len = cache.get_seq_length()
        generated_room = max(0, cached_len - batch.width)
        for i, (row, completion) in enumerate(zip(batch.rows, done)):
            n_new = min(completion.usage.completion_tokens, generated_room)
            prompt_positions = torch.nonzero(batch.mask[i], as_tuple=True)[0]
            generated = torch.arange(batch.width, batch.width + n_new, device=self.device)
            positions = torch.cat([prompt_positions, generated])
            # Indexing by a position tensor copies, so the entry owns its memory.
            layers = [(layer.keys[i][:, positions], layer.values[i][:, positions]) for layer in cache.layers]
            self.prefix_cache.put(row + new[i][:n_new], layers)

    def _finish(self, request: ChatRequest, ids: list[int], prompt: list[int], logprobs: list[float]) -> Completion:
        ids = ids[: request.params.max_tokens]
        n_text, n_generated, finish = len(ids), len(ids), "length"
        ended = False
        for j, token in enumerate(ids):
            if token in self.eos_ids:
                n_text, n_generated, finish, ended = j, j + 1, "stop", True
                break
            if token == self.pad_id:  # the row stopped earlier (stop string) and was padded
                n_text, n_generated, finish = j, j, "stop"
                break
        text = self.tokenizer.decode(ids[:n_text], skip_special_tokens=True)
        text, stopped = truncate_at_stop(text, request.params.stop)
        if request.cancelled and not ended and not stopped and n_generated < request.params.max_tokens:
            finish = "cancelled"  # ended by cancel(): the row stopped (and was padded) from there on
        return Completion(
            text=text,
            usage=Usage(prompt_tokens=len(prompt), completion_tokens=n_generated),
            finish_reason="stop" if stopped else finish,
            token_ids=ids[:n_generated],
            logprobs=logprobs[:n_generated],
            prompt_token_ids=list(prompt),
        )

    async def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """Log-likelihood of each candidate reply (see :class:`~mulligan.llm.base.ScoreRequest`)."""
        if self.model is None:
            raise RuntimeError(f"{self.name} is closed")
        return [await asyncio.to_thread(self._score_one, request) for request in requests]

    @functools.cached_property
    def reply_end(self) -> str:
        """What the chat template writes after an assistant reply (e.g. ``<|end|>``; else the EOS token)."""
        marker = "\x00MARK\x00"
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": "u"}, {"role": "assistant", "content": marker}], tokenize=False
        )
        end = text.split(marker, 1)[1].rstrip() if marker in text else ""
        return end or (self.tokenizer.eos_token or "")

    def _score_one(self, request: ScoreRequest) -> list[float]:
        torch = self._torch
        if not request.candidates:
            return []
        prompt = self.render(ChatRequest(messages=request.messages)) + request.prefix
        end = self.reply_end
        with self._lock:
            texts = [prompt + candidate + end for candidate in request.candidates]
            rows = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        # The tokens every candidate shares run once; the differing tails run as one batch on
        # copies of that cache. Tails are right-padded: causal attention keeps padding from
        # touching the real tokens before it.
        shared = _common_prefix_len(rows)
        shared = max(1, min(shared, min(len(r) for r in rows) - 1))
        tails = [r[shared:] for r in rows]
        width = max(len(t) for t in tails)
        with self._lock, torch.inference_mode():
            # The prompt's keys and values are usually cached from the turn's own generation.
            entry, reused = self.prefix_cache.peek(rows[0][:shared])
            past = None
            if entry is not None:
                from transformers import DynamicCache

                prefix = [(keys[None, :, :reused], values[None, :, :reused]) for keys, values in entry.layers]
                past = DynamicCache(ddp_cache_data=prefix)
            head = torch.tensor([rows[0][reused:shared]], device=self.device)
            out = self.model(input_ids=head, past_key_values=past, use_cache=True)
            cache = out.past_key_values
            cache.batch_repeat_interleave(len(tails))
            padded = torch.tensor([t + [self.pad_id] * (width - len(t)) for t in tails], device=self.device)
            tail_logits = self.model(input_ids=padded, past_key_values=cache, use_cache=False).logits
            logits = torch.cat([out.logits[:, -1:, :].expand(len(tails), 1, -1), tail_logits[:, :-1, :]], dim=1)
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            picked = logprobs.gather(2, padded.unsqueeze(-1)).squeeze(-1)
            lengths = torch.tensor([len(t) for t in tails], device=self.device)
            mask = torch.arange(width, device=self.device)[None, :] < lengths[:, None]
            return (picked * mask).sum(dim=1).tolist()

    def close(self) -> None:
        """Drop the model and free its memory. Idempotent."""
        if getattr(self, "model", None) is None:
            return
        self.model = None
        self.prefix_cache.clear()
        self.episode_tokens.clear()
        gc.collect()
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()
