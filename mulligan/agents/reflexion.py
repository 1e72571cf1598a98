"""The Reflexion agent: retry a failed task with the lessons of the failed trials in the prompt.

Trial 0 is a plain ReAct episode. After each failure a reflector writes a lesson; the next trial
sees the last ``memory_size`` lessons of the task as a memory message after the system prompt.
Trials stop at the first success (with ``confirm_success``, after one more trial that checks
whether the success holds: Confidence v.s. Critique's correct-to-correct rate). Each trial is its
own trajectory: ``trial`` counts from 0, ``parent_id`` is the previous trial's id, ``reflections``
holds the lessons that trial saw, and trials after the first have ``source="reflexion-retry"``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from pydantic import Field

from mulligan.agents.base import AgentConfig, EpisodeState, chat_request
from mulligan.agents.options import helper_llm
from mulligan.agents.react import ReActAgent
from mulligan.llm.base import Completion, complete
from mulligan.memory.reflections import ReflectionMemory
from mulligan.records import Message, Reflection, Trajectory
from mulligan.reflection import make_reflector, reflect


class ReflexionConfig(AgentConfig):
    """Options of the Reflexion agent."""

    trials: int = 3
    """Trials per task at most (K); the first success stops."""
    reflector: str = "env"
    """Reflector name: ``env`` (from the agent's observations, no model) or ``llm``."""
    reflector_model: str | None = None
    """Model spec of the ``llm`` reflector; None uses the agent's own model."""
    memory_size: int = 3
    """Lessons of a task kept in the prompt (Reflexion keeps 3)."""
    confirm_success: bool = False
    """After a success, run one more trial with the same memory and stop: whether a correct attempt
    stays correct (CL). The task counts as won either way."""
    retry_temperature: float | None = Field(None, ge=0.0)
    """Sampling temperature of the trials after the first (None: the agent's own). With
    ``memory_size=0`` this is Reflexion's ablation: plain sampled retries without lessons."""


class ReflexionAgent(ReActAgent):
    """ReAct with trials and a per-task reflection memory (see the module docstring)."""

    name = "reflexion"
    config_class = ReflexionConfig
    config: ReflexionConfig

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(llm, config, **overrides)
        spec = self.config.reflector_model if self.config.reflector == "llm" else None
        self.reflector = make_reflector(self.config.reflector, helper_llm(spec, llm))

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        if state.traj.trial and self.config.retry_temperature is not None:
            params = self.config.params.model_copy(update={"temperature": self.config.retry_temperature})
            return await complete(self.llm, chat_request(self, messages, state, params=params))
        return await super().reply(messages, state)

    async def run_task(self, env: gym.Env, task_id: str, *, key: str, seed: int | None = None) -> list[Trajectory]:
        """Run up to ``trials`` episodes of the task; returns every trial's trajectory."""
        memory = ReflectionMemory(self.config.memory_size)
        trials: list[Trajectory] = []
        last_lesson: Reflection | None = None
        confirming = False
        for trial in range(max(1, self.config.trials)):
            traj = await self.run_episode(
                env, task_id, key=key, seed=seed, trial=trial,
                parent_id=trials[-1].id if trials else None, preamble=memory.preamble(task_id),
            )
            traj.reflections = memory.get(task_id)
            if trial > 0:
                traj.source = "reflexion-retry"
            if last_lesson is not None:
                last_lesson.next_traj_id = traj.id
                last_lesson.return_after = traj.reward
            trials.append(traj)
            if confirming or trial + 1 >= self.config.trials:
                break
            if traj.success:
                if not self.config.confirm_success:
                    break
                confirming, last_lesson = True, None
                continue
            last_lesson = await reflect(self.reflector, traj)
            last_lesson.return_before = traj.reward
            memory.add(task_id, trial, last_lesson)
        return trials
