"""The critic-guided agent: a critic checks each proposed action before it runs.

On a "bad" verdict the rejected reply stays in the transcript with ``train=False``, the critique
is shown to the model as a user message of kind ``feedback``, and the model's next reply (kind
``revision``) is checked again, up to ``max_revisions`` times; the last revision runs whatever
the critic says (critics can be wrong; the env has the last word). The step keeps the verdict on
what ran as its ``critique`` and the rejected proposals in ``info["rejected"]``. A critic with a
``veto(proposal, critique)`` method can make a "bad" verdict final (the GUI critics do for
irreversible actions): then even the last revision does not run (``info["vetoed"]``).

With a privileged critic (the teacher) every trajectory is marked ``source="teacher"``.
"""

from __future__ import annotations

from typing import Any

from mulligan.agents.base import AgentConfig, EpisodeState, chat_request
from mulligan.agents.options import helper_llm
from mulligan.agents.parsing import FORMAT_REMINDER, ParsedReply, parse_react
from mulligan.agents.react import ReActAgent
from mulligan.errors import FormatError
from mulligan.llm.base import complete
from mulligan.records import Critique, Message
from mulligan.reflection import Proposal, is_privileged, judge, make_critic
from mulligan.reflection.base import first_observation
from mulligan.reflection.prompts import render_prompt


def proposal_for(parsed: ParsedReply, state: EpisodeState, *, privileged: bool) -> Proposal:
    """The proposal a critic judges during an episode; the env goes only to privileged critics."""
    traj = state.traj
    return Proposal(
        action=parsed.action,
        thought=parsed.thought,
        goal=traj.goal,
        history=tuple(traj.steps[:-1]),
        first_observation=first_observation(traj),
        info=state.info,
        env=state.env if privileged else None,
        episode=traj.id,
    )


def feedback_text(critique: Critique) -> str:
    """The user message that shows a rejecting critique to the model."""
    suggestion = f" Suggestion: {critique.suggestion}" if critique.suggestion else ""
    return render_prompt(
        "feedback", explanation=critique.explanation or "it does not help.", suggestion=suggestion,
        reminder=FORMAT_REMINDER,
    ).strip()


class CriticConfig(AgentConfig):
    """Options of the critic-guided agent."""

    critic: str = "env+loop"
    """Critic names joined by ``+``: env, loop, stall, llm, teacher (see ``mulligan.reflection.CRITICS``)."""
    critic_model: str | None = None
    """Model spec of the ``llm`` critic; None uses the agent's own model."""
    max_revisions: int = 2
    """Revisions asked for at most per turn (M)."""
    revision_temperature: float | None = None
    """Sampling temperature of revisions; None keeps the agent's own."""
    use_tools: bool = False
    """Text actions only: a rejected native tool call would leave an unanswered call in the transcript."""


class CriticAgent(ReActAgent):
    """ReAct whose actions pass a critic before they run (see the module docstring)."""

    name = "critic"
    config_class = CriticConfig
    config: CriticConfig

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(llm, config, **overrides)
        self.critic = make_critic(self.config.critic, helper_llm(self.config.critic_model, llm))
        if is_privileged(self.critic):
            self.source = "teacher"

    async def review(self, parsed: ParsedReply, messages: list[Message], state: EpisodeState) -> ParsedReply | None:
        """Let the critic judge ``parsed``; revise while it says "bad" (see the module docstring)."""
        step = state.traj.steps[-1]
        privileged = is_privileged(self.critic)
        rejected: list[dict[str, Any]] = []
        for revision in range(self.config.max_revisions + 1):
            critique = await judge(self.critic, proposal_for(parsed, state, privileged=privileged))
            if critique.verdict != "bad" or revision == self.config.max_revisions:
                break
            rejected.append({"action": parsed.action, "raw": messages[-1].content, "critique": critique.model_dump()})
            messages[-1].train = False
            messages.append(Message(role="user", content=feedback_text(critique), kind="feedback"))
            revised = await self._revise(messages, state)
            step.info["rejected"] = rejected
            if revised is None:
                step.valid, step.observation = False, "no usable revision"
                return None
            parsed = revised
        step.critique = critique
        step.thought, step.raw = parsed.thought, messages[-1].content
        veto = getattr(self.critic, "veto", None)
        if critique.verdict == "bad" and veto is not None and veto(proposal_for(parsed, state, privileged=privileged),
                                                                   critique):
            # A critic may make its verdict final (an irreversible action): the action never runs.
            step.valid, step.info["vetoed"] = False, parsed.action
            messages[-1].train = False
            step.observation = f"Blocked by the critic: {critique.explanation}"
            messages.append(Message(role="user", content=feedback_text(critique), kind="feedback"))
            return None
        return parsed

    async def _revise(self, messages: list[Message], state: EpisodeState) -> ParsedReply | None:
        """Ask for a revision; it joins the transcript as kind ``revision`` (None: no usable reply)."""
        request = chat_request(self, messages, state)
        if self.config.revision_temperature is not None:
            request.params = request.params.model_copy(update={"temperature": self.config.revision_temperature})
        completion = await complete(self.llm, request)
        state.traj.usage.add(completion.usage)
        if completion.error or completion.exhausted:
            return None
        try:
            parsed = parse_react(completion.text, multiline=self.config.multiline_actions)
        except FormatError as e:
            messages.append(Message(role="assistant", content=completion.text, train=False, kind="revision"))
            messages.append(Message(role="user", content=str(e), kind="feedback"))
            return None
        messages.append(Message(role="assistant", content=completion.text, train=True, kind="revision"))
        return parsed
