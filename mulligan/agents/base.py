"""The episode loop shared by every text agent.

An agent turns the transcript into messages, gets a reply (from an LLM, a script or an
expert), parses an action, steps the env and records a :class:`~mulligan.records.Step`.
Subclasses override :meth:`TextAgent.reply` (where the reply comes from) and, for critics,
:meth:`TextAgent.review` (a hook between parsing and executing). Failures of the model are
data: they end the episode with a recorded reason, never an exception.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import gymnasium as gym
from pydantic import BaseModel, Field

from mulligan.agents.admissible import AdmissibleMode, constrain, rewritten_reply
from mulligan.agents.parsing import FORMAT_REMINDER, ParsedReply, parse_react, tool_call_to_action
from mulligan.errors import FormatError
from mulligan.llm.base import ChatRequest, Completion, GenerationParams
from mulligan.records import Message, Step, Trajectory

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent acting in a text environment to complete a task. "
    "Each turn, think briefly, then give exactly one command.\n" + FORMAT_REMINDER
)


class AgentConfig(BaseModel):
    """Options shared by the text agents."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """The system message; the env's goal and first observation follow as the user turn."""
    max_turns: int | None = None
    """Turn cap (format errors count); None uses the env's step cap."""
    max_format_errors: int = 3
    """Consecutive unparseable replies that end the episode."""
    use_tools: bool = True
    """Use native tool calls when both the backend and the env offer them."""
    multiline_actions: bool = False
    """Keep everything after ``Action:`` (code actions) instead of its first line."""
    admissible: AdmissibleMode = "off"
    """Where the env lists admissible actions: replace an action outside them, or one that just
    did nothing, by the likeliest admissible one (``likelihood``) or the most similar (``nearest``)."""
    params: GenerationParams = Field(default_factory=lambda: GenerationParams(max_tokens=64))


