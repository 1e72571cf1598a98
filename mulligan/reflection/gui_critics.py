"""GUI critics: a pre-operative critic (GUI-Critic-R1) and MobileUse's hierarchical checks.

Before an action runs, :class:`GuiCritic` checks it at three levels (MobileUse):

* **trajectory**: the loop and stall detectors of :mod:`~mulligan.reflection.detectors` (the same
  action three times, 2- or 3-action cycles, a screen unchanged three times);
* **action**: the previous action's outcome (:func:`action_outcome`): if it left the screen as
  it was, repeating it is bad;
* **pre-operative** (GUI-Critic-R1): the target must exist on the screen, be enabled and fit the
  verb; an *irreversible* target (the env marks them, with the ``effect`` a click would have)
  must be what the goal calls for: its kind among the goal slots' ``allows`` and every parameter
  the effect shares with the slots equal. Otherwise the verdict is "bad", and :meth:`GuiCritic.veto`
  makes it final: the critic-guided agent never runs it;
* **global** (before ``answer``): an action task is not finished by answering, and a question's
  answer must be on the screen.

:class:`GuiLLMCritic` adds a model: the rules run first; the model is asked, always, about every
irreversible action and every answer the rules let through (and about every action with
``every_step=True``). Its prompt is ``prompts/gui_critic.txt``. Only the agent's own view is read
(the goal, its slots, the screen and the env's element list), never the env's hidden state.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from mulligan.records import Critique
from mulligan.reflection.base import Proposal
from mulligan.reflection.detectors import REPEATS, find_loop, repeated_action, stalled
from mulligan.reflection.llm_critic import parse_critique
from mulligan.reflection.prompts import ask, render_prompt

_VERB = re.compile(r"^\s*([A-Za-z_]+)")
_ID = re.compile(r"\d+")
_TREE_LINE = re.compile(r"^(?:Screen:|Task:|\s*\[-?\d+\])")
_CLICKS = {"click", "tap", "press", "select", "toggle"}
_TYPES = {"type", "input", "enter", "fill", "write"}
_ANSWERS = {"answer", "finish", "respond", "done"}


def verb_and_target(action: str) -> tuple[str, int | None]:
    """The verb (``click``, ``type``, ``answer``, ...) and the element id of an action string."""
    m = _VERB.match(action)
    verb = m.group(1).lower() if m else ""
    kind = "click" if verb in _CLICKS else "type" if verb in _TYPES else "answer" if verb in _ANSWERS else verb
    rest = action[m.end():] if m else action
    number = _ID.search(rest.split(",")[0]) if kind in ("click", "type") else None
    return kind, int(number.group()) if number else None


def target_of(proposal: Proposal) -> dict[str, Any] | None:
    """The element of the env's ``info["elements"]`` the proposed action names, if any."""
    if proposal.action is None:
        return None
    _, ident = verb_and_target(proposal.action)
    return next((e for e in proposal.info.get("elements", ()) if e.get("id") == ident), None)


def screen_text(observation: str) -> str:
    """The screen part of an observation (the tree lines), without feedback and goal."""
    return "\n".join(ln for ln in observation.splitlines() if _TREE_LINE.match(ln))


def action_outcome(before: str, after: str, valid: bool = True) -> str:
    """MobileUse's action reflection: ``"invalid"``, ``"no change"`` or ``"ok"``."""
    if not valid:
        return "invalid"
    return "no change" if screen_text(before) == screen_text(after) else "ok"


def _squash(text: Any) -> str:
    text = re.sub(r"[\"'`$]", "", str(text).lower())
    return " ".join(text.split()).strip(" .!?,;:")


