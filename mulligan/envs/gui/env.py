"""``mulligan/Gui-v0``: simulated phone apps as a gymnasium env over text (and screenshots).

The observation is the screen's accessibility tree as text; ``render()`` in ``"rgb_array"`` mode
draws the same screen. Actions are strings (``click(3)``, ``type(5, "hi")``, ``scroll(down)``,
``back()``, ``answer("...")``); any action of any type is answered and counts as a step.
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mulligan.envs.gui.actions import ACTION_HELP, parse, tool_schema
from mulligan.envs.gui.device import Outcome, perform, screen_of
from mulligan.envs.gui.expert import ExpertAction, plan
from mulligan.envs.gui.render import draw, layout
from mulligan.envs.gui.suites import SPLITS, build_task
from mulligan.envs.gui.tasks import Task, effect_allowed, same
from mulligan.envs.gui.widgets import Screen
from mulligan.envs.gui.world import World
from mulligan.envs.options import check_env_options
from mulligan.envs.suites import reset_task_id
from mulligan.errors import EnvError

CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
"""Every character an observation may contain (anything else an agent types shows as ``?``)."""
MAX_OBSERVATION_CHARS = 4096
MAX_ACTION_CHARS = 300


class GuiEnv(gym.Env[str, str]):
    """Four simulated phone apps (settings, mail, shop, notes) and tasks on them.

    ``reset(options={"task": "unseen-3"})`` selects a task; ``options={"split": "seen"}`` draws one
    with the env's seeded generator; with neither, a ``train`` task is drawn.

    ``info`` on reset and every step holds ``won``, ``failed`` (an irreversible action the goal did
    not call for happened: the task can no longer be won), ``goal``, ``goal_slots``, ``task_id``,
    ``task_type`` (the template), ``app``, ``split``, ``valid``, ``step``, ``screen`` (its title),
    ``elements`` (every visible element with id, role, label, states, ``irreversible``, the
    ``effect`` a click would have, and its ``bbox`` in the screenshot), ``irreversible`` (their ids),
    ``effect`` (what the last action did that cannot be undone, or None) and ``tools``.

    The reward is 1.0 on the step that wins. Winning, a failing irreversible action and
    ``answer(...)`` terminate; reaching ``max_steps`` truncates and is never a win.

    Args:
        max_steps: Steps before truncation.
        task: A task id used when ``reset`` names none.
        render_mode: None, ``"rgb_array"`` (a screenshot) or ``"ansi"`` (the last observation).

    Raises:
        ConfigError: ``max_steps`` below 1 or an unknown render mode.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, max_steps: int = 30, task: str | None = None, render_mode: str | None = None):
        check_env_options(max_steps, render_mode, self.metadata["render_modes"])
        self.max_steps = max_steps
        self.default_task = task
        self.render_mode = render_mode
        self.observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=1, charset=CHARSET)
        self.action_space = spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self.task: Task | None = None
        self.world: World | None = None
        self.screen: Screen | None = None
        self.steps_taken = 0
        self.is_won = False
        self.failed = False
        self._last_obs = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on the home screen.

        Args:
            seed: Seeds the generator that draws a task when none is named.
            options: ``{"task": task_id}`` or ``{"split": name}``; both optional.

        Raises:
            EnvError: A malformed task id or unknown split.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        task_id = reset_task_id(options, self.default_task, self.np_random, SPLITS, "gui")
        self.task, self.world = build_task(task_id)
        self.screen = screen_of(self.world)
        self.steps_taken, self.is_won, self.failed = 0, False, False
        text = f"{self.screen.text()}\n\n{ACTION_HELP}\nYour task is to: {self.task.goal}"
        return self._emit(text), self._info(Outcome("", True))

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one action; never raises for any action value.

        Raises:
            EnvError: ``step`` before ``reset``.
        """
        if self.task is None or self.world is None or self.screen is None:
            raise EnvError("call reset() before step()")
        self.steps_taken += 1
        parsed = parse(action)
        terminated = False
        if isinstance(parsed, str):
            outcome = Outcome(parsed, False)
        elif parsed.kind == "answer":
            outcome, terminated = self._answer(parsed.text or ""), True
        else:
            outcome = perform(self.world, self.screen, parsed)
        self.screen = screen_of(self.world)
        feedback = outcome.feedback
        if outcome.effect is not None and not effect_allowed(outcome.effect, self.task.spec.slots):
            self.failed, terminated = True, True
            feedback += " This cannot be undone, and the task did not call for it: the task has failed."
        elif not self.task.is_question and self.task.spec.check(self.world):
            self.is_won, terminated = True, True
        reward = 1.0 if self.is_won else 0.0
        truncated = not terminated and self.steps_taken >= self.max_steps
        return self._emit(f"{feedback}\n\n{self.screen.text()}"), reward, terminated, truncated, self._info(outcome)

    def _answer(self, text: str) -> Outcome:
        task = self.task
        assert task is not None
        if task.is_question and same(text, task.spec.answer):
            self.is_won = True
            return Outcome(f'You answered "{text}". That is correct.', True)
        if task.is_question:
            return Outcome(f'You answered "{text}". That is not the right answer.', True)
        return Outcome(f'You answered "{text}", but the task was not done. The episode is over.', True)

    def render(self) -> np.ndarray | str | None:
        """A screenshot (``"rgb_array"``) or the last observation (``"ansi"``); None otherwise."""
        if self.render_mode == "ansi":
            return self._last_obs
        if self.render_mode == "rgb_array" and self.screen is not None:
            return draw(self.screen)
        return None

    def element_boxes(self) -> dict[int, tuple[int, int, int, int]]:
        """The screenshot bounding box ``(x0, y0, x1, y1)`` of each visible element, by id."""
        if self.screen is None:
            raise EnvError("call reset() before asking for element boxes")
        return layout(self.screen)[0]

    def expert_plan(self) -> ExpertAction:
        """The expert's next subgoal and action, from the true state."""
        if self.task is None or self.world is None or self.screen is None:
            raise EnvError("call reset() before asking the expert")
        return plan(self.task, self.world, self.screen)

    def expert_action(self) -> str:
        """The expert's next action, e.g. ``"click(3)"``."""
        return self.expert_plan().action

    def expert_subgoal(self) -> str:
        """The subgoal the expert's next action serves, e.g. ``"delete the email"``."""
        return self.expert_plan().subgoal

    def _emit(self, text: str) -> str:
        clean = "".join(c if c in CHARSET else "?" for c in text)
        self._last_obs = clean[:MAX_OBSERVATION_CHARS]
        return self._last_obs

    def _info(self, outcome: Outcome) -> dict[str, Any]:
        task, screen = self.task, self.screen
        assert task is not None and screen is not None
        boxes = layout(screen)[0]
        elements = [dict(el.describe(), bbox=boxes[el.id]) for el in screen.walk()]
        return {
            "won": self.is_won,
            "failed": self.failed,
            "goal": task.goal,
            "goal_slots": dict(task.spec.slots),
            "task_id": task.task_id,
            "task_type": task.template,
            "app": task.app,
            "split": task.split,
            "valid": outcome.valid,
            "step": self.steps_taken,
            "screen": screen.title,
            "elements": elements,
            "irreversible": [e["id"] for e in elements if e["irreversible"]],
            "effect": outcome.effect,
            "tools": tool_schema(),
        }
