"""GRPO rollouts: the policy being trained plays G episodes per task, returned as the token sequences TRL trains on.

TRL's ``GRPOTrainer`` calls :class:`EnvRollout` with a batch of prompts (task ids, each repeated
``num_generations`` times). The rollout serves the trainer's own model through the transformers backend
(:meth:`~mulligan.llm.transformers_backend.TransformersLLM.from_model`, caches cleared since the weights
changed), runs one agent episode per prompt, all of them in flight together with their model calls
batched, and lays each episode out as one sequence (:mod:`mulligan.training.rl_sequence`) with the env
mask on the policy's own tokens. :class:`TurnRecorder` keeps what the backend reported about each
generation (its prompt length and the ids and logprobs it generated), so no id is ever re-tokenized.

Every rollout's trajectories are appended to ``rollouts.jsonl`` (``iteration`` = the trainer's step) in
the output folder, with their steps' token ids and logprobs.
"""

from __future__ import annotations

import asyncio
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mulligan.agents import make_agent
from mulligan.envs import make_env, max_concurrency
from mulligan.llm.base import ChatRequest, Completion, GenerationParams, ScoreRequest, can_score
from mulligan.records import Trajectory, append_jsonl
from mulligan.training.rl_sequence import EpisodeSequence, Turn, episode_sequence

if TYPE_CHECKING:
    from mulligan.training.grpo import EnvGRPOConfig

ROLLOUTS = "rollouts.jsonl"


class TurnRecorder:
    """An LLM wrapper that keeps, per episode, what the backend reported about each generation.

    A generation without token ids (a backend that does not report them) leaves no turn, so nothing of
    it is trained.
    """

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.supports_tools = inner.supports_tools
        self.supports_scoring = can_score(inner)
        self.max_batch_size = inner.max_batch_size
        self.turns: dict[str, list[Turn]] = {}
        self.last_prompt: dict[str, list[int]] = {}

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        outs = await self.inner.generate(requests)
        for request, out in zip(requests, outs):
            if out.error or request.episode_id is None or out.token_ids is None or out.prompt_token_ids is None:
                continue
            episode, prompt = request.episode_id, out.prompt_token_ids
            previous = self.last_prompt.get(episode)
            extends = previous is None or prompt[: len(previous)] == previous
            logprobs = out.logprobs if out.logprobs is not None else [0.0] * len(out.token_ids)
            self.turns.setdefault(episode, []).append(Turn(len(prompt), out.token_ids, logprobs, extends))
            self.last_prompt[episode] = prompt
        return outs

    async def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        return await self.inner.score(requests)

    def close(self) -> None:
        """Nothing to release: the inner backend belongs to the rollout."""


def paired_turns(turns: list[Turn], traj: Trajectory) -> list[Turn]:
    """The turns with the step each produced, and whether the policy's reply stood there.

    Turns and steps are matched in order by their generated ids; a step where the admissible constraint
    replaced the action (``info["proposed"]``) is not the policy's.
    """
    out, j = [], 0
    for turn in turns:
        if j < len(traj.steps) and traj.steps[j].token_ids == turn.token_ids:
            step = traj.steps[j]
            out.append(Turn(turn.prompt_len, turn.token_ids, turn.logprobs, turn.extends,
                            policy="proposed" not in step.info, step=j))
            j += 1
        else:
            out.append(turn)
    return out


class EnvRollout:
    """TRL's ``rollout_func`` for env episodes (see the module docstring).

    Args:
        config: The GRPO configuration (env, agent, sampling, episode caps).
        tokenizer: The policy's tokenizer (with its chat template).
        out: Folder of ``rollouts.jsonl`` (None: not written).

    Attributes:
        last: The trajectories and sequences of the latest rollout, in prompt order.
    """

    def __init__(self, config: "EnvGRPOConfig", tokenizer: Any, out: str | Path | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.log = Path(out) / ROLLOUTS if out is not None else None
        self.last: list[tuple[Trajectory, EpisodeSequence]] = []
        self._llm: Any = None
        self.end_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        llm = self._backend(model)
        recorder = TurnRecorder(llm)
        was_training = model.training
        model.eval()
        try:
            trajs = asyncio.run(self._episodes([str(p) for p in prompts], recorder))
        finally:
            model.train(was_training)
        step = int(trainer.state.global_step)
        sequences = []
        for traj in trajs:
            traj.iteration = step
            turns = paired_turns(recorder.turns.get(traj.id, []), traj)
            last = recorder.last_prompt.get(traj.id, [])
            sequences.append(episode_sequence(turns, last, self.end_id))
        if self.log is not None:
            append_jsonl(self.log, trajs)
        self.last = list(zip(trajs, sequences))
        return {
            "prompt_ids": [s.prompt_ids for s in sequences],
            "completion_ids": [s.completion_ids for s in sequences],
            "logprobs": [s.logprobs for s in sequences],
            "env_mask": [s.env_mask for s in sequences],
            "trajectory": trajs,
        }

    def _backend(self, model: Any) -> Any:
        from mulligan.llm.transformers_backend import TransformersLLM

        if self._llm is None or self._llm.model is not model:
            self._llm = TransformersLLM.from_model(model, self.tokenizer, name="grpo-policy",
                                                   max_batch_size=self.config.rollout_batch_size)
        self._llm.clear_caches()  # the weights changed since the last rollout
        return self._llm

    async def _episodes(self, tasks: list[str], llm: TurnRecorder) -> list[Trajectory]:
        from mulligan.llm.batching import BatchingLLM

        c = self.config
        params = GenerationParams(temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
        # The sampling is TRL's (its temperature also scales the logprobs it trains with), whatever the options say.
        agent = make_agent(c.agent, BatchingLLM(llm, max_wait_ms=0), **{**c.agent_options, "params": params})
        # An env may say how many of it can run at once (ScienceWorld starts a JVM per instance).
        limit = asyncio.Semaphore(max(1, min(c.concurrency, max_concurrency(c.env) or c.concurrency)))

        async def one(index: int, task: str) -> Trajectory:
            async with limit:
                return await run_one_episode(agent, c.env, task, key=f"{task}#{index}", seed=c.seed + index,
                                             max_steps=c.max_env_steps, env_options=c.env_options)

        return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks))))


async def run_one_episode(agent: Any, env_id: str, task: str, *, key: str, seed: int,
                          max_steps: int | None, env_options: dict[str, Any] | None = None) -> Trajectory:
    """One episode; an exception becomes a failed trajectory carrying the error (a bad episode is data)."""
    env = None
    try:
        env = make_env(env_id, **{**(env_options or {}), **({"max_steps": max_steps} if max_steps else {})})
        return await agent.run_episode(env, task, key=key, seed=seed)
    except Exception as e:  # noqa: BLE001 - recorded on the trajectory
        return Trajectory(key=key, env=env_id, task_id=task, agent=agent.name, end_reason="error",
                          error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}")
    finally:
        if env is not None:
            env.close()
