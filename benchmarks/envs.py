"""The third-party adapters: expert and default-policy success, and env steps per second through
mulligan against the package's own loop, on the same actions in the same run.

    python benchmarks/envs.py                         # ScienceWorld, TextWorld, ALFWorld engine
    python benchmarks/envs.py --only textworld --policy-tasks 0

The default policy is trained on the household only: on these envs it shows what a household-only
policy does there (almost nothing), not what the adapters allow. TextWorld games are generated
here (tw-simple); ALFWorld games are household tasks written as ALFWorld games (its official data
is not on PyPI).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from mulligan.envs import get_suite, make_env
from mulligan.runner.runner import RunConfig, run_suite

console = Console()


def success(env_id: str, suite: str | None, split: str, tasks: int, agent: str, out: Path, **env_options) -> str:
    """Success rate of an agent on the first tasks of a split, as 'x% (won/n)'."""
    if tasks <= 0:
        return "-"
    config = RunConfig(env=env_id, suite=suite, split=split, tasks=tasks, agent=agent, concurrency=2,
                       env_options=env_options, out=str(out / f"{env_id.split('/')[-1]}-{agent}"))
    summary = asyncio.run(run_suite(config)).summary
    won = round(summary["success_rate"] * summary["episodes"])
    return f"{summary['success_rate']:.0%} ({won}/{summary['episodes']})"


def expert_actions(env_id: str, task: str, **env_options: Any) -> list[str]:
    """The expert's winning actions on a task, played through mulligan."""
    env = make_env(env_id, **env_options)
    env.reset(options={"task": task})
    actions: list[str] = []
    try:
        while True:
            actions.append(env.unwrapped.expert_action())
            *_, terminated, truncated, info = env.step(actions[-1])
            if terminated or truncated:
                return actions
    finally:
        env.close()


def steps_per_s(play: Callable[[list[str]], None], episodes: list[list[str]]) -> float:
    """Steps per second of ``play`` over the given episodes' actions (resets not counted)."""
    total, steps = 0.0, 0
    for actions in episodes:
        total += play(actions)
        steps += len(actions)
    return steps / total


def timed(step: Callable[[str], Any], actions: list[str]) -> float:
    started = time.perf_counter()
    for a in actions:
        step(a)
    return time.perf_counter() - started


def mulligan_play(env_id: str, task: str, **env_options) -> Callable[[list[str]], float]:
    def play(actions: list[str]) -> float:
        env = make_env(env_id, **env_options)
        env.reset(options={"task": task})
        try:
            return timed(env.step, actions)
        finally:
            env.close()
    return play


def package_play(path: Path, infos: Any, wrappers: list[Any] = ()) -> Callable[[list[str]], float]:
    """The package's own loop over a TextWorld-engine game: ``textworld.start``, ``reset``, ``step``."""
    import textworld as tw

    def play(actions: list[str]) -> float:
        game = tw.start(str(path), request_infos=infos, wrappers=list(wrappers))
        game.reset()
        try:
            return timed(game.step, actions)
        finally:
            game.close()
    return play


def engine_speeds(env_id: str, episodes: list[tuple[str, list[str]]],
                  package: Callable[[str], Callable[[list[str]], float]]) -> tuple[float, float]:
    """Mean steps/s through mulligan and through the package's loop, on each episode's actions."""
    ours = sum(steps_per_s(mulligan_play(env_id, t), [a]) for t, a in episodes) / len(episodes)
    theirs = sum(steps_per_s(package(t), [a]) for t, a in episodes) / len(episodes)
    return ours, theirs


