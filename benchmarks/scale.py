"""Scale-out benchmarks: vLLM against transformers, Ray against the in-process runner, and a sizing.

Prints one table per part. Compare ratios taken in the same run; absolute times on a shared
machine are noise.

    python benchmarks/scale.py                    # all parts
    python benchmarks/scale.py --part vllm        # vLLM (cpu build) vs transformers, default policy
    python benchmarks/scale.py --part overhead    # Ray vs in process, scripted backend, per step
    python benchmarks/scale.py --part nodes       # Ray with 1 and 2 worker nodes, default policy
    python benchmarks/scale.py --part sizing      # the driver's write cost and a 10,000-task sizing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mulligan.runner.runner import RunConfig, run_suite

HOUSEHOLD = "mulligan/Household-v0"
console = Console()
MEASURED: dict[str, float] = {}
"""Per-episode figures the sizing part reuses when the parts run in one process."""
POLICY: list[str] = []
"""``--policy PATH``: the checkpoint the model parts run (default: the embedded default policy)."""


def policy() -> Path:
    if POLICY:
        return Path(POLICY[0])
    from mulligan.training.default_policy import ensure_default_policy

    return ensure_default_policy()


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {load:.1f}"


def _run(config: RunConfig, llm=None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = config.model_copy(update={"out": str(Path(tmp) / "run")})
        started = time.perf_counter()
        summary = asyncio.run(run_suite(config, llm=llm)).summary
        summary["bench_wall_s"] = time.perf_counter() - started
        return summary


def _table(title: str, cols: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for col in cols:
        table.add_column(col, justify="right")
    return table


def bench_vllm(tasks: int = 64, concurrency: int = 32) -> None:
    """The default policy on the same tasks through transformers and through vLLM (cpu build)."""
    from mulligan.llm.transformers_backend import TransformersLLM
    from mulligan.llm.vllm_backend import VLLMBackend

    path = policy()
    config = RunConfig(env=HOUSEHOLD, split="unseen", tasks=tasks, agent="react", concurrency=concurrency,
                       agent_options={"admissible": "nearest"})
    rows = []
    for label, build in (("transformers", lambda: TransformersLLM(path, device="cpu")),
                         ("vllm (cpu)", lambda: VLLMBackend(path))):
        started = time.perf_counter()
        llm = build()
        load_s = time.perf_counter() - started
        try:
            summary = _run(config, llm)
        finally:
            llm.close()
        rows.append((label, load_s, summary))
    base = rows[0][2]["episodes_per_s"]
    table = _table(f"Default policy, {tasks} unseen tasks, {concurrency} in flight, admissible=nearest, greedy",
                   ("backend", "episodes/s", "success", "avg steps", "tokens", "wall s", "load s", "ratio"))
    for label, load_s, s in rows:
        table.add_row(label, f"{s['episodes_per_s']:.3f}", f"{s['success_rate']:.1%} ({s['successes']})",
                      f"{s['avg_steps']:.1f}", f"{s['tokens']['total']:,}", f"{s['wall_s']:.1f}", f"{load_s:.0f}",
                      f"{s['episodes_per_s'] / base:.2f}")
    console.print(table)
    s = rows[0][2]
    MEASURED.update(prompt_tokens_per_episode=s["tokens"]["prompt"] / s["episodes"],
                    completion_tokens_per_episode=s["tokens"]["completion"] / s["episodes"],
                    steps_per_episode=s["avg_steps"])


def _cluster(nodes: int):
    from mulligan.runner.ray_executor import start_local_cluster

    return start_local_cluster(nodes)


def _close(cluster) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()


def _marginal(config: RunConfig, small: int, large: int) -> tuple[float, int, float]:
    """Seconds per step beyond the fixed cost (startup), from a small and a large run of one config."""
    a = _run(config.model_copy(update={"tasks": small}))
    b = _run(config.model_copy(update={"tasks": large}))
    steps = lambda s: s["avg_steps"] * s["trajectories"]  # noqa: E731
    per_step = (b["bench_wall_s"] - a["bench_wall_s"]) / (steps(b) - steps(a))
    return per_step, int(steps(b)), b["bench_wall_s"]


def bench_overhead(tasks: int = 200, turns: int = 30, concurrency: int = 8) -> None:
    """Per-step cost of the whole loop, scripted backend: in process vs Ray workers on 1 node."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps([f"Thought: t\nAction: {a}" for a in ["look", "inventory"] * (turns // 2)]))
        config = RunConfig(env=HOUSEHOLD, split="seen", agent="react", model=f"scripted:{script}",
                           concurrency=concurrency, max_steps=turns + 1)
        _run(config.model_copy(update={"tasks": 4}))  # imports and caches
        local = _marginal(config, 20, tasks)
        cluster = _cluster(1)
        try:
            remote = _marginal(config.model_copy(update={"ray": cluster.address}), 20, tasks)
        finally:
            _close(cluster)
    table = _table(f"Per-step cost beyond startup ({tasks} vs 20 episodes x {turns} steps, scripted, "
                   f"{concurrency} in flight)", ("executor", "steps", "wall s", "us/step", "ratio"))
    table.add_row("in process", str(local[1]), f"{local[2]:.2f}", f"{local[0] * 1e6:.0f}", "1.00")
    table.add_row("ray, 1 worker node", str(remote[1]), f"{remote[2]:.2f}", f"{remote[0] * 1e6:.0f}",
                  f"{remote[0] / local[0]:.2f}")
    console.print(table)


