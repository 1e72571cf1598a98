"""``mulligan textworld make``: TextWorld games generated locally with ``tw-make``, in disjoint splits.

Each game has its own seed (``seed``, ``seed + 1``, ... across all splits, so no seed is used
twice) and is kept only if no game made before it is the same game (same world and quests, by a
hash of its ``.json`` without the metadata that names the seed): no test game is a train game.
Games already in the folder are kept, so an interrupted ``make`` resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from mulligan.errors import ConfigError, DependencyNotInstalled, EnvError

CHALLENGES = ("tw-simple", "tw-coin_collector", "tw-treasure_hunter", "tw-cooking", "custom")
DEFAULT_SETTINGS = {
    "tw-simple": "rewards=dense goal=detailed",
    "tw-coin_collector": "level=5",  # level 1 is one room and one coin: every seed makes the same game
    "tw-treasure_hunter": "level=1",
    "tw-cooking": "recipe=1 take=1 go=1",
    "custom": "world_size=5 nb_objects=10 quest_length=5",
}
SPLITS = ("train", "valid", "test")


def settings_args(settings: str) -> list[str]:
    """``"rewards=dense goal=detailed"`` -> ``["--rewards", "dense", "--goal", "detailed"]``; a bare
    number is a level (``"5"`` -> ``--level 5``), a bare word a flag (``"cook"`` -> ``--cook``)."""
    args: list[str] = []
    for token in settings.split():
        key, sep, value = token.partition("=")
        if not sep and key.isdigit():
            args += ["--level", key]
        elif not sep:
            args.append("--" + key.replace("_", "-"))
        else:
            args += ["--" + key.replace("_", "-"), value]
    return args


def tw_make() -> str:
    """The ``tw-make`` script of the running Python's environment."""
    beside = Path(sys.executable).parent / "tw-make"
    found = str(beside) if beside.exists() else shutil.which("tw-make")
    if not found:
        raise DependencyNotInstalled("textworld", "envs", "tw-make generates the games")
    return found


def fingerprint(game_json: Path) -> str:
    """The identity of a game: a hash of its world and quests (not of the seed that made it)."""
    data = json.loads(game_json.read_text())
    data.pop("metadata", None)
    return hashlib.blake2b(json.dumps({k: data.get(k) for k in ("world", "quests")}, sort_keys=True).encode(),
                           digest_size=16).hexdigest()


def make_suite(
    out: str | Path,
    *,
    challenge: str = "tw-simple",
    level: str = "",
    sizes: dict[str, int],
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
    max_tries: int = 20,
) -> dict[str, int]:
    """Generate (or complete) a suite folder ``out/<split>/<game>.z8`` (+ ``.json``).

    Args:
        out: The suite folder.
        challenge: One of :data:`CHALLENGES`.
        level: Settings of the challenge (see :func:`settings_args`); "" uses :data:`DEFAULT_SETTINGS`.
        sizes: Games per split, e.g. ``{"train": 20, "valid": 5, "test": 10}``.
        seed: The first seed.
        progress: Called with a line per game.
        max_tries: Seeds tried per game before giving up on finding a game not made yet.

    Returns:
        Games per split now in the folder.

    Raises:
        ConfigError: Unknown challenge or bad settings (tw-make's message).
        EnvError: No new game after ``max_tries`` seeds (the settings allow too few distinct games).
    """
    if challenge not in CHALLENGES:
        raise ConfigError(f"unknown TextWorld challenge {challenge!r}; use one of {', '.join(CHALLENGES)}")
    out = Path(out)
    args = settings_args(level or DEFAULT_SETTINGS[challenge])
    seen: set[str] = set()
    next_seed = seed
    made: dict[str, int] = {}
    for split, size in sizes.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob("*.z8"))
        for game in existing:
            seen.add(fingerprint(game.with_suffix(".json")))
            next_seed = max(next_seed, int(game.stem.rpartition("-s")[2]) + 1)
        count = len(existing)
        while count < size:
            for _ in range(max_tries):
                game = folder / f"{challenge}-s{next_seed:05d}.z8"
                _run_tw_make(challenge, args, next_seed, game)
                next_seed += 1
                key = fingerprint(game.with_suffix(".json"))
                if key not in seen:
                    seen.add(key)
                    count += 1
                    progress(f"{split} {count}/{size}: {game.name}")
                    break
                for leftover in (game, game.with_suffix(".json"), game.with_suffix(".ni")):
                    leftover.unlink(missing_ok=True)
            else:
                raise EnvError(f"{max_tries} seeds in a row made games already made: {challenge} {level!r} has too "
                               "few distinct games for these sizes")
        made[split] = count
    return made


def _run_tw_make(challenge: str, args: list[str], seed: int, game: Path) -> None:
    cmd = [tw_make(), challenge, *args, "--seed", str(seed), "--output", str(game), "-f", "--silent"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0 or not game.exists() or not game.with_suffix(".json").exists():
        message = (done.stderr or done.stdout).strip().splitlines()
        raise ConfigError(f"tw-make {challenge} {' '.join(args)} failed: {message[-1] if message else done.returncode}")
