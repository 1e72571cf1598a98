"""``mulligan/Code-v0``: write a function, run it, test it, submit it; code runs in a sandbox.

Observations and actions are strings (:class:`gymnasium.spaces.Text`). An action names one of three
tools (see :mod:`~mulligan.envs.code.actions` for the text forms and the tool schemas):

* ``run(code, stdin)``: the program's stdout, stderr, exit code, and whether it timed out;
* ``test(code)``: every visible test with its input, expected value, result and traceback;
* ``submit(code)``: the hidden tests judge the code and the episode ends; it is won when all pass.

The sandbox session (a fresh container with the Docker backend) is opened at the episode's first
run, test or submit, and closed at the next ``reset`` or ``close``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from mulligan.envs.code.actions import ACTION_HELP, CodeAction, parse_action, tool_schemas
from mulligan.envs.code.checker import run_program, run_tests
from mulligan.envs.code.feedback import feedback_for_run, feedback_for_submit, feedback_for_test, render_statement
from mulligan.envs.code.sandbox import Limits, Sandbox, Session, shared_sandbox
from mulligan.envs.code.suites import BUILTIN, find_task, load_suite
from mulligan.envs.code.tasks import CodeTask
from mulligan.envs.options import check_env_options
from mulligan.errors import ConfigError, EnvError, FormatError

CHARSET = "".join(chr(i) for i in range(32, 127)) + "\n\t"
"""Every character an observation may contain; others are written as backslash escapes."""
MAX_OBSERVATION_CHARS = 16000
MAX_ACTION_CHARS = 32000
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def to_charset(text: str) -> str:
    """``text`` in :data:`CHARSET`: non-ASCII as ``\\u....``, control characters as ``\\x..``."""
    text = text.replace("\r\n", "\n").encode("ascii", "backslashreplace").decode("ascii")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class CodeEnv(gym.Env[str, str]):
    """Programming tasks judged by tests run in a sandbox.

    ``reset(options={"task": "humaneval:test-3"})`` selects a task (ids come from the suites, see
    :mod:`~mulligan.envs.code.suites`); ``options={"suite": "humaneval", "split": "test"}`` draws
    one with the env's seeded generator; with neither, a built-in ``train`` task is drawn.

    ``info`` always holds ``won``, ``valid``, ``goal``, ``task_id``, ``name``, ``suite``, ``split``,
    ``entry_point``, ``visible_tests``, ``step`` and ``tools``; after a tool ran, ``tool`` and
    ``feedback`` (the structured result: an :class:`ExecResult` for run, per-case results for test,
    counts for submit). The reward is 1.0 for a winning submission, else 0.0. Submitting
    terminates; ``max_steps`` without submitting truncates.

    Args:
        max_steps: Steps before truncation.
        task: A task id used when ``reset`` names none.
        sandbox: A :class:`Sandbox` (the caller closes it), or a backend name (``"docker"``,
            ``"local"``) for the process-wide backend of that name; None uses ``MULLIGAN_SANDBOX``
            (default ``docker``).
        limits: Limits of the process-wide backend (ignored when ``sandbox`` is an instance).
        render_mode: None or ``"ansi"``.

    Raises:
        ConfigError: ``max_steps`` below 1 or an unknown render mode.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4, "blocking_step": True, "multiline_actions": True}

    def __init__(
        self,
        max_steps: int = 20,
        task: str | None = None,
        sandbox: Sandbox | str | None = None,
        limits: Limits | None = None,
        render_mode: str | None = None,
    ):
        check_env_options(max_steps, render_mode, self.metadata["render_modes"])
        self.max_steps = max_steps
        self.default_task = task
        self.render_mode = render_mode
        self.limits = limits or Limits()
        self._sandbox_choice = sandbox
        self.observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=1, charset=CHARSET)
        self.action_space = spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self.task: CodeTask | None = None
        self.session: Session | None = None
        self.steps_taken = 0
        self.is_won = False
        self.submitted = False
        self.last_code: str | None = None
        self._last_obs = ""

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode.

        Args:
            seed: Seeds the generator that draws a task when none is named.
            options: ``{"task": task_id}``, or ``{"suite": name, "split": name}``; all optional.

        Returns:
            The first observation (problem, visible tests, tool help) and the info dict.

        Raises:
            EnvError: Unknown task id, suite or split.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        self._close_session()
        task_id = options.get("task") or self.default_task or self._draw(options)
        self.task = find_task(task_id)
        self.steps_taken, self.is_won, self.submitted, self.last_code = 0, False, False, None
        return self._emit(render_statement(self.task, ACTION_HELP)), self._info(valid=True)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one action. A malformed action is answered, never raised.

        Returns:
            (observation, reward, terminated, truncated, info).

        Raises:
            EnvError: ``step`` before ``reset``.
            SandboxError: The sandbox itself failed (no Docker engine, image missing).
        """
        if self.task is None:
            raise EnvError("call reset() before step()")
        self.steps_taken += 1
        if self.submitted:
            return self._answer("The episode is over: you already submitted.", valid=False)
        try:
            parsed = parse_action(action)
        except FormatError as e:
            return self._answer(str(e), valid=False)
        code = parsed.code if parsed.code is not None else self.last_code
        if code is None:
            return self._answer(f"There is no code to submit yet.\n{ACTION_HELP}", valid=False)
        self.last_code = code
        text, feedback = self._execute(CodeAction(parsed.tool, code, parsed.stdin))
        reward = 0.0
        if parsed.tool == "submit":
            self.submitted, self.is_won = True, bool(feedback["won"])
            reward = 1.0 if self.is_won else 0.0
        return self._answer(text, valid=True, reward=reward, tool=parsed.tool, feedback=feedback)

    def render(self) -> str | None:
        """The last observation in ``"ansi"`` mode; None otherwise."""
        return self._last_obs if self.render_mode == "ansi" else None

    def close(self) -> None:
        """Close the episode's sandbox session."""
        self._close_session()

    # -- the expert ---------------------------------------------------------------------------
    def expert_action(self) -> str:
        """Submit the task's reference solution, as a one-line call ``submit({"code": ...})``."""
        if self.task is None:
            raise EnvError("call reset() before asking the expert")
        return f"submit({json.dumps({'code': self.task.reference})})"

    def expert_subgoal(self) -> str:
        """What the expert's action is for (its Thought)."""
        return "submit the reference solution"

    # -- internals ----------------------------------------------------------------------------
    def _draw(self, options: dict[str, Any]) -> str:
        try:
            suite = load_suite(options.get("suite", BUILTIN))
            ids = suite.task_ids(options.get("split", suite.splits[0]))
        except ConfigError as e:
            raise EnvError(str(e)) from None
        return ids[int(self.np_random.integers(0, len(ids)))]

    def _execute(self, action: CodeAction) -> tuple[str, dict[str, Any]]:
        task = self.task
        assert task is not None and action.code is not None
        session = self._session()
        program = task.program(action.code)
        if action.tool == "run":
            return feedback_for_run(run_program(session, program, action.stdin), self.limits.wall_s)
        cases = task.hidden if action.tool == "submit" else task.visible
        report = run_tests(session, program, cases, timeout_s=task.timeout_s, setup=task.setup)
        if action.tool == "submit":
            return feedback_for_submit(report)
        text, info = feedback_for_test(report)
        if task.defines_entry_point(program) is False:
            text = f"Note: your code does not define `{task.entry_point}`, the function the tests call.\n{text}"
        return text, info

    def _session(self) -> Session:
        if self.session is None:
            choice = self._sandbox_choice
            given = choice is not None and not isinstance(choice, str)
            sandbox = choice if given else shared_sandbox(choice, self.limits)
            self.session = sandbox.session()
        return self.session

    def _close_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.close()

    def _answer(self, text: str, *, valid: bool, reward: float = 0.0, **extra: Any):
        truncated = not self.submitted and self.steps_taken >= self.max_steps
        info = self._info(valid=valid)
        info.update(extra)
        return self._emit(text), reward, self.submitted, truncated, info

    def _emit(self, text: str) -> str:
        text = to_charset(text) or " "
        if len(text) > MAX_OBSERVATION_CHARS:
            text = text[: MAX_OBSERVATION_CHARS - 40] + "\n[... observation cut at the limit]"
        self._last_obs = text
        return text

    def _info(self, valid: bool) -> dict[str, Any]:
        task = self.task
        assert task is not None
        return {
            "won": self.is_won,
            "valid": valid,
            "goal": task.statement,
            "task_id": task.task_id,
            "name": task.name,
            "suite": task.suite,
            "split": task.split,
            "entry_point": task.entry_point,
            "visible_tests": [c.describe() for c in task.visible],
            "step": self.steps_taken,
            "tools": tool_schemas(),
        }