def bench_nodes(tasks: int = 32, concurrency: int = 16) -> None:
    """Episodes/s of the default policy in process and on Ray with 1 and 2 worker nodes (an engine each)."""
    path = policy()
    config = RunConfig(env=HOUSEHOLD, split="unseen", tasks=tasks, agent="react", concurrency=concurrency,
                       model=f"transformers:{path}", agent_options={"admissible": "nearest"})
    rows = [("in process", _run(config))]
    for nodes in (1, 2):
        cluster = _cluster(nodes)
        try:
            # The engine shares its node's CPU with the worker: worker episodes are cheap next to the model.
            ray_config = config.model_copy(update={"ray": cluster.address,
                                                   "ray_options": {"engine_cpus": 0, "engines": nodes}})
            rows.append((f"ray, {nodes} worker node{'s' * (nodes > 1)}", _run(ray_config)))
        finally:
            _close(cluster)
    base = rows[0][1]["episodes_per_s"]
    table = _table(f"Default policy, {tasks} unseen tasks, {concurrency} in flight, transformers engines",
                   ("executor", "episodes/s", "success", "avg steps", "wall s", "ratio"))
    for label, s in rows:
        table.add_row(label, f"{s['episodes_per_s']:.3f}", f"{s['success_rate']:.1%} ({s['successes']})",
                      f"{s['avg_steps']:.1f}", f"{s['bench_wall_s']:.1f}", f"{s['episodes_per_s'] / base:.2f}")
    console.print(table)
    MEASURED["engine_episodes_per_s"] = rows[1][1]["episodes_per_s"]


def _driver_cost(n: int = 400) -> float:
    """CPU seconds the driver spends per episode: parse the worker's JSON, validate, append to the run log.

    CPU time, not wall time: on a shared machine the wall clock mostly measures the neighbours.
    """
    from mulligan.records import Message, Step, Trajectory
    from mulligan.runner.rundir import RunDir

    steps = int(MEASURED.get("steps_per_episode", 40))
    traj = Trajectory(env=HOUSEHOLD, task_id="t", messages=[Message(role="user", content="x" * 200)] * (2 * steps),
                      steps=[Step(t=i, action="go to desk 1", observation="x" * 120, raw="Thought: y\nAction: z",
                                  token_ids=list(range(14)), logprobs=[-0.1] * 14) for i in range(steps)])
    payload = "[" + traj.model_dump_json() + "]"
    with tempfile.TemporaryDirectory() as tmp:
        rundir = RunDir(tmp)
        started = time.process_time()
        for _ in range(n):
            rundir.append([Trajectory.model_validate(t) for t in json.loads(payload)])
        return (time.process_time() - started) / n


def bench_sizing(target: int = 10_000, gpu_tokens_per_s: float = 2500.0, sandbox_s: float = 0.25) -> None:
    """A 10,000-task collection per hour: what it takes, from per-episode costs measured here."""
    driver_s = _driver_cost()
    steps = MEASURED.get("steps_per_episode", 48.0)
    prompt = MEASURED.get("prompt_tokens_per_episode", 48 * 1500.0)
    completion = MEASURED.get("completion_tokens_per_episode", 48 * 14.0)
    per_s = target / 3600
    table = _table(f"{target:,} tasks in one hour = {per_s:.2f} episodes/s", ("stage", "per episode", "limit", "needs"))
    table.add_row("driver (parse + append)", f"{driver_s * 1e3:.2f} CPU ms", f"{1 / driver_s:,.0f} episodes/s",
                  f"{per_s * driver_s:.1%} of one core")
    # Prefix caching leaves about one new turn per step to prefill (the reply and the observation).
    new_tokens = completion + steps * 40
    gpus = per_s * completion / gpu_tokens_per_s
    table.add_row("engine decode (assumed tokens/s per GPU)", f"{completion:,.0f} generated, {prompt:,.0f} prompt",
                  f"{gpu_tokens_per_s:,.0f} tokens/s/GPU", f"{math.ceil(gpus)} GPU ({gpus:.2f})")
    table.add_row("sandbox (code env, new container)", f"{sandbox_s * 1e3:.0f} ms", "pool, 1 per episode in flight",
                  f"{per_s * sandbox_s:.2f} container-starts in flight")
    console.print(table)
    source = "measured by --part vllm in this run" if "steps_per_episode" in MEASURED else (
        "ASSUMED (run --part vllm in the same process to measure them)")
    console.print(f"per episode: {steps:.0f} steps, {completion:,.0f} generated tokens, {new_tokens:,.0f} tokens "
                  f"to run with prefix caching ({source}); GPU throughput is an assumption "
                  "(--gpu-tokens-per-s), not a measurement: no GPU here.")


PARTS = {"vllm": bench_vllm, "overhead": bench_overhead, "nodes": bench_nodes, "sizing": bench_sizing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("--tasks", type=int, default=None, help="Tasks per run (each part has its default).")
    parser.add_argument("--policy", default=None, help="Checkpoint for the model parts (default: the default policy).")
    parser.add_argument("--gpu-tokens-per-s", type=float, default=2500.0,
                        help="Assumed generated tokens/s of one GPU engine for the sizing part.")
    args = parser.parse_args()
    console.print(f"machine: {machine()}")
    if args.policy:
        POLICY.append(args.policy)
    for name in args.part or list(PARTS):
        if name == "sizing":
            bench_sizing(gpu_tokens_per_s=args.gpu_tokens_per_s)
        elif args.tasks:
            PARTS[name](tasks=args.tasks)
        else:
            PARTS[name]()


if __name__ == "__main__":
    sys.exit(main())
