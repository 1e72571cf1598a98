"""The env-feedback critic: no-effect and invalid actions, from what the env told the agent.

A proposed action is bad when the env's latest ``info`` lists the admissible actions and it is not
among them, or when the same action already had no effect and nothing has changed since. An
executed step is bad when the env marked it invalid (``Step.valid``: "Nothing happens.").
"""

from __future__ import annotations

import re
from typing import Sequence

from mulligan.records import Critique, Step
from mulligan.reflection.base import Proposal

_PUT = re.compile(r"^put (.+?) (?:in/on|in|on) (.+)$")


def normalize_action(action: str) -> str:
    """Case, spaces, trailing period and quotes removed; ``put X in Y`` spelled ``put X in/on Y``."""
    text = " ".join(action.strip().strip("\"'`").lower().split()).rstrip(".")
    m = _PUT.match(text)
    return f"put {m.group(1)} in/on {m.group(2)}" if m else text


def env_feedback_critic(proposal: Proposal) -> Critique:
    """Judge an action by the env's own feedback (see the module docstring)."""
    action = proposal.action
    if action is None:
        return Critique(verdict="bad", critic="env", explanation="The reply held no action that could be parsed.")
    if proposal.outcome is not None:
        if proposal.outcome.valid:
            return Critique(verdict="good", critic="env")
        return Critique(
            verdict="bad", critic="env",
            explanation=f"'{action}' had no effect: the environment answered '{proposal.outcome.observation[:80]}'.",
        )
    admissible = proposal.info.get("admissible_actions")
    if admissible:
        if normalize_action(action) in {normalize_action(a) for a in admissible}:
            return Critique(verdict="good", critic="env")
        return Critique(
            verdict="bad", critic="env",
            explanation=f"'{action}' is not a command that does anything here.",
            suggestion="Use an object or place you can see from where you are, by its exact name and number.",
        )
    failed = failed_since_last_change(proposal.history)
    if normalize_action(action) in failed:
        return Critique(
            verdict="bad", critic="env",
            explanation=f"'{action}' already had no effect, and nothing has changed since.",
            suggestion="Try a different action.",
        )
    return Critique(verdict="uncertain", critic="env")


def failed_since_last_change(history: Sequence[Step]) -> set[str]:
    """Normalized actions that had no effect after the last step that did have one."""
    failed: set[str] = set()
    for step in history:
        if step.action is None:
            continue
        if step.valid:
            failed.clear()
        else:
            failed.add(normalize_action(step.action))
    return failed
