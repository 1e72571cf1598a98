"""Reflexion at test time: success after trials 1..K with the default policy and the env reflector.

Each task gets up to ``--trials`` trials; after a failed trial the env-grounded reflector writes a
lesson from what the agent observed, and the next trial sees the last three. Success after trial t
is cumulative: a task counts once it has won in any of its first t trials. CS is the share of
failed trials whose next trial won (Confidence v.s. Critique's wrong-to-correct rate).

    python benchmarks/reflexion.py                                # 200 unseen tasks, 5 trials
    python benchmarks/reflexion.py --ablation                     # and retries without lessons
    python benchmarks/reflexion.py --tasks 4 --trials 2           # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run_suite
from mulligan.training.finetune import resolve_checkpoint

console = Console(width=120)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--split", default="unseen")
    parser.add_argument("--model", default="default", help="Checkpoint folder, or 'default'.")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-reflexion"))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--admissible", default="off", choices=["off", "nearest", "likelihood"],
                        help="Keep actions among the env's admissible ones (agent option `admissible`).")
    parser.add_argument("--ablation", action="store_true",
                        help="Also run Reflexion's ablation: the same trials without lessons, retries sampled.")
    parser.add_argument("--retry-temperature", type=float, default=0.5,
                        help="Sampling temperature of the ablation's retries (its first trial is greedy).")
    return parser.parse_args()


def run_arm(args: argparse.Namespace, model: Path, name: str, **options) -> tuple[dict[str, list[bool]], dict]:
    """Run one arm into ``args.out/name`` (resuming); returns each task's trial outcomes and the summary."""
    out = args.out / name
    config = RunConfig(split=args.split, tasks=args.tasks, agent="reflexion", model=str(model),
                       concurrency=args.concurrency, max_steps=args.max_steps, out=str(out),
                       agent_options={"trials": args.trials, "reflector": "env", "admissible": args.admissible,
                                      **options})
    result = asyncio.run(run_suite(config, resume=True))
    trials: dict[str, list[bool]] = defaultdict(list)
    for t in sorted(RunDir(out).trajectories(), key=lambda t: t.trial):
        trials[t.task_id].append(t.success)
    return trials, result.summary


def after_trial(trials: dict[str, list[bool]], k: int) -> tuple[int, int, int]:
    """(tasks tried at trial k, won at trial k, won within the first k+1 trials)."""
    tried = [ts for ts in trials.values() if len(ts) > k]  # every trial after the first follows a failure
    return len(tried), sum(ts[k] for ts in tried), sum(any(ts[: k + 1]) for ts in trials.values())


def main() -> int:
    args = parse_args()
    console.print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    model = resolve_checkpoint(args.model)
    arms = {"lessons": run_arm(args, model, "lessons")}
    if args.ablation:
        arms["no lessons"] = run_arm(args, model, "no-lessons", memory_size=0,
                                     retry_temperature=args.retry_temperature)
    n = len(arms["lessons"][0])
    title = (f"Reflexion on household {args.split}: {n} tasks, {model.name}, env reflector, admissible={args.admissible}"
             + (f"; no lessons = retries sampled at T={args.retry_temperature} without lessons" if args.ablation else ""))
    table = Table(title=title)
    table.add_column("trial", justify="right")
    for arm in arms:
        for col in ("tried", "won", "success after trial", "CS"):
            table.add_column(f"{arm}: {col}" if len(arms) > 1 else col, justify="right")
    for k in range(args.trials):
        row = [str(k + 1)]
        for trials, _ in arms.values():
            tried, won, cumulative = after_trial(trials, k)
            cs = f"{won / tried:.1%}" if k and tried else "-"
            row += [str(tried), str(won), f"{cumulative / n:.1%} ({cumulative})", cs]
        table.add_row(*row)
    console.print(table)
    for arm, (_, summary) in arms.items():
        console.print(f"{arm}: wall time {summary['wall_s']:.0f} s, {summary['trajectories']} episodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
