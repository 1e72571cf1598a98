"""Agents: ReAct, the expert, self-debug (code), Reflexion, critic-guided, the STeP teacher, and tree search.

``make_agent(name, llm, **options)`` builds one by name, or by import path (``pkg.module:MyAgent``);
``register_agent`` adds a name. Options are validated against the agent's ``config_class``.
Agents never import torch.
"""

from __future__ import annotations

from typing import Any

from mulligan.errors import ConfigError
from mulligan.registry import resolve

AGENTS: dict[str, str] = {
    "react": "mulligan.agents.react:ReActAgent",
    "expert": "mulligan.agents.expert:ExpertAgent",
    "self-debug": "mulligan.agents.self_debug:SelfDebugAgent",
    "reflexion": "mulligan.agents.reflexion:ReflexionAgent",
    "critic": "mulligan.agents.critic:CriticAgent",
    "teacher": "mulligan.agents.teacher:TeacherAgent",
    "search": "mulligan.agents.search:SearchAgent",
    "dagger": "mulligan.agents.dagger:DaggerAgent",
    "dagger-reflexion": "mulligan.agents.dagger:DaggerReflexionAgent",
}
"""Agent names -> ``module:Class``; the CLI's ``--agent`` chooses from these (or takes an import path)."""


def register_agent(name: str, ref: str) -> None:
    """Make ``--agent name`` build the agent class ``ref`` (``"pkg.module:Class"``, imported when used)."""
    if not name or ":" in name:
        raise ConfigError(f"agent name {name!r} must be a plain word (no ':')")
    AGENTS[name] = ref


def agent_class(name: str) -> Any:
    """The class registered as ``name`` (or named by an import path).

    Raises:
        ConfigError: Unknown name or import path.
    """
    cls = resolve(name, AGENTS, "agent")
    if not isinstance(cls, type) or not hasattr(cls, "run_task"):
        raise ConfigError(f"agent {name!r} is not an agent class (it has no run_task)")
    return cls


def agent_needs_llm(name: str) -> bool:
    """Whether the agent asks a model for its actions (the expert does not)."""
    return bool(getattr(agent_class(name), "needs_llm", True))


def check_agent_options(name: str, options: dict[str, Any]) -> None:
    """Validate ``options`` for the agent ``name`` before anything expensive (a model) is built.

    Raises:
        ConfigError: Unknown agent, unknown option or bad value (one line).
    """
    cls = agent_class(name)
    if hasattr(cls, "build_config"):
        cls.build_config(None, **options)


def make_agent(name: str, llm: Any = None, **options: Any):
    """Build the agent registered as ``name`` with config overrides ``options``."""
    return agent_class(name)(llm, **options)