def effect_problem(effect: Mapping[str, Any], slots: Mapping[str, Any], goal: str) -> str | None:
    """Why an irreversible effect is not what the goal asks for (None: it is)."""
    kind = str(effect.get("kind", "?")).replace("_", " ")
    if slots:
        if effect.get("kind") not in slots.get("allows", ()):
            return f"The goal does not ask to {kind}, and this cannot be undone."
        for key, value in effect.items():
            if key != "kind" and key in slots and _squash(value) != _squash(slots[key]):
                return f"This would {kind} with {key} '{value}', but the goal asks for '{slots[key]}'."
        return None
    missing = [str(v) for k, v in effect.items() if k != "kind" and _squash(v) not in _squash(goal)]
    return f"The goal does not mention {', '.join(missing)}; this {kind} cannot be undone." if missing else None


def _bad(explanation: str, suggestion: str | None = None, critic: str = "gui") -> Critique:
    return Critique(verdict="bad", critic=critic, explanation=explanation, suggestion=suggestion)


def _is_question(proposal: Proposal) -> bool:
    slots = proposal.info.get("goal_slots")
    return bool(slots.get("question")) if slots else proposal.goal.strip().endswith("?")


def outcome_critic(proposal: Proposal) -> Critique:
    """Action level: an executed step that changed nothing is bad; before acting, repeating it is."""
    if proposal.outcome is not None:
        before = proposal.observation
        result = action_outcome(before, proposal.outcome.observation, proposal.outcome.valid)
        if result == "ok":
            return Critique(verdict="good", critic="screen")
        return _bad(f"'{proposal.action}' was {result}: the screen did not change as expected.", critic="screen")
    steps = [s for s in proposal.history if s.action is not None]
    if not steps:
        return Critique(verdict="good", critic="screen")
    last = steps[-1]
    before = steps[-2].observation if len(steps) > 1 else proposal.first_observation
    result = action_outcome(before, last.observation, last.valid)
    if result != "ok" and proposal.action == last.action:
        return _bad(f"'{last.action}' was {result} last time (the screen did not change); repeating it will not help.",
                    "Read the screen again and choose a different element or action.", critic="screen")
    return Critique(verdict="good", critic="screen")


class GuiCritic:
    """The rule-based pre-operative critic with MobileUse's levels (see the module docstring)."""

    name = "gui"

    def rules(self, proposal: Proposal) -> Critique:
        """The rule checks alone, in order: trajectory, action, target, irreversible, answer."""
        action = proposal.action
        if action is None:
            return _bad("The reply held no action that could be parsed.")
        loop = find_loop(proposal.actions())
        if loop is not None and repeated_action(proposal.actions()) and self._last_changed(proposal):
            loop = None  # pressing "+" three times is progress when each press changed the screen
        if loop is not None:
            return _bad(f"This would loop: {loop}.", "Do something different from the recent actions.")
        screens = [screen_text(s.observation) for s in proposal.history if s.action is not None]
        if stalled(screens) and action in {s.action for s in list(proposal.history)[-REPEATS:]}:
            return _bad(f"The screen has not changed for {REPEATS} steps and '{action}' is one of the actions "
                        "that kept it so.", "Try back() or another element.")
        outcome = outcome_critic(proposal)
        if outcome.verdict == "bad":
            return outcome.model_copy(update={"critic": self.name})
        kind, ident = verb_and_target(action)
        if kind == "answer":
            return self._final_check(proposal, action)
        if kind not in ("click", "type") or "elements" not in proposal.info:
            return Critique(verdict="uncertain", critic=self.name)
        element = target_of(proposal)
        if element is None:
            return _bad(f"There is no element [{ident}] on this screen.", "Use an id shown in brackets on the screen.")
        label = f"[{ident}] {element.get('role')} \"{element.get('label')}\""
        if element.get("disabled"):
            return _bad(f"{label} is disabled.", "Fill in what it needs first.")
        if kind == "type" and not element.get("editable"):
            return _bad(f"{label} is not a textbox.", "Type into a textbox.")
        if kind == "click" and element.get("clickable") is False:
            return _bad(f"Clicking {label} does nothing.", "Click a button, toggle, radio or list item.")
        if kind == "click" and element.get("irreversible"):
            problem = effect_problem(element.get("effect") or {}, proposal.info.get("goal_slots") or {}, proposal.goal)
            if problem is not None:
                return _bad(f"{label} cannot be undone. {problem}",
                            "Go back (back()) and make the screen match the goal before this step.")
        return Critique(verdict="good", critic=self.name)

    @staticmethod
    def _last_changed(proposal: Proposal) -> bool:
        steps = [s for s in proposal.history if s.action is not None]
        if not steps:
            return False
        before = steps[-2].observation if len(steps) > 1 else proposal.first_observation
        return action_outcome(before, steps[-1].observation, steps[-1].valid) == "ok"

    def _final_check(self, proposal: Proposal, action: str) -> Critique:
        if not _is_question(proposal):
            return _bad("The task asks to change something, not to answer; answering ends the episode unfinished.",
                        "Carry out the task; the episode ends by itself when the goal holds.")
        text = action[action.find("(") + 1: action.rfind(")")] if "(" in action else action.split(" ", 1)[-1]
        if _squash(text) and _squash(text) not in _squash(screen_text(proposal.observation)):
            return _bad(f"The answer '{text.strip()}' is not on the screen.",
                        "Open the screen that shows the answer and copy it exactly.")
        return Critique(verdict="good", critic=self.name)

    def __call__(self, proposal: Proposal) -> Critique:
        """Judge a proposed action by the rules."""
        return self.rules(proposal)

    def veto(self, proposal: Proposal, critique: Critique) -> bool:
        """Whether a "bad" verdict is final: the action targets an irreversible element."""
        element = target_of(proposal)
        return critique.verdict == "bad" and bool(element and element.get("irreversible"))


