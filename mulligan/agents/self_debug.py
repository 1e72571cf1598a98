"""The self-debugging agent (Chen et al., "Teaching Large Language Models to Self-Debug").

Loop: the model writes a program; the agent runs the visible tests (the env's ``test`` tool);
if they pass it submits, otherwise it feeds the result back and asks for a revision, up to
``max_revisions`` times, then submits the last program. Feedback modes, as in the paper:

* ``simple``: only that the code is wrong;
* ``unit``: each failing test with its expected value, what the code returned, and the error;
* ``explanation``: the unit-test feedback, and the model first explains its code line by line
  ("rubber duck" debugging) before it writes the fix.

The transcript is what the model saw: feedback messages (``kind="feedback"``), explanations
(``kind="reflection"``) and revisions (``kind="revision"``). An attempt that failed its tests is
kept in context with ``train=False``. An episode won after a failed test is a *recovery*: the
trajectory gets ``recovered=True`` and the winning step ``info["recovered"] = True``.
"""

from __future__ import annotations

import ast
import asyncio
import re
from typing import Any, Literal

from pydantic import Field

from mulligan.agents.base import AgentConfig, EpisodeState, TextAgent, chat_request
from mulligan.agents.parsing import tool_call_to_action
from mulligan.errors import ConfigError
from mulligan.llm.base import Completion, GenerationParams, complete
from mulligan.records import Message, Step, ToolCall

FeedbackMode = Literal["simple", "unit", "explanation"]

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Write a correct, complete solution to the task: the whole "
    "function with its imports, in one ```python code block."
)
SIMPLE_FEEDBACK = "The code above is wrong: it fails the tests. Please fix it and give the whole corrected function."
FIX_REQUEST = "Please fix the code and give the whole corrected function in one ```python code block."
EXPLAIN_REQUEST = (
    "Before fixing it, explain the code above line by line, and say which line is wrong and why. "
    "Do not write the corrected code yet."
)
NO_CODE = "I could not find any code in your reply. Give the whole function in one ```python code block."
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


class SelfDebugConfig(AgentConfig):
    """Options of the self-debugging agent."""

    system_prompt: str = SYSTEM_PROMPT
    feedback: FeedbackMode = "unit"
    """Which feedback the model gets after failing tests: simple, unit or explanation."""
    max_revisions: int = 3
    """Revisions after the first program (the paper's turn budget)."""
    max_failures_shown: int = 3
    """Failing tests described in unit feedback."""
    use_tools: bool = False
    """The agent, not the model, chooses the tools; the model only writes code."""
    multiline_actions: bool = True
    params: GenerationParams = Field(default_factory=lambda: GenerationParams(max_tokens=1024))


def extract_code(text: str) -> str | None:
    """The program in a reply: its last Python (or unlabelled) fenced block, else the reply itself
    when it parses as Python and defines something; None when there is none."""
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    if blocks:
        return blocks[-1].strip("\n") + "\n"
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body):
        return text.strip("\n") + "\n"
    return None


def unit_feedback(result: dict[str, Any], max_failures: int) -> str:
    """The paper's unit-test feedback from the env's structured ``test`` result."""
    if result.get("load_error"):
        return f"The code above fails before any test runs:\n{result['load_error']}"
    lines = [f"The code above fails {result['total'] - result['passed']} of {result['total']} tests."]
    failures = [c for c in result.get("cases", []) if not c["passed"]]
    for case in failures[:max_failures]:
        if case.get("error"):
            lines.append(f"Test `{case['input']}` raised an error:\n{case['error']}")
        else:
            lines.append(f"Test `{case['input']}` failed: expected {case['expected']}, got {case['got']}.")
    if len(failures) > max_failures:
        lines.append(f"({len(failures) - max_failures} more failing tests not shown.)")
    return "\n".join(lines)


