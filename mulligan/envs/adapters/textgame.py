"""What the adapters over TextWorld's engine share (TextWorld games, ALFWorld's PDDL games): text
spaces, the step cap, one game object at a time, ``render`` and ``close``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces

from mulligan.envs.contract import TEXT_CHARSET
from mulligan.envs.options import check_env_options

MAX_OBSERVATION_CHARS = 8192
MAX_ACTION_CHARS = 300


def normal_action(action: Any) -> str:
    """An action as one line with single spaces ("" for anything but a string), at most 300 characters."""
    return " ".join(action.split())[:MAX_ACTION_CHARS] if isinstance(action, str) else ""


class TextGameEnv(gym.Env[str, str]):
    """Base of the env adapters that hold one TextWorld game (``self.game``) and its last state."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4, "blocking_reset": True}

    def __init__(self, max_steps: int, task: str | None = None, render_mode: str | None = None):
        check_env_options(max_steps, render_mode, self.metadata["render_modes"])
        self.max_steps = max_steps
        self.default_task = task
        self.render_mode = render_mode
        self.observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=1, charset=TEXT_CHARSET)
        self.action_space = spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=TEXT_CHARSET)
        self.game: Any = None
        self.state: Any = None
        self.task_id = self.split = ""
        self._last = ""

    def render(self) -> str | None:
        """The last observation in ``"ansi"`` mode."""
        return self._last if self.render_mode == "ansi" else None

    def close(self) -> None:
        """Close the game's interpreter."""
        game, self.game = self.game, None
        if game is not None:
            game.close()

    def _emit(self, text: str) -> str:
        self._last = text.strip()[:MAX_OBSERVATION_CHARS] or "(nothing)"
        return self._last
