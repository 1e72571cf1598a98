"""Reflection: critics judge actions, reflectors write lessons, locators find the first error.

- Protocols and helpers (``base``): :class:`Proposal`, :class:`Critic`, :class:`Reflector`,
  :func:`judge`, :func:`reflect`, :class:`CriticChain`.
- Reflectors: :class:`EnvReflector` (from the agent's own observations, no model),
  :class:`LLMReflector`.
- Critics: :func:`env_feedback_critic`, :func:`loop_critic`, :func:`stall_critic`,
  :class:`LLMCritic`, :class:`TeacherCritic` (privileged: reads the env's true state), and for GUI
  envs :class:`GuiCritic` / :class:`GuiLLMCritic` (pre-operative, hierarchical) and :func:`outcome_critic`.
- First error: :func:`first_error_by_env`, :func:`first_error_by_verifier`, :func:`first_error_by_teacher`.

``make_critic("env+loop")`` and ``make_reflector("env")`` build them by name.
"""

from __future__ import annotations

import inspect
from typing import Any

from mulligan.errors import ConfigError
from mulligan.registry import resolve
from mulligan.reflection.base import (
    REFLECTION_PREFIX,
    Critic,
    CriticChain,
    Proposal,
    Reflector,
    critic_name,
    episode_feedback,
    is_privileged,
    judge,
    reflect,
)
from mulligan.reflection.detectors import action_cycle, find_loop, loop_critic, repeated_action, stall_critic, stalled
from mulligan.reflection.feedback import env_feedback_critic, normalize_action
from mulligan.reflection.first_error import (
    FirstError,
    first_error_by_env,
    first_error_by_teacher,
    first_error_by_verifier,
    mark_first_error,
    mark_first_errors_by_teacher,
)
from mulligan.reflection.gui_critics import GuiCritic, GuiLLMCritic, action_outcome, outcome_critic
from mulligan.reflection.llm_critic import LLMCritic, parse_critique
from mulligan.reflection.reflectors import EnvReflector, LessonFacts, LLMReflector, lesson_facts
from mulligan.reflection.teacher import TeacherCritic

REFLECTORS: dict[str, str] = {
    "env": "mulligan.reflection.reflectors:EnvReflector",
    "llm": "mulligan.reflection.reflectors:LLMReflector",
}
"""Reflector names -> ``module:Class``."""

CRITICS: dict[str, str] = {
    "env": "mulligan.reflection.feedback:env_feedback_critic",
    "loop": "mulligan.reflection.detectors:loop_critic",
    "stall": "mulligan.reflection.detectors:stall_critic",
    "llm": "mulligan.reflection.llm_critic:LLMCritic",
    "teacher": "mulligan.reflection.teacher:TeacherCritic",
    "gui": "mulligan.reflection.gui_critics:GuiCritic",
    "gui-llm": "mulligan.reflection.gui_critics:GuiLLMCritic",
    "screen": "mulligan.reflection.gui_critics:outcome_critic",
}
"""Critic names -> ``module:function`` or ``module:Class``; ``"a+b"`` chains several."""


def _build(obj: Any, name: str, what: str, llm: Any, options: dict[str, Any]) -> Any:
    if not inspect.isclass(obj):
        return obj
    if "llm" in inspect.signature(obj.__init__).parameters:
        if llm is None:
            raise ConfigError(f"the {what} {name!r} needs a model")
        return obj(llm, **options)
    return obj(**options)


def make_reflector(name: str, llm: Any = None, **options: Any) -> Any:
    """Build the reflector registered as ``name`` (``llm`` for model-backed ones)."""
    return _build(resolve(name, REFLECTORS, "reflector"), name, "reflector", llm, options)


def make_critic(name: str | list[str], llm: Any = None) -> Any:
    """Build a critic by name; ``"env+loop"`` or a list of names gives a :class:`CriticChain`."""
    names = name.split("+") if isinstance(name, str) else list(name)
    critics = [_build(resolve(n, CRITICS, "critic"), n, "critic", llm, {}) for n in names]
    return critics[0] if len(critics) == 1 else CriticChain(critics, name="+".join(names))


__all__ = [
    "CRITICS",
    "REFLECTION_PREFIX",
    "REFLECTORS",
    "Critic",
    "CriticChain",
    "EnvReflector",
    "FirstError",
    "GuiCritic",
    "GuiLLMCritic",
    "LLMCritic",
    "LLMReflector",
    "LessonFacts",
    "Proposal",
    "Reflector",
    "TeacherCritic",
    "action_cycle",
    "action_outcome",
    "critic_name",
    "env_feedback_critic",
    "episode_feedback",
    "find_loop",
    "first_error_by_env",
    "first_error_by_teacher",
    "first_error_by_verifier",
    "is_privileged",
    "judge",
    "lesson_facts",
    "loop_critic",
    "make_critic",
    "make_reflector",
    "mark_first_error",
    "mark_first_errors_by_teacher",
    "normalize_action",
    "outcome_critic",
    "parse_critique",
    "reflect",
    "repeated_action",
    "stall_critic",
    "stalled",
]