class SelfDebugAgent(TextAgent):
    """Generate, test, feed back, revise (see the module docstring); for ``mulligan/Code-v0``."""

    name = "self-debug"
    config_class = SelfDebugConfig
    config: SelfDebugConfig

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        """The model's next reply (code, or an explanation in explanation mode)."""
        if self.llm is None:
            raise ValueError("the self-debug agent needs an LLM (--model)")
        return await complete(self.llm, chat_request(self, messages, state))

    def initial_messages(self, observation: str, info: dict[str, Any]) -> list[Message]:
        """The task without the env's tool instructions: the agent runs the tools itself."""
        if "entry_point" not in info:
            raise ConfigError("the self-debug agent runs on code environments (mulligan/Code-v0)")
        tests = "\n".join(info.get("visible_tests") or []) or "(none)"
        prompt = f"{info['goal']}\n\nYour code should pass these tests:\n{tests}"
        return [
            Message(role="system", content=self.config.system_prompt, kind="prompt"),
            Message(role="user", content=prompt, kind="observation"),
        ]

    async def _loop(self, state: EpisodeState, max_turns: int) -> None:
        traj, messages = state.traj, state.traj.messages
        config: SelfDebugConfig = self.config  # type: ignore[assignment]
        attempts, failed_before, code = 0, False, None
        while attempts <= config.max_revisions and len(traj.steps) < max_turns:
            completion = await self._ask(messages, state)
            if completion is None:
                return
            kind = "action" if attempts == 0 else "revision"
            found = extract_code(completion.text)
            if found is None:
                messages.append(Message(role="assistant", content=completion.text, train=False, kind=kind))
                messages.append(Message(role="user", content=NO_CODE, kind="feedback"))
                traj.steps.append(Step(t=len(traj.steps), raw=completion.text, observation=NO_CODE, valid=False,
                                       latency_s=completion.latency_s, tokens=completion.usage,
                                       token_ids=completion.token_ids, logprobs=completion.logprobs))
                state.format_errors += 1
                if state.format_errors >= config.max_format_errors:
                    traj.end_reason = "format errors"
                    return
                continue
            state.format_errors, attempts, code = 0, attempts + 1, found
            attempt = Message(role="assistant", content=completion.text, train=True, kind=kind)
            messages.append(attempt)
            result = await self._act(state, "test", code, completion, attempt=attempts)
            if result.get("all_passed"):
                break
            failed_before, attempt.train = True, False
            if attempts > config.max_revisions:
                break
            if not await self._feed_back(result, messages, state):
                return
        if code is None:
            traj.end_reason = "step limit"
            return
        await self._submit(state, code, failed_before)

    async def _ask(self, messages: list[Message], state: EpisodeState) -> Completion | None:
        completion = await self.reply(messages, state)
        state.traj.usage.add(completion.usage)
        if completion.exhausted:
            state.traj.end_reason = "script exhausted"
        elif completion.error:
            state.traj.end_reason, state.traj.error = "provider error", completion.error
        else:
            return completion
        return None

    async def _feed_back(self, result: dict[str, Any], messages: list[Message], state: EpisodeState) -> bool:
        """Append the feedback (and, in explanation mode, the model's explanation); False if the model failed."""
        config: SelfDebugConfig = self.config  # type: ignore[assignment]
        if config.feedback == "simple":
            messages.append(Message(role="user", content=SIMPLE_FEEDBACK, kind="feedback"))
            return True
        feedback = unit_feedback(result, config.max_failures_shown)
        if config.feedback == "unit":
            messages.append(Message(role="user", content=f"{feedback}\n{FIX_REQUEST}", kind="feedback"))
            return True
        messages.append(Message(role="user", content=f"{feedback}\n{EXPLAIN_REQUEST}", kind="feedback"))
        explanation = await self._ask(messages, state)
        if explanation is None:
            return False
        messages.append(Message(role="assistant", content=explanation.text, train=True, kind="reflection"))
        messages.append(Message(role="user", content=FIX_REQUEST, kind="feedback"))
        return True

    async def _act(
        self, state: EpisodeState, tool: str, code: str, completion: Completion | None, **info: Any
    ) -> dict:
        """Step the env with a tool call the agent chose; records the step, returns ``info["feedback"]``.

        The step runs in a worker thread: a sandbox action takes 0.1 s to its wall limit, and the
        other episodes in flight (and their batched LLM calls) go on meanwhile.
        """
        action = tool_call_to_action(ToolCall(name=tool, arguments={"code": code}))
        step = Step(t=len(state.traj.steps), action=action)
        if completion is not None:
            step.raw, step.latency_s, step.tokens = completion.text, completion.latency_s, completion.usage
            step.token_ids, step.logprobs = completion.token_ids, completion.logprobs
        state.traj.steps.append(step)
        observation, reward, terminated, truncated, env_info = await asyncio.to_thread(state.env.step, action)
        state.info = env_info
        feedback = env_info.get("feedback") or {}
        step.observation, step.reward, step.done = str(observation), float(reward), bool(terminated or truncated)
        step.valid = bool(env_info.get("valid", True))
        step.info = {"tool": tool, **info, **{k: feedback[k] for k in ("passed", "total") if k in feedback}}
        state.traj.reward += step.reward
        return feedback

    async def _submit(self, state: EpisodeState, code: str, failed_before: bool) -> None:
        traj = state.traj
        feedback = await self._act(state, "submit", code, None)
        won = bool(state.info.get("won"))
        traj.success = won
        traj.end_reason = "won" if won else "terminated"
        recovered = won and failed_before
        traj.steps[-1].info["recovered"] = recovered
        traj.recovered = recovered
        traj.steps[-1].info.setdefault("won", feedback.get("won", won))
