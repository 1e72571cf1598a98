"""Household benchmarks: framework overhead, batched throughput, default-policy quality.

Prints one table per part. Compare ratios taken in the same run; absolute times on a shared
machine are noise.

    python benchmarks/household.py                  # all parts
    python benchmarks/household.py --part overhead  # one part (overhead, throughput, cache, policy)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mulligan.envs import get_suite, make_env
from mulligan.runner.runner import RunConfig, run_suite

HOUSEHOLD = "mulligan/Household-v0"
console = Console()


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def bench_overhead(tasks: int = 100, turns: int = 30) -> None:
    """Per-step time of the full agent loop (scripted backend) against a bare env loop."""
    actions = (["look", "inventory", "examine nothing 1"] * turns)[:turns]
    ids = get_suite(HOUSEHOLD).task_ids("seen", tasks)

    def bare() -> tuple[float, int]:
        steps, started = 0, time.perf_counter()
        for tid in ids:
            env = make_env(HOUSEHOLD)
            env.reset(options={"task": tid})
            for a in actions:
                env.step(a)
                steps += 1
            env.close()
        return time.perf_counter() - started, steps

    def framework() -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "script.json"
            script.write_text(json.dumps([f"Thought: t\nAction: {a}" for a in actions]))
            config = RunConfig(env=HOUSEHOLD, split="seen", tasks=tasks, agent="react", model=f"scripted:{script}",
                               concurrency=1, max_steps=turns + 1, out=str(Path(tmp) / "run"))
            started = time.perf_counter()
            result = asyncio.run(run_suite(config))
            wall = time.perf_counter() - started
            return wall, int(result.summary["avg_steps"] * result.summary["episodes"])

    bare(), framework()  # warm up imports and caches
    b_s, b_n = bare()
    f_s, f_n = framework()
    table = Table(title=f"Framework overhead per step ({tasks} episodes x {turns} steps, scripted backend)")
    for col in ("loop", "steps", "wall s", "us/step", "ratio"):
        table.add_column(col, justify="right")
    table.add_row("bare env loop", str(b_n), f"{b_s:.2f}", f"{b_s / b_n * 1e6:.0f}", "1.00")
    table.add_row("mulligan runner", str(f_n), f"{f_s:.2f}", f"{f_s / f_n * 1e6:.0f}", f"{(f_s / f_n) / (b_s / b_n):.2f}")
    console.print(table)


def _policy_run(tasks: int, concurrency: int, split: str = "unseen", start: int = 0, admissible: str = "off",
                model: str = "default") -> dict:
    from mulligan.training.default_policy import register_default_policy

    register_default_policy()
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(env=HOUSEHOLD, split=split, tasks=tasks, start=start, agent="react", model=model,
                           concurrency=concurrency, out=tmp, agent_options={"admissible": admissible})
        return asyncio.run(run_suite(config)).summary


def bench_throughput(tasks: int = 32) -> None:
    """Episodes/s of the default policy with 1 vs 16 episodes in flight (transformers backend)."""
    from mulligan.training.default_policy import ensure_default_policy

    ensure_default_policy()
    rows = [(c, _policy_run(tasks, c)) for c in (1, 16)]
    base = rows[0][1]["episodes_per_s"]
    table = Table(title=f"Default policy throughput, {tasks} unseen episodes, transformers backend (CPU)")
    for col in ("in flight", "episodes/s", "success", "wall s", "ratio"):
        table.add_column(col, justify="right")
    for c, s in rows:
        table.add_row(str(c), f"{s['episodes_per_s']:.3f}", f"{s['success_rate']:.1%}", f"{s['wall_s']:.1f}",
                      f"{s['episodes_per_s'] / base:.2f}")
    console.print(table)


def bench_cache(tasks: int = 32) -> None:
    """Episodes/s of the default policy with the prefix cache off and on, same tasks, 16 in flight."""
    from mulligan.training.default_policy import ensure_default_policy

    ensure_default_policy()
    rows = [(label, _policy_run(tasks, 16, admissible="nearest", model=f"default?prefix_cache={n}"))
            for label, n in (("off", 0), ("on (64)", 64))]
    base = rows[0][1]["episodes_per_s"]
    table = Table(title=f"Prefix cache across turns, {tasks} unseen episodes, 16 in flight, transformers backend (CPU)")
    for col in ("prefix cache", "episodes/s", "success", "avg steps", "wall s", "ratio"):
        table.add_column(col, justify="right")
    for label, s in rows:
        table.add_row(label, f"{s['episodes_per_s']:.3f}", f"{s['success_rate']:.1%}", f"{s['avg_steps']:.1f}",
                      f"{s['wall_s']:.1f}", f"{s['episodes_per_s'] / base:.2f}")
    console.print(table)


def bench_policy(tasks: int = 200, splits: tuple[str, ...] = ("unseen",), modes: tuple[str, ...] = ("off",),
                 model: str = "default") -> None:
    """Policy success on `splits` with each `admissible` mode (the default policy, or a checkpoint
    folder that `mulligan bootstrap --rebuild` wrote), and its build time."""
    from mulligan.training.finetune import resolve_checkpoint

    path = resolve_checkpoint(model)
    meta = json.loads((path / "meta.json").read_text()) if (path / "meta.json").exists() else {}
    described = f"{meta.get('architecture', '?')}, {meta.get('parameters', 0):,} parameters, recipe {meta.get('digest', '?')}"
    table = Table(title=f"Policy {model if model != 'default' else 'default'} ({described}), greedy, 16 in flight")
    for col in ("split", "admissible", "tasks", "success", "avg steps", "invalid actions", "wall s"):
        table.add_column(col, justify="right")
    for split in splits:
        for mode in modes:
            s = _policy_run(tasks, 16, split=split, admissible=mode,
                            model="default" if model == "default" else f"transformers:{path}")
            table.add_row(split, mode, str(s["episodes"]), f"{s['success_rate']:.1%}", f"{s['avg_steps']:.1f}",
                          f"{s['invalid_action_rate']:.1%}", f"{s['wall_s']:.0f}")
    console.print(table)
    if "build_s" in meta:
        console.print(f"build time: {meta['build_s']:.0f} s (recorded when the policy was built, in {path})")


PARTS = {"overhead": bench_overhead, "throughput": bench_throughput, "cache": bench_cache, "policy": bench_policy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("--splits", default="unseen", help="Comma-separated splits for the policy part.")
    parser.add_argument("--tasks", type=int, default=200, help="Tasks per split for the policy part.")
    parser.add_argument("--model", default="default", help="Policy of the policy part: 'default' or a checkpoint folder.")
    parser.add_argument("--admissible", default="off",
                        help="Comma-separated `admissible` modes to compare in the policy part (off,nearest,likelihood).")
    args = parser.parse_args()
    console.print(f"machine: {machine()}")
    for name in args.part or list(PARTS):
        if name == "policy":
            bench_policy(args.tasks, tuple(args.splits.split(",")), tuple(args.admissible.split(",")), args.model)
        else:
            PARTS[name]()


if __name__ == "__main__":
    sys.exit(main())
