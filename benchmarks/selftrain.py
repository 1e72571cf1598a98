"""Self-training on the household: STaR, Re-ReST, STeP and Agent-R from one bootstrap policy.

Every method starts from the same bootstrap checkpoint (the embedded default policy unless
``--model`` names another), runs ``--iterations`` rounds of collect -> export -> fine-tune ->
evaluate, and is evaluated greedily on the same ``--eval-tasks`` unseen tasks. The bootstrap is
evaluated once, as iteration 0 of every method. Prints one table (method, iteration, unseen
success, recovery rate, CL/CS, pass@k, diversity, rows, wall time) and writes
``OUT/metrics.jsonl`` and ``OUT/metrics.png``.

Runs resume: rerun the same command after an interruption and finished stages are skipped.

    python benchmarks/selftrain.py                      # the full run: 3 iterations, 200 + 200 tasks
    python benchmarks/selftrain.py --iterations 1 --train-tasks 4 --eval-tasks 4 --samples 2  # smoke
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from rich.console import Console

from mulligan.errors import MulliganError
from mulligan.training.finetune import resolve_checkpoint
from mulligan.training.methods import METHODS, SelfTrainConfig
from mulligan.training.selftrain import Stages, evaluate, selftrain
from mulligan.training.selftrain_report import metrics_table, write_metrics

console = Console(width=120)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--train-tasks", type=int, default=200)
    parser.add_argument("--eval-tasks", type=int, default=200)
    parser.add_argument("--methods", default=",".join(METHODS), help="Comma-separated: star,rerest,step,agentr.")
    parser.add_argument("--samples", type=int, default=4, help="Samples per training task (k of pass@k).")
    parser.add_argument("--model", default="default", help="Bootstrap checkpoint folder, or 'default'.")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-selftrain"))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=None, help="Env step cap (default: the env's).")
    parser.add_argument("--quiet", action="store_true", help="No per-stage progress.")
    parser.add_argument("--admissible", default="off", choices=["off", "nearest", "likelihood"],
                        help="Keep the policy's actions among the admissible ones, in collection and evaluation.")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    console.print(f"machine: {machine()}")
    started = time.perf_counter()
    bootstrap = resolve_checkpoint(args.model)
    progress = None if args.quiet else console

    def config(method: str) -> SelfTrainConfig:
        return SelfTrainConfig(
            method=method, iterations=args.iterations, model=str(bootstrap), out=str(args.out / method),
            train_tasks=args.train_tasks, eval_tasks=args.eval_tasks, samples=args.samples,
            concurrency=args.concurrency, max_steps=args.max_steps, eval_bootstrap=False,
            admissible=args.admissible,
        )

    try:
        base = config(methods[0])
        result = Stages(args.out / "bootstrap").run(
            "eval", lambda: evaluate(base, bootstrap, args.out / "bootstrap" / "eval", progress))
        records = [{"method": "bootstrap", "iteration": 0, "success": result["success"],
                    "recovery": result["recovery"], "wall_s": result["wall_s"]}]
        for method in methods:
            records += selftrain(config(method), resume=True, console=progress)
    except MulliganError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    note = write_metrics(args.out, records)
    title = (f"Self-training on household from {bootstrap.name}: {args.iterations} iterations, "
             f"{args.train_tasks} train tasks x {args.samples} samples, {args.eval_tasks} unseen tasks")
    console.print(metrics_table(records, title=title))
    console.print(f"total wall time {time.perf_counter() - started:.0f} s this invocation; "
                  f"metrics in {args.out / 'metrics.jsonl'}")
    if note:
        console.print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
