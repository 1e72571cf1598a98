"""Prompt templates (``prompts/*.txt``, ``$name`` placeholders) and the text they show of an episode."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from string import Template
from typing import Sequence

from mulligan.llm.base import ChatRequest, Completion, GenerationParams, complete
from mulligan.records import Message, Step


@lru_cache(maxsize=None)
def load_prompt(name: str) -> Template:
    """The template ``mulligan/reflection/prompts/<name>.txt``."""
    text = resources.files("mulligan.reflection").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    return Template(text)


def render_prompt(name: str, **values: str) -> str:
    """Fill a template; a placeholder without a value is an error (a template bug)."""
    return load_prompt(name).substitute(**values)


def render_steps(first_observation: str, steps: Sequence[Step], *, numbered: bool = False) -> str:
    """An episode as text: the first observation, then each step's thought, action and observation."""
    lines = [first_observation.strip()] if first_observation.strip() else []
    for i, step in enumerate(steps, start=1):
        head = f"Step {i}:\n" if numbered else ""
        thought = f"Thought: {step.thought}\n" if step.thought else ""
        action = step.action if step.action is not None else f"(unparseable reply: {step.raw[:80]!r})"
        lines.append(f"{head}{thought}> {action}\n{step.observation.strip()}")
    return "\n".join(lines)


async def ask(llm: object, prompt: str, *, tag: str, max_tokens: int = 256) -> Completion:
    """One greedy single-turn request; ``tag`` is the episode id (scripted backends replay per tag)."""
    request = ChatRequest(
        messages=[Message(role="user", content=prompt)],
        params=GenerationParams(max_tokens=max_tokens, temperature=0.0),
        episode_id=tag,
    )
    return await complete(llm, request)  # type: ignore[arg-type]