class GuiLLMCritic(GuiCritic):
    """The rules, then a model on every irreversible action and answer (see the module docstring).

    Args:
        llm: Any backend of the LLM protocol.
        every_step: Ask the model about every action the rules let through, not only the mandatory ones.
        history: How many recent actions the prompt lists.
        max_tokens: Length cap of the answer.
    """

    name = "gui-llm"

    def __init__(self, llm: Any, *, every_step: bool = False, history: int = 6, max_tokens: int = 96):
        self.llm = llm
        self.every_step = every_step
        self.history = history
        self.max_tokens = max_tokens

    def mandatory(self, proposal: Proposal) -> bool:
        """Whether the model must be asked: an irreversible target, or an answer."""
        element = target_of(proposal)
        kind, _ = verb_and_target(proposal.action or "")
        return kind == "answer" or bool(element and element.get("irreversible"))

    async def __call__(self, proposal: Proposal) -> Critique:
        """Rules first; a rule "bad" stands. Then the model, where it must (or may) be asked."""
        verdict = self.rules(proposal).model_copy(update={"critic": self.name})
        if verdict.verdict == "bad" or not (self.every_step or self.mandatory(proposal)):
            return verdict
        element = target_of(proposal)
        target = "none"
        if element:
            target = f"[{element['id']}] {element.get('role')} \"{element.get('label')}\""
            if element.get("irreversible"):
                target += f" - IRREVERSIBLE; clicking it would do: {element.get('effect')}"
        recent = [s.action for s in proposal.history if s.action is not None][-self.history:]
        prompt = render_prompt(
            "gui_critic", goal=proposal.goal, recent="\n".join(f"> {a}" for a in recent) or "(none yet)",
            screen=screen_text(proposal.observation) or proposal.observation, proposal=proposal.action or "",
            target=target,
        )
        reply = await ask(self.llm, prompt, tag=f"{proposal.episode}:gui-critic", max_tokens=self.max_tokens)
        if reply.error:
            return verdict.model_copy(update={"explanation": f"model unavailable ({reply.error}); rules only"})
        return parse_critique(reply.text, critic=self.name)
