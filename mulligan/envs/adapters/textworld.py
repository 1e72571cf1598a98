"""``mulligan/TextWorld-v0``: TextWorld games (the ``textworld`` package) as a text env.

A suite is a folder whose subfolders are the splits (``train/``, ``valid/``, ``test/``), each
holding games (``.z8`` or ``.ulx``) with the ``.json`` TextWorld writes beside each; task
``"test-3"`` is the fourth game of ``test/`` by file name. ``mulligan textworld make DIR``
generates such a folder with ``tw-make`` (:mod:`mulligan.envs.adapters.textworld_make`).

``info`` carries TextWorld's ``admissible_commands`` as ``admissible_actions`` (complete: the
game's logic generates them), ``won`` and ``lost``; ``valid`` is whether the action was among
the admissible commands. The reward is the score's change over the game's maximum score. The
expert is TextWorld's ``policy_commands``: the commands that win from the current state, so it
recovers from detours. Games keep native interpreter state that cannot be deep-copied, so
``clone()`` replays the episode's actions on a fresh copy of the game (tree search).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mulligan.envs.adapters.textgame import TextGameEnv, normal_action
from mulligan.envs.suites import IndexedSuite, checked_task_id
from mulligan.errors import ConfigError, DependencyNotInstalled, EnvError

ENV_ID = "mulligan/TextWorld-v0"
GAME_SUFFIXES = (".z8", ".ulx")
# Jericho's input buffer: it encodes a command as UTF-8 and cuts it at 198 bytes, and its warning then
# decodes the cut bytes, which raises UnicodeDecodeError when the cut splits a character.
INTERPRETER_INPUT_BYTES = 197


def default_games_dir() -> Path:
    """``$MULLIGAN_TEXTWORLD_GAMES``, else ``$MULLIGAN_HOME/textworld/games`` (``~/.cache/mulligan/...``)."""
    if os.environ.get("MULLIGAN_TEXTWORLD_GAMES"):
        return Path(os.environ["MULLIGAN_TEXTWORLD_GAMES"])
    home = Path(os.environ.get("MULLIGAN_HOME") or Path.home() / ".cache" / "mulligan")
    return home / "textworld" / "games"


def import_textworld() -> Any:
    try:
        import textworld
    except ImportError as e:
        raise DependencyNotInstalled("textworld", "envs", "TextWorld games") from e
    return textworld


def games_in(folder: Path) -> list[Path]:
    """The game files of a folder, by name."""
    return sorted(p for p in folder.iterdir() if p.suffix in GAME_SUFFIXES) if folder.is_dir() else []


class TextWorldSuite(IndexedSuite):
    """The games of a folder; its subfolders with games are the splits (module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(f"no TextWorld games at {self.root}: generate some with "
                              f"`mulligan textworld make {self.root}` or pass --suite FOLDER")
        self.games = {p.name: games_in(p) for p in sorted(self.root.iterdir()) if games_in(p)}
        if not self.games:
            raise ConfigError(f"{self.root} has no split subfolders with .z8/.ulx games "
                              "(expected e.g. train/, valid/, test/)")
        super().__init__(env_id=ENV_ID, name=str(self.root), splits=list(self.games),
                         sizes={s: len(g) for s, g in self.games.items()},
                         description=f"TextWorld games in {self.root}; task <split>-<k> is the k-th game of <split>/.")
        self.default_split = "test" if "test" in self.games else self.splits[-1]

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids ``"<folder>:<split>-<k>"`` (the folder makes them resolvable by the env alone)."""
        return [f"{self.root}:{t}" for t in super().task_ids(split, n, start)]


def game_path(task_id: Any) -> tuple[Path, str]:
    """The game file a task id names, and its split.

    Raises:
        EnvError: Malformed id, unknown split or index, or the game's ``.json`` is missing.
    """
    if not isinstance(task_id, str) or ":" not in task_id:
        raise EnvError(f"TextWorld task ids look like '<games folder>:test-3', got {task_id!r}")
    root, _, rest = task_id.rpartition(":")
    split, index = checked_task_id(rest, [p.name for p in Path(root).iterdir() if p.is_dir()]
                                   if Path(root).is_dir() else [], f"TextWorld ({root})")
    games = games_in(Path(root) / split)
    if index >= len(games):
        raise EnvError(f"{root}/{split} has {len(games)} games; {task_id!r} is past the end")
    game = games[index]
    if not game.with_suffix(".json").is_file():
        raise EnvError(f"{game} has no {game.with_suffix('.json').name} beside it: TextWorld needs it to tell "
                       "won, lost, the objective and admissible commands (it would answer won=None silently); "
                       "copy it from where the game was made, or regenerate with `mulligan textworld make`")
    return game, split


class TextWorldEnv(TextGameEnv):
    """One TextWorld game at a time (module docstring).

    Args:
        max_steps: Steps before truncation.
        task: A task id used when ``reset`` names none (default: the first game of the default suite).
        render_mode: None or ``"ansi"``.
    """

    def __init__(self, max_steps: int = 100, task: str | None = None, render_mode: str | None = None):
        super().__init__(max_steps, task, render_mode)
        self.history: list[str] = []
        self.score = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a game (``options={"task": "<folder>:test-3"}``)."""
        super().reset(seed=seed)
        task_id = (options or {}).get("task") or self.default_task or self._first_task()
        path, split = game_path(task_id)
        self.close()
        tw = import_textworld()
        infos = tw.EnvInfos(objective=True, admissible_commands=True, policy_commands=True, won=True, lost=True,
                            score=True, max_score=True, extras=["walkthrough"])
        self.game = tw.start(str(path), request_infos=infos)
        self.state = self.game.reset()
        if self.state.get("won") is None:
            raise EnvError(f"TextWorld gives no 'won' for {path}: its .json does not match the game")
        self.task_id, self.split, self.history, self.score = task_id, split, [], 0.0
        return self._emit(self.state.feedback), self._info(True)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Send one command; never raises for any action value."""
        if self.game is None:
            raise EnvError("call reset() before step()")
        text = normal_action(action)
        valid = text.lower() in {c.lower() for c in self.state.get("admissible_commands") or ()}
        self.history.append(text)
        self.state, score, done = self.game.step(_for_interpreter(text))
        max_score = float(self.state.get("max_score") or 1)
        reward, self.score = (float(score) - self.score) / max_score, float(score)
        won, lost = bool(self.state.get("won")), bool(self.state.get("lost"))
        terminated = won or lost or bool(done)
        truncated = not terminated and len(self.history) >= self.max_steps
        return self._emit(self.state.feedback or "(nothing)"), reward, terminated, truncated, self._info(valid)

    def expert_action(self) -> str:
        """The first of TextWorld's commands that win from here (the walkthrough's next one as a fallback)."""
        if self.state is None:
            raise EnvError("call reset() before asking the expert")
        policy = self.state.get("policy_commands") or []
        if policy:
            return str(policy[0])
        walkthrough = self.state.get("extra.walkthrough") or []
        return str(walkthrough[len(self.history)]) if len(self.history) < len(walkthrough) else "look"

    def clone(self) -> TextWorldEnv:
        """A fresh game in the same state: the same task reset, then this episode's actions replayed."""
        twin = TextWorldEnv(self.max_steps, self.default_task, self.render_mode)
        if self.game is not None:
            twin.reset(options={"task": self.task_id})
            for action in self.history:
                twin.step(action)
        return twin

    def _emit(self, text: str) -> str:
        # A .z8 game's output ends with the prompt and a status bar ("> ... -= Kitchen =-7/9").
        text = re.sub(r"\s*-= [^\n]*=-\s*\d+/\d+\s*$", "", str(text))
        return super()._emit(re.sub(r"\n\s*>\s*$", "", text.rstrip()))

    def _first_task(self) -> str:
        suite = TextWorldSuite(default_games_dir())
        return suite.task_ids(suite.default_split, 1)[0]

    def _info(self, valid: bool) -> dict[str, Any]:
        state = self.state
        return {"won": bool(state.get("won")), "lost": bool(state.get("lost")),
                "goal": str(state.get("objective") or ""), "valid": valid,
                "admissible_actions": [str(c) for c in state.get("admissible_commands") or ()],
                "admissible_complete": True, "score": self.score, "task_id": self.task_id, "split": self.split,
                "step": len(self.history)}


def _for_interpreter(text: str) -> str:
    """A command as the game's interpreter can read it: ASCII (the Z-machine reads no other characters;
    the rest become "?"), at most :data:`INTERPRETER_INPUT_BYTES` long."""
    return text.encode("ascii", "replace").decode("ascii")[:INTERPRETER_INPUT_BYTES]


def default_suite() -> TextWorldSuite:
    """The games in :func:`default_games_dir`."""
    return TextWorldSuite(default_games_dir())


def load_suite(name: str) -> TextWorldSuite:
    """A suite by folder path."""
    return TextWorldSuite(name)
