"""``mulligan/Household-v0``: the ALFWorld-style household as a gymnasium env over text.

Observations and actions are strings (:class:`gymnasium.spaces.Text`). Any action, of any type
or length, is answered and counts as a step; what is not a command gets "Nothing happens.".
"""

from __future__ import annotations

import random
import string
from typing import Any, Iterable

import gymnasium as gym
from gymnasium import spaces

from mulligan.envs.household.expert import NO_HINTS, ExpertAction, Hints, plan
from mulligan.envs.household.grammar import GRAMMAR, parse
from mulligan.envs.household.suites import SPLITS, build_world
from mulligan.envs.household.world import NOTHING, World
from mulligan.envs.suites import reset_task_id
from mulligan.errors import ConfigError, EnvError

CHARSET = string.ascii_letters + string.digits + " \n.,:;!?'\"-/()_"
"""Every character an observation may contain (and what the action space samples from)."""

MAX_OBSERVATION_CHARS = 2048
MAX_ACTION_CHARS = 200


def tool_schema() -> list[dict[str, Any]]:
    """The OpenAI-style tool list of the env: one tool, ``act(command)``. Fresh on every call."""
    return [
        {
            "type": "function",
            "function": {
                "name": "act",
                "description": (
                    "Do one thing in the household and get back what you observe. Commands: "
                    + GRAMMAR
                    + ". Objects and receptacles are named by type and number, e.g. 'mug 1', 'countertop 2'."
                ),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "command": {"type": "string", "description": "One command, e.g. 'go to countertop 1'."}
                    },
                    "required": ["command"],
                },
            },
        }
    ]


class HouseholdEnv(gym.Env[str, str]):
    """An ALFWorld-style text household generated from a task id.

    ``reset(options={"task": "unseen-3"})`` selects a task; ``options={"split": "seen"}`` draws one
    from a split with the env's seeded random generator; with neither, a ``train`` task is drawn.

    ``info`` on reset and every step holds ``won``, ``admissible_actions``, ``goal``, ``task_id``,
    ``task_type``, ``split``, ``valid`` (False exactly when the feedback is "Nothing happens."),
    ``step`` and ``tools``. The reward is 1.0 on the step that wins and 0.0 otherwise; winning
    terminates, and reaching ``max_steps`` without winning truncates.

    Args:
        max_steps: Steps before truncation.
        task: A task id used when ``reset`` names none.
        render_mode: None or ``"ansi"`` (``render`` returns the last observation).
        shuffle_receptacles: List each room's receptacles in an order drawn from the task id
            instead of sorted by type and number: the same tasks, but where things are in the
            room description (and so the order a search follows) cannot be guessed.

    Raises:
        ConfigError: ``max_steps`` below 1 or an unknown render mode.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, max_steps: int = 50, task: str | None = None, render_mode: str | None = None,
                 shuffle_receptacles: bool = False):
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ConfigError(f"max_steps must be a positive integer, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"unknown render mode {render_mode!r}; use one of {self.metadata['render_modes']}")
        self.max_steps = max_steps
        self.default_task = task
        self.shuffle_receptacles = shuffle_receptacles
        self.render_mode = render_mode
        self.observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=1, charset=CHARSET)
        self.action_space = spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self.world: World | None = None
        self.steps_taken = 0
        self.is_won = False
        self.last_valid = True
        """Whether the last action did something (the expert's thought says so when it did not)."""
        self._last_obs = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode.

        Args:
            seed: Seeds the generator that draws a task when none is named.
            options: ``{"task": task_id}`` or ``{"split": name}``; both optional.

        Returns:
            The first observation (room and task) and the info dict.

        Raises:
            EnvError: A malformed task id, unknown split or bad options.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        task_id = reset_task_id(options, self.default_task, self.np_random, SPLITS, "household")
        self.world = build_world(task_id)
        if self.shuffle_receptacles:
            random.Random(f"shuffle|{task_id}").shuffle(self.world.receptacles)
        self.steps_taken = 0
        self.is_won = False
        self.last_valid = True
        return self._emit(self.world.initial_observation()), self._info(valid=True)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one action; never raises for any action value.

        Args:
            action: A command string (anything else is answered "Nothing happens.").

        Returns:
            (observation, reward, terminated, truncated, info).

        Raises:
            EnvError: ``step`` before ``reset``.
        """
        if self.world is None:
            raise EnvError("call reset() before step()")
        self.steps_taken += 1
        cmd = parse(action)
        feedback, valid = self.world.execute(cmd) if cmd is not None else (NOTHING, False)
        self.last_valid = valid
        reward = 0.0
        if not self.is_won and self.world.won():
            self.is_won, reward = True, 1.0
        truncated = not self.is_won and self.steps_taken >= self.max_steps
        return self._emit(feedback), reward, self.is_won, truncated, self._info(valid=valid)

    def render(self) -> str | None:
        """The last observation in ``"ansi"`` mode; None otherwise."""
        return self._last_obs if self.render_mode == "ansi" else None

    expert_reads_lessons = True
    """``expert_plan`` takes what lessons of an earlier attempt say (``known``, ``first``)."""

    def expert_plan(self, mode: str = "search", *, known: Iterable[str] = (), first: Iterable[str] = ()) -> ExpertAction:
        """The expert's next subgoal, command and thought (see :mod:`mulligan.envs.household.expert`).

        Args:
            mode: ``"search"`` or ``"direct"``.
            known: Receptacles whose starting contents the agent remembers from an earlier attempt.
            first: Receptacles to search before the others.
        """
        if self.world is None:
            raise EnvError("call reset() before asking the expert")
        hints = Hints(frozenset(known), tuple(first)) if known or first else NO_HINTS
        return plan(self.world, mode, hints=hints, last_valid=self.last_valid)

    def expert_action(self, mode: str = "search") -> str:
        """The expert's next command, e.g. ``"go to cabinet 1"``."""
        return self.expert_plan(mode).action

    def expert_subgoal(self, mode: str = "search") -> str:
        """The subgoal the expert's next command serves, e.g. ``"find mug"``."""
        return self.expert_plan(mode).subgoal

    def expert_thought(self, mode: str = "search") -> str:
        """The expert's thought for its next command, written from what the agent has observed."""
        return self.expert_plan(mode).thought

    def _emit(self, text: str) -> str:
        self._last_obs = text[:MAX_OBSERVATION_CHARS]
        return self._last_obs

    def _info(self, valid: bool) -> dict[str, Any]:
        world = self.world
        assert world is not None
        task = world.task
        return {
            "won": self.is_won,
            "admissible_actions": world.admissible(),
            "goal": task.goal,
            "task_id": task.task_id,
            "task_type": task.task_type,
            "split": task.split,
            "valid": valid,
            "step": self.steps_taken,
            "tools": tool_schema(),
        }
