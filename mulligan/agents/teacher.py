"""STeP data synthesis: the policy acts, a teacher corrects its wrong steps as they happen.

Each proposed action is judged by the teacher critic from the env's true state. A good action runs
as usual. A bad one still runs (the policy made the mistake and sees its outcome) but its reply
stays in context with ``train=False``; then the teacher inserts one assistant message of kind
``revision`` with ``train=True``::

    Reflection: <why the step was wrong, e.g. "'open bed 1' does nothing here."> I should <subgoal> instead.
    Thought: <subgoal>
    Action: <the expert's action from the state the mistake left>

and that corrected action runs, so the episode goes on from where the mistake led. This is the
shape the policy itself produces at test time (one reply per turn, reflection before the action),
so the exported rows teach it to notice and repair its own mistakes. The wrong step and the
correction are separate :class:`~mulligan.records.Step` records (``info["teacher"]`` is ``"wrong"``
or ``"correction"``; the wrong step's ``critique`` is the teacher's). Every trajectory of this
agent has ``source="teacher"``: it is never plain policy data.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mulligan.agents.base import AgentConfig, EpisodeState
from mulligan.agents.critic import proposal_for
from mulligan.agents.parsing import ParsedReply
from mulligan.agents.react import ReActAgent
from mulligan.records import Critique, Message, Step, Trajectory, Usage
from mulligan.reflection import REFLECTION_PREFIX, TeacherCritic
from mulligan.reflection.teacher import DEFAULT_HORIZON


class TeacherConfig(AgentConfig):
    """Options of the teacher (STeP) agent."""

    horizon: int = DEFAULT_HORIZON
    """Expert steps the teacher simulates at most when judging an action."""
    max_corrections: int | None = None
    """Corrections per episode at most; None: every wrong step is corrected."""
    use_tools: bool = False
    """Text actions only (the inserted correction is a text reply)."""


def correction_text(critique: Critique, subgoal: str | None, action: str, thought: str | None = None) -> str:
    """The teacher's reply after a wrong step: a reflection, then the corrected thought and action."""
    plan = f"I should {subgoal} instead." if subgoal else "I should do something else."
    thought = thought or subgoal or "correct my mistake"
    return f"{REFLECTION_PREFIX} {critique.explanation} {plan}\nThought: {thought}\nAction: {action}"


class TeacherAgent(ReActAgent):
    """The policy with a teacher that corrects it step by step (see the module docstring)."""

    name = "teacher"
    source = "teacher"
    config_class = TeacherConfig
    config: TeacherConfig

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(llm, config, **overrides)
        self.teacher = TeacherCritic(horizon=self.config.horizon)

    async def run_episode(self, env: gym.Env, task_id: str, **kwargs: Any) -> Trajectory:
        """Run one episode under the teacher (arguments as :meth:`TextAgent.run_episode`)."""
        traj = await super().run_episode(env, task_id, **kwargs)
        # A corrected turn holds two env steps; number the steps as they ran.
        for i, step in enumerate(traj.steps):
            step.t = i
        return traj

    async def review(self, parsed: ParsedReply, messages: list[Message], state: EpisodeState) -> ParsedReply | None:
        """Pass a good action; run a bad one, then return the teacher's correction (module docstring)."""
        traj, step = state.traj, state.traj.steps[-1]
        corrections = sum(1 for s in traj.steps if s.info.get("teacher") == "correction")
        if self.config.max_corrections is not None and corrections >= self.config.max_corrections:
            return parsed
        critique = self.teacher(proposal_for(parsed, state, privileged=True))
        if critique.verdict != "bad":
            return parsed
        messages[-1].train = False
        if self._room_for_two_steps(state):
            self._run_wrong_step(parsed, step, critique, messages, state)
        else:
            # No room left to run the mistake first: the correction replaces it.
            step.info["rejected"] = [{"action": parsed.action, "raw": step.raw, "critique": critique.model_dump()}]
        subgoal, action = self.teacher.next_step(state.env)
        thought = self.teacher.next_thought(state.env)
        text = correction_text(critique, subgoal, action, thought)
        messages.append(Message(role="assistant", content=text, train=True, kind="revision"))
        step.raw, step.thought, step.info["teacher"] = text, thought, "correction"
        # The teacher wrote this reply: the policy's generated ids (kept on the wrong step, if it ran) are not its.
        step.token_ids = step.logprobs = None
        return ParsedReply(action=action, thought=thought)

    @staticmethod
    def _room_for_two_steps(state: EpisodeState) -> bool:
        cap = getattr(state.env.unwrapped, "max_steps", None)
        used = sum(1 for s in state.traj.steps if s.action is not None)
        return cap is None or used + 2 <= int(cap)

    @staticmethod
    def _run_wrong_step(
        parsed: ParsedReply, step: Step, critique: Critique, messages: list[Message], state: EpisodeState
    ) -> None:
        """Execute the policy's wrong action and record it as its own step, before the correction."""
        observation, reward, terminated, truncated, info = state.env.step(parsed.action)
        state.info = info
        wrong = Step(
            t=step.t, thought=parsed.thought, action=parsed.action, raw=step.raw, observation=str(observation),
            reward=float(reward), valid=bool(info.get("valid", True)), done=bool(terminated or truncated),
            critique=critique, latency_s=step.latency_s, tokens=step.tokens, info={"teacher": "wrong"},
            token_ids=step.token_ids, logprobs=step.logprobs,
        )
        step.latency_s, step.tokens = 0.0, Usage()
        state.traj.steps.insert(len(state.traj.steps) - 1, wrong)
        state.traj.reward += wrong.reward
        messages.append(Message(role="user", content=wrong.observation, kind="observation"))
