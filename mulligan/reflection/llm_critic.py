"""The LLM critic: a model judges a proposed action (prompt ``prompts/critic.txt``)."""

from __future__ import annotations

import re
from typing import Any

from mulligan.records import Critique, Verdict
from mulligan.reflection.base import Proposal
from mulligan.reflection.prompts import ask, render_prompt, render_steps

_VERDICT = re.compile(r"\b(good|bad|uncertain)\b", re.IGNORECASE)
_FIELD = r"^[ \t*_#-]*{name}[ \t*_]*:[ \t*_]*(.*)$"
_VERDICT_LINE = re.compile(_FIELD.format(name="verdict"), re.IGNORECASE | re.MULTILINE)
_EXPLANATION = re.compile(_FIELD.format(name="explanation"), re.IGNORECASE | re.MULTILINE)
_SUGGESTION = re.compile(_FIELD.format(name="suggestion"), re.IGNORECASE | re.MULTILINE)
_NONE = {"", "none", "n/a", "-", "no"}


def parse_verdict(text: str) -> Verdict:
    """The first good/bad/uncertain word of a label (``"Bad - wrong place"`` -> ``"bad"``); else uncertain."""
    m = _VERDICT.search(text)
    return m.group(1).lower() if m else "uncertain"  # type: ignore[return-value]


def parse_critique(text: str, *, critic: str = "llm") -> Critique:
    """Parse a ``Verdict: / Explanation: / Suggestion:`` reply; anything unclear is "uncertain"."""
    line = _VERDICT_LINE.search(text)
    verdict = parse_verdict(line.group(1)) if line else "uncertain"
    explanation = _EXPLANATION.search(text)
    suggestion = _SUGGESTION.search(text)
    hint = suggestion.group(1).strip() if suggestion else ""
    return Critique(
        verdict=verdict,
        explanation=explanation.group(1).strip() if explanation else "",
        suggestion=None if hint.lower().rstrip(".") in _NONE else hint,
        critic=critic,
    )


class LLMCritic:
    """Ask a model whether a proposed action helps.

    A failed request gives an "uncertain" verdict (never blocks the agent).

    Args:
        llm: Any backend of the LLM protocol.
        history: How many recent steps the prompt shows.
        max_tokens: Length cap of the answer.
    """

    name = "llm"

    def __init__(self, llm: Any, *, history: int = 8, max_tokens: int = 96):
        self.llm = llm
        self.history = history
        self.max_tokens = max_tokens

    async def __call__(self, proposal: Proposal) -> Critique:
        """Ask the model about ``proposal`` (its goal, recent steps, thought and action)."""
        recent = list(proposal.history)[-self.history:]
        first = proposal.first_observation if len(recent) == len(proposal.history) else ""
        thought = f"Thought: {proposal.thought}\n" if proposal.thought else ""
        prompt = render_prompt(
            "critic",
            goal=proposal.goal,
            transcript=render_steps(first, recent) or "(nothing yet)",
            proposal=f"{thought}Action: {proposal.action}",
        )
        reply = await ask(self.llm, prompt, tag=f"{proposal.episode}:critic", max_tokens=self.max_tokens)
        if reply.error:
            return Critique(verdict="uncertain", critic=self.name, explanation=f"critic unavailable: {reply.error}")
        return parse_critique(reply.text, critic=self.name)
