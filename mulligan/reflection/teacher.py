"""The teacher critic (STeP's teacher): the env's expert planner judges actions from the true state.

An action is good when the expert's remaining plan from the resulting state is shorter than from
the state before it; an action that has no effect, or leaves the plan as long or longer, is bad,
and the suggestion is the expert's next action (its subgoal in the critique's extra field
``subgoal``). Works with any env whose unwrapped object offers ``expert_action()`` (optionally
``expert_subgoal()``), can be deep-copied, and reports ``won`` and ``valid`` in its step info (the
household does).

The teacher reads hidden state, so it is ``privileged``: use it for data synthesis only, and every
trajectory it touched is marked ``source="teacher"`` by the agents that use it.
"""

from __future__ import annotations

import copy
from typing import Any

from mulligan.errors import ConfigError
from mulligan.records import Critique
from mulligan.reflection.base import Proposal

DEFAULT_HORIZON = 100
"""Expert steps simulated before a state counts as unsolvable."""


class TeacherCritic:
    """Judge actions against the env's expert plan (see the module docstring).

    Args:
        horizon: Expert steps simulated at most; a state the expert cannot finish from within it
            has remaining length ``horizon + 1``.
    """

    name = "teacher"
    privileged = True

    def __init__(self, horizon: int = DEFAULT_HORIZON):
        self.horizon = horizon

    @staticmethod
    def _expert(env: Any) -> Any:
        base = getattr(env, "unwrapped", env)
        if not hasattr(base, "expert_action"):
            raise ConfigError(f"{type(base).__name__} has no expert; the teacher needs env.expert_action()")
        return base

    def next_step(self, env: Any) -> tuple[str | None, str]:
        """The expert's (subgoal, action) from the env's current state; the env is not changed."""
        base = self._expert(env)
        subgoal = base.expert_subgoal() if hasattr(base, "expert_subgoal") else None
        return subgoal, base.expert_action()

    def next_thought(self, env: Any) -> str | None:
        """The expert's full thought for its next action (its subgoal where the env has no thoughts)."""
        return expert_thought(self._expert(env))

    def remaining(self, env: Any) -> int:
        """Expert steps from the env's current state to a win (on a copy; ``horizon + 1`` if none)."""
        return self._remaining_from(copy.deepcopy(self._expert(env)))

    def _remaining_from(self, sim: Any) -> int:
        for n in range(self.horizon):
            _, _, _, _, info = sim.step(sim.expert_action())
            if info.get("won"):
                return n + 1
        return self.horizon + 1

    def judge_action(self, env: Any, action: str | None, goal: str = "") -> Critique:
        """Judge ``action`` from the env's current state by simulating it on a copy."""
        subgoal, best = self.next_step(env)
        if action is None:
            return self._bad("The reply held no action.", subgoal, best)
        before = self.remaining(env)
        sim = copy.deepcopy(self._expert(env))
        _, _, _, _, info = sim.step(action)
        if info.get("won"):
            return Critique(verdict="good", critic=self.name, explanation="This completes the task.")
        if not info.get("valid", True):
            return self._bad(f"'{action}' does nothing here.", subgoal, best)
        after = self._remaining_from(sim)
        if after < before:
            return Critique(verdict="good", critic=self.name, explanation=f"'{action}' brings the task closer.")
        target = f" ({goal.rstrip('.')})" if goal else ""
        return self._bad(f"'{action}' does not bring the task{target} closer to completion.", subgoal, best)

    def _bad(self, explanation: str, subgoal: str | None, best: str) -> Critique:
        # The subgoal rides along (records allow extra fields) so exporters can write the expert's
        # reply in the policy's own "Thought: / Action:" shape.
        return Critique(verdict="bad", critic=self.name, explanation=explanation, suggestion=best, subgoal=subgoal)

    def __call__(self, proposal: Proposal) -> Critique:
        """Judge a proposal before it runs, from ``proposal.env``'s true state."""
        if proposal.env is None:
            raise ConfigError("the teacher critic judges from the env's true state: pass the env in the proposal")
        if proposal.outcome is not None:
            raise ConfigError("the teacher judges proposals before they run; use first_error_by_teacher for steps")
        return self.judge_action(proposal.env, proposal.action, proposal.goal)


def expert_thought(env: Any) -> str | None:
    """What an env's expert would think before its next action: its full thought where the env has
    one (``expert_thought``), else its subgoal (``expert_subgoal``), else None."""
    base = getattr(env, "unwrapped", env)
    for name in ("expert_thought", "expert_subgoal"):
        if hasattr(base, name):
            return getattr(base, name)()
    return None