def scienceworld(args, out: Path) -> tuple[list[str], list[str]]:
    from scienceworld import ScienceWorldEnv

    env_id = "mulligan/ScienceWorld-v0"
    tasks = get_suite(env_id).task_ids("test", args.speed_tasks)
    episodes = [(t, expert_actions(env_id, t, admissible=True)) for t in tasks]
    bare_sim = ScienceWorldEnv("", envStepLimit=10**6)

    def bare(task: str) -> Callable[[list[str]], float]:
        from mulligan.envs.adapters.scienceworld import split_task_id, variation_of

        def play(actions: list[str]) -> float:
            name, split, index = split_task_id(task)
            bare_sim.load(name, variation_of(name, split, index), "")
            bare_sim.reset()
            return timed(bare_sim.step, actions)
        return play

    ours = sum(steps_per_s(mulligan_play(env_id, t, admissible=True, expert=False), [a]) for t, a in episodes)
    theirs = sum(steps_per_s(bare(t), [a]) for t, a in episodes)
    bare_sim.close()
    return [
        "ScienceWorld", f"test, {args.expert_tasks} (types in turn)",
        success(env_id, None, "test", args.expert_tasks, "expert", out, admissible=False),
        success(env_id, None, "test", args.policy_tasks, "react", out, expert=False),
        f"{ours / len(episodes):.1f}", f"{theirs / len(episodes):.1f}", f"{ours / theirs:.2f}",
    ], [f"ScienceWorld speed on {len(episodes)} tasks' gold actions; mulligan lists admissible actions like "
        "the package's info['valid']"]


def textworld(args, out: Path) -> tuple[list[str], list[str]]:
    import textworld as tw

    from mulligan.envs.adapters.textworld import game_path
    from mulligan.envs.adapters.textworld_make import make_suite

    env_id = "mulligan/TextWorld-v0"
    root = out / "tw-games"
    make_suite(root, challenge="tw-simple", sizes={"train": 1, "test": max(args.expert_tasks, args.speed_tasks)},
               seed=100)
    suite = get_suite(env_id, str(root))
    tasks = suite.task_ids("test", args.speed_tasks)
    episodes = [(t, expert_actions(env_id, t)) for t in tasks]
    infos = tw.EnvInfos(objective=True, admissible_commands=True, policy_commands=True, won=True, lost=True,
                        score=True, max_score=True, extras=["walkthrough"])

    ours, theirs = engine_speeds(env_id, episodes, lambda t: package_play(game_path(t)[0], infos))
    return [
        "TextWorld", f"tw-simple test, {args.expert_tasks}",
        success(env_id, str(root), "test", args.expert_tasks, "expert", out),
        success(env_id, str(root), "test", args.policy_tasks, "react", out),
        f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}",
    ], []


def alfworld(args, out: Path) -> tuple[list[str], list[str]]:
    import textworld as tw

    from mulligan.envs.adapters.alfworld import _engine, game_path
    from mulligan.envs.adapters.alfworld_games import write_household_games

    env_id = "mulligan/ALFWorld-v0"
    root = out / "alfworld-games"
    write_household_games(root, [f"unseen-{i}" for i in range(max(args.expert_tasks, args.speed_tasks))])
    tasks = get_suite(env_id, str(root)).task_ids("unseen", args.speed_tasks)
    episodes = [(t, expert_actions(env_id, t)) for t in tasks]
    _, wrappers = _engine()
    infos = tw.EnvInfos(won=True, admissible_commands=True, policy_commands=True, extras=["gamefile"])

    ours, theirs = engine_speeds(env_id, episodes, lambda t: package_play(game_path(t)[0], infos, wrappers))
    return [
        "ALFWorld engine", f"household unseen as ALFWorld games, {args.expert_tasks}",
        success(env_id, str(root), "unseen", args.expert_tasks, "expert", out),
        success(env_id, str(root), "unseen", args.policy_tasks, "react", out),
        f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}",
    ], ["ALFWorld's expert is its engine's planner (Fast Downward), replanning every step"]


ADAPTERS = {"scienceworld": scienceworld, "textworld": textworld, "alfworld": alfworld}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(ADAPTERS), action="append", help="Adapters to measure (repeatable).")
    parser.add_argument("--expert-tasks", type=int, default=30, help="Tasks the expert plays per adapter.")
    parser.add_argument("--policy-tasks", type=int, default=10, help="Tasks the default policy plays (0: skip).")
    parser.add_argument("--speed-tasks", type=int, default=5, help="Tasks whose expert actions are timed.")
    args = parser.parse_args()
    table = Table(title=f"Adapters ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    for col in ("env", "tasks", "expert success", "default policy (household-only)", "steps/s mulligan",
                "steps/s package", "ratio"):
        table.add_column(col, justify="left" if col in ("env", "tasks") else "right")
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(ADAPTERS):
            row, note = ADAPTERS[name](args, Path(tmp))
            table.add_row(*row)
            notes += note
    console.print(table)
    for note in notes:
        console.print(f"note: {note}")


if __name__ == "__main__":
    main()
