"""Agents: ReAct, the expert, self-debug (code), Reflexion, critic-guided, the STeP teacher, and tree search.

``make_agent(name, llm, **options)`` builds one by name; agents never import torch.
"""

from __future__ import annotations

from typing import Any

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
"""Agent names -> ``module:Class``; the CLI's ``--agent`` chooses from these."""

def agent_needs_llm(name: str) -> bool:
    """Whether the agent asks a model for its actions (its class's ``needs_llm``; the expert does not)."""
    return bool(getattr(resolve(name, AGENTS, "agent"), "needs_llm", True))


def make_agent(name: str, llm: Any = None, **options: Any):
    """Build the agent registered as ``name`` with config overrides ``options``."""
    cls = resolve(name, AGENTS, "agent")
    return cls(llm, **options)
