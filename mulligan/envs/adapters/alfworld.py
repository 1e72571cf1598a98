"""``mulligan/ALFWorld-v0``: ALFWorld's own text engine (the ``alfworld`` package) over ``.tw-pddl`` games.

The engine is TextWorld's PDDL backend (Fast Downward underneath) with ALFWorld's domain, grammar
and demangler (``AlfredDemangler``: ``mug_bar__minus_00_dot_52...`` reads as ``mug 1``), as
ALFWorld's ``AlfredTWEnv`` plays it. Games come from a data folder: ALFWorld's official one
(``$ALFWORLD_DATA/json_2.1.1`` with ``train``, ``valid_seen``, ``valid_unseen``; it is
downloaded by ``alfworld-download`` on a machine with internet, then copied here), or household
tasks written as ALFWorld games (:func:`~mulligan.envs.adapters.alfworld_games.write_household_games`).
Every folder holding a ``game.tw-pddl`` below a split folder is one task; task ``"<data>:<split>-<k>"``
is the k-th by path.

``info``: ``won`` (the PDDL goal holds), ``goal``, ``admissible_actions`` (complete: the engine
grounds every applicable action), ``valid`` (the action was among them). The expert is the
engine's planner (``policy_commands``): it replans from the current state, so it recovers. The
reward is 1.0 on the winning step; ALFWorld's 50-step cap truncates.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from mulligan.envs.adapters.textgame import TextGameEnv, normal_action
from mulligan.envs.suites import IndexedSuite, checked_task_id
from mulligan.errors import ConfigError, DependencyNotInstalled, EnvError

ENV_ID = "mulligan/ALFWorld-v0"
GAME_FILE = "game.tw-pddl"
DATA_HINT = ("ALFWorld's data is not here: set ALFWORLD_DATA to a copy of it (`alfworld-download` fetches it on a "
             "machine with internet; then copy the folder), or write household tasks as ALFWorld games with "
             "mulligan.envs.adapters.alfworld_games.write_household_games and pass that folder as --suite")


# TextWorld's PDDL engine parses with module-level tatsu parsers and shares grounding caches, so two
# threads loading or stepping games at once corrupt each other ("pop from empty list", KeyError (0, 0));
# blocking resets and steps run in worker threads, so every call into the engine takes this lock.
_ENGINE_LOCK = threading.RLock()


def default_data_dir() -> Path:
    """``$ALFWORLD_DATA/json_2.1.1`` (ALFWorld's own layout; ``~/.cache/alfworld`` without the variable)."""
    return Path(os.environ.get("ALFWORLD_DATA") or Path.home() / ".cache" / "alfworld") / "json_2.1.1"


def games_under(folder: Path) -> list[Path]:
    """The ``game.tw-pddl`` files below a folder, by path."""
    return sorted(folder.rglob(GAME_FILE)) if folder.is_dir() else []


class AlfworldSuite(IndexedSuite):
    """The games of a data folder; its subfolders holding games are the splits."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        games = {p.name: games_under(p) for p in sorted(self.root.iterdir())} if self.root.is_dir() else {}
        self.games = {split: g for split, g in games.items() if g}
        if not self.games:
            raise ConfigError(f"no ALFWorld games ({GAME_FILE}) in split folders of {self.root}. {DATA_HINT}")
        super().__init__(env_id=ENV_ID, name=str(self.root), splits=list(self.games),
                         sizes={s: len(g) for s, g in self.games.items()},
                         description=f"ALFWorld games in {self.root}")
        preferred = [s for s in ("valid_unseen", "unseen", "test") if s in self.games]
        self.default_split = preferred[0] if preferred else self.splits[-1]

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids ``"<data folder>:<split>-<k>"``."""
        return [f"{self.root}:{t}" for t in super().task_ids(split, n, start)]


def game_path(task_id: Any) -> tuple[Path, str]:
    """The game file a task id names, and its split.

    Raises:
        EnvError: Malformed id, unknown split or an index past the end.
    """
    if not isinstance(task_id, str) or ":" not in task_id:
        raise EnvError(f"ALFWorld task ids look like '<data folder>:valid_unseen-3', got {task_id!r}")
    root, _, rest = task_id.rpartition(":")
    splits = [p.name for p in Path(root).iterdir() if p.is_dir()] if Path(root).is_dir() else []
    split, index = checked_task_id(rest, splits, f"ALFWorld ({root})")
    games = games_under(Path(root) / split)
    if index >= len(games):
        raise EnvError(f"{root}/{split} has {len(games)} games; {task_id!r} is past the end")
    return games[index], split


def _engine() -> tuple[Any, list[Any]]:
    try:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    except ImportError as e:
        raise DependencyNotInstalled("alfworld", "envs", f"ALFWorld's engine: {e}") from e
    return textworld, [AlfredDemangler, AlfredInfos]


class AlfworldEnv(TextGameEnv):
    """One ALFWorld game at a time in ALFWorld's engine (module docstring).

    Args:
        max_steps: Steps before truncation (ALFWorld's 50).
        task: A task id used when ``reset`` names none.
        render_mode: None or ``"ansi"``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4, "blocking_reset": True, "blocking_step": True}

    def __init__(self, max_steps: int = 50, task: str | None = None, render_mode: str | None = None):
        super().__init__(max_steps, task, render_mode)
        self.goal = ""
        self.steps_taken = 0
        self.is_won = False
        self._plan: list[str] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Load a game (``options={"task": "<data>:valid_unseen-3"}``)."""
        super().reset(seed=seed)
        task_id = (options or {}).get("task") or self.default_task
        if task_id is None:
            suite = AlfworldSuite(default_data_dir())
            task_id = suite.task_ids(suite.default_split, 1)[0]
        path, split = game_path(task_id)
        self.close()
        textworld, wrappers = _engine()
        infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
        with _ENGINE_LOCK:
            self.game = textworld.start(str(path), request_infos=infos, wrappers=wrappers)
            self.state = self.game.reset()
        feedback = str(self.state.feedback)
        self.goal = feedback.rpartition("Your task is to:")[2].strip()
        self.task_id, self.split, self.steps_taken, self.is_won = task_id, split, 0, False
        self._plan = None
        return self._emit(feedback.replace("-= Welcome to TextWorld, ALFRED! =-", "")), self._info(True)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Send one command; never raises for any action value."""
        if self.game is None:
            raise EnvError("call reset() before step()")
        text = normal_action(action).lower()
        valid = text in set(self.state.get("admissible_commands") or ())
        self.steps_taken += 1
        if valid:
            with _ENGINE_LOCK:
                self.state, _, _ = self.game.step(text)
            self._plan = None
            feedback = str(self.state.feedback)
        else:
            feedback = "Nothing happens."
        reward = 0.0
        if not self.is_won and self.state.get("won"):
            self.is_won, reward = True, 1.0
        truncated = not self.is_won and self.steps_taken >= self.max_steps
        return self._emit(feedback), reward, self.is_won, truncated, self._info(valid)

    def expert_action(self) -> str:
        """The next command of the engine's plan from the current state."""
        if self.game is None:
            raise EnvError("call reset() before asking the expert")
        if self._plan is None:
            # What TextWorld computes for info["policy_commands"], asked only when the expert is: Fast
            # Downward replans from scratch, which costs more than a step.
            with _ENGINE_LOCK:
                self._plan = [str(a) for a in self.game._pddl_state.replan(self.game._entity_infos)]
        return self._plan[0] if self._plan else "look"

    def close(self) -> None:
        """Close the game (under the engine's lock, like every call into it)."""
        with _ENGINE_LOCK:
            super().close()

    def _info(self, valid: bool) -> dict[str, Any]:
        return {"won": self.is_won, "goal": self.goal, "valid": valid,
                "admissible_actions": [str(c) for c in self.state.get("admissible_commands") or ()],
                "admissible_complete": True, "task_id": self.task_id, "split": self.split,
                "step": self.steps_taken}


def default_suite() -> AlfworldSuite:
    """The official data in ``$ALFWORLD_DATA``."""
    return AlfworldSuite(default_data_dir())


def load_suite(name: str) -> AlfworldSuite:
    """A suite by data folder path."""
    return AlfworldSuite(name)