class EpisodeState:
    """What an agent knows while an episode runs; passed to the reply and review hooks."""

    def __init__(self, env: gym.Env, traj: Trajectory, info: dict[str, Any]):
        self.env = env
        self.traj = traj
        self.info = info
        self.format_errors = 0

    async def step(self, action: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env; envs whose metadata says ``blocking_step`` (sandboxes) run in a worker
        thread so the other episodes in flight keep going."""
        if self.env.unwrapped.metadata.get("blocking_step"):
            return await asyncio.to_thread(self.env.step, action)
        return self.env.step(action)


class TextAgent:
    """Base agent: the ReAct episode loop with a pluggable source of replies."""

    name = "base"
    source = "policy"
    memory: Any = None
    """A :class:`~mulligan.memory.EpisodeMemory` (the runner's ``--memory``): what it recalls for a
    task joins the prompt after the system message and is recorded in ``Trajectory.retrieved``."""

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        self.llm = llm
        self.config = (config or AgentConfig()).model_copy(update=overrides)

    @property
    def model_name(self) -> str:
        return getattr(self.llm, "name", "") if self.llm is not None else ""

    # -- hooks -------------------------------------------------------------------------------
    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        """Produce the next assistant reply for ``messages``."""
        raise NotImplementedError

    async def review(self, parsed: ParsedReply, messages: list[Message], state: EpisodeState) -> ParsedReply | None:
        """Check a proposed action before it runs; return the action to run (None: skip the turn)."""
        return parsed

    def initial_messages(self, observation: str, info: dict[str, Any]) -> list[Message]:
        """The prompt of the first turn: the system message and the env's first observation."""
        return [
            Message(role="system", content=self.config.system_prompt, kind="prompt"),
            Message(role="user", content=observation, kind="observation"),
        ]

    def tools_for(self, info: dict[str, Any]) -> list[dict[str, Any]] | None:
        if self.config.use_tools and getattr(self.llm, "supports_tools", False) and info.get("tools"):
            return list(info["tools"])
        return None

    # -- episodes ----------------------------------------------------------------------------
    async def run_task(self, env: gym.Env, task_id: str, *, key: str, seed: int | None = None) -> list[Trajectory]:
        """Run one task; agents that retry (Reflexion) return one trajectory per trial."""
        return [await self.run_episode(env, task_id, key=key, seed=seed)]

    async def run_episode(
        self,
        env: gym.Env,
        task_id: str,
        *,
        key: str,
        seed: int | None = None,
        trial: int = 0,
        parent_id: str | None = None,
        preamble: list[Message] | None = None,
    ) -> Trajectory:
        """Run one episode of ``task_id`` and return its trajectory.

        Args:
            preamble: Messages inserted after the system prompt (lessons, retrieved examples).
        """
        started = time.perf_counter()
        observation, info = env.reset(seed=seed, options={"task": task_id})
        traj = Trajectory(
            key=key,
            env=env.spec.id if env.spec else type(env.unwrapped).__name__,
            task_id=task_id,
            split=info.get("split"),
            goal=str(info.get("goal", "")),
            agent=self.name,
            model=self.model_name,
            source=self.source,  # type: ignore[arg-type]
            trial=trial,
            parent_id=parent_id,
        )
        messages = self.initial_messages(str(observation), info)
        if self.memory is not None:
            recalled, traj.retrieved = self.memory.recall(traj)
            preamble = [*recalled, *(preamble or [])]
        if preamble:
            messages[1:1] = preamble
        traj.messages = messages
        state = EpisodeState(env, traj, info)
        max_turns = self.config.max_turns or int(getattr(env.unwrapped, "max_steps", 50))
        try:
            await self._loop(state, max_turns)
        finally:
            traj.wall_s = time.perf_counter() - started
        return traj

    async def _loop(self, state: EpisodeState, max_turns: int) -> None:
        traj, messages = state.traj, state.traj.messages
        for t in range(max_turns):
            completion = await self.reply(messages, state)
            traj.usage.add(completion.usage)
            if completion.exhausted:
                traj.end_reason = "script exhausted"
                return
            if completion.error:
                traj.end_reason = "provider error"
                traj.error = completion.error
                return
            step = Step(
                t=t, raw=completion.text, latency_s=completion.latency_s, tokens=completion.usage,
                info=dict(completion.meta), token_ids=completion.token_ids, logprobs=completion.logprobs,
            )
            traj.steps.append(step)
            try:
                parsed = self._parse(completion, state)
            except FormatError as e:
                messages.append(Message(role="assistant", content=completion.text, train=False, kind="action"))
                messages.append(Message(role="user", content=str(e), kind="feedback"))
                step.valid, step.observation = False, str(e)
                state.format_errors += 1
                if state.format_errors >= self.config.max_format_errors:
                    traj.end_reason = "format errors"
                    return
                continue
            state.format_errors = 0
            if self.config.admissible != "off" and not completion.tool_calls:
                constrained = await constrain(
                    self.config.admissible, parsed, llm=self.llm, messages=messages, info=state.info,
                    history=traj.steps[:-1], reply=completion.text,
                )
                if constrained is not None:
                    # The transcript says what ran; the model's own words stay in ``raw``.
                    step.info["proposed"] = parsed.action
                    parsed = constrained
                    completion = completion.model_copy(update={"text": rewritten_reply(constrained)})
            step.thought = parsed.thought
            messages.append(self._assistant_message(completion))
            reviewed = await self.review(parsed, messages, state)
            if reviewed is None:
                continue
            step.action = reviewed.action
            observation, reward, terminated, truncated, info = await state.step(reviewed.action)
            state.info = info
            step.observation, step.reward, step.done = str(observation), float(reward), bool(terminated or truncated)
            step.valid = bool(info.get("valid", True))
            messages.append(self._observation_message(step.observation, completion))
            traj.reward += step.reward
            if info.get("won"):
                traj.success, traj.end_reason = True, "won"
                return
            if terminated:
                traj.end_reason = "terminated"
                return
            if truncated:
                traj.end_reason = "step limit"
                return
        traj.end_reason = "step limit"

    def _parse(self, completion: Completion, state: EpisodeState) -> ParsedReply:
        if completion.tool_calls:
            call = completion.tool_calls[0]
            return ParsedReply(action=tool_call_to_action(call), thought=completion.text.strip() or None)
        multiline = self.config.multiline_actions or bool(state.env.unwrapped.metadata.get("multiline_actions"))
        return parse_react(completion.text, multiline=multiline)

    @staticmethod
    def _assistant_message(completion: Completion) -> Message:
        # A reply source may opt a turn out of training (the noisy expert's deliberate slips).
        return Message(
            role="assistant", content=completion.text, tool_calls=completion.tool_calls,
            train=bool(completion.meta.get("train", True)), kind="action",
        )

    @staticmethod
    def _observation_message(observation: str, completion: Completion) -> Message:
        if completion.tool_calls:
            return Message(
                role="tool", content=observation, tool_call_id=completion.tool_calls[0].id, kind="observation"
            )
        return Message(role="user", content=observation, kind="observation")


def chat_request(agent: TextAgent, messages: list[Message], state: EpisodeState) -> ChatRequest:
    """The request an LLM-backed agent sends for the next turn."""
    return ChatRequest(
        messages=list(messages),
        params=agent.config.params,
        tools=agent.tools_for(state.info),
        episode_id=state.traj.id,
    )
