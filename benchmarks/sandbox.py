"""Code sandbox benchmarks: what one action costs on each path, and HumanEval end to end.

Actions: ``print(1)`` in a fresh Python process, on every path in one run: a cold
``docker run --rm`` per action (CLI), a bare ``docker exec`` into a running container (CLI, no
supervisor: what mini-swe-agent does per action), today's path before the warm supervisor (one
SDK ``exec`` of the supervisor per action), the warm supervisor starting ``python3`` per action,
and the warm supervisor forking programs from a zygote (the default). Pools of 1, 2 and
4 containers, one thread each: p50/p95 per action and actions/s. Paths take turns, so load from
other jobs falls on all of them alike. CPU: the CPU time one action costs in the engine (dockerd,
containerd, shims, runc), in the container and in the client, which depends less on that load.

End to end: HumanEval's 164 canonical solutions through the expert agent and the runner (Docker,
4 episodes in flight), with today's path, the warm path with a new container per episode, and the
warm path with containers reused across episodes (the default). Compare ratios from one run.

    python benchmarks/sandbox.py                          # everything (Docker and the sandbox image)
    python benchmarks/sandbox.py --part actions --actions 100
    python benchmarks/sandbox.py --part cpu
    python benchmarks/sandbox.py --part e2e --tasks 40
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Callable

from rich import box
from rich.console import Console
from rich.table import Table

from mulligan.envs.code.sandbox import Limits, close_shared, configure_shared, make_sandbox
from mulligan.envs.code.sandbox.containers import (
    DEFAULT_IMAGE,
    SANDBOX_USER,
    WORKDIR,
    connect,
    remove_container,
    start_container,
)

PROGRAM = {"main.py": "print(1)\n"}
POOLS = (1, 2, 4)
SANDBOX_PATHS = {
    "supervisor exec per action (before)": {"server": False},
    "warm supervisor, python3 per action": {"zygote": False},
    "warm supervisor + zygote (default)": {},
}
E2E_PATHS = {
    "supervisor exec per action, new container per episode (before)": {"server": False, "reuse": 1},
    "warm supervisor, new container per episode": {"reuse": 1},
    "warm supervisor, containers reused (default)": {},
}
BARE = "bare docker exec (CLI)"
FAILED: dict[str, int] = {}
console = Console(width=200)


def machine() -> str:
    docker = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    load = os.getloadavg()[0]
    return (f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f}, Python {platform.python_version()}, "
            f"Docker engine {docker.stdout.strip() or '?'}")


def percentiles(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def cli(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


class Worker:
    """One container of a pool and the way an action reaches it."""

    def __init__(self, name: str, limits: Limits):
        self.name, self.limits = name, limits
        self.sandbox = self.session = self.cid = self.deadman = None
        if name in SANDBOX_PATHS:
            self.sandbox = make_sandbox("docker", limits, warm=0, **SANDBOX_PATHS[name])
            self.session = self.sandbox.session()
        elif name == BARE:  # a sandbox container (removed if we die), reached with the CLI only
            self.cid, self.deadman = start_container(connect(), DEFAULT_IMAGE, limits)
            cli("exec", "-u", SANDBOX_USER, "-w", WORKDIR, self.cid, "python3", "-c",
                f"open('main.py', 'w').write({PROGRAM['main.py']!r})")
        self.action()  # first calls pay for imports and caches

    def action(self) -> None:
        if self.session is not None:
            out = self.session.run(["python3", "main.py"], files=PROGRAM).stdout
        elif self.cid is not None:
            out = cli("exec", "-u", SANDBOX_USER, "-w", WORKDIR, self.cid, "python3", "main.py")
        else:
            out = cli("run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", "--security-opt",
                      "no-new-privileges", "--user", SANDBOX_USER, "--memory", f"{self.limits.memory_mb}m",
                      "--pids-limit", str(self.limits.pids), "--tmpfs", f"{WORKDIR}:size=64m", "-w", WORKDIR,
                      DEFAULT_IMAGE, "python3", "-c", "print(1)")
        assert out == "1\n", out

    def close(self) -> None:
        if self.sandbox is not None:
            self.session.close()
            self.sandbox.close()
        if self.cid is not None:
            remove_container(connect(), self.cid)
            self.deadman.close()


def run_pool(workers: list[Worker], per_worker: int) -> tuple[list[float], float]:
    """Every worker runs ``per_worker`` actions in its own thread; (latencies of the good ones, wall s)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def work(worker: Worker) -> None:
        for _ in range(per_worker):
            started = time.perf_counter()
            try:
                worker.action()
            except Exception as e:  # noqa: BLE001 - a failed action is counted, not timed
                FAILED[worker.name] = FAILED.get(worker.name, 0) + 1
                console.print(f"[red]{worker.name}: {type(e).__name__}: {str(e)[:200]}[/red]")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def bench_actions(per_worker: int, rounds: int) -> None:
    limits = Limits()
    paths = ["cold docker run --rm (CLI)", BARE, *SANDBOX_PATHS]
    samples: dict[tuple[str, int], list[float]] = {}
    walls: dict[tuple[str, int], float] = {}
    for pool in POOLS:
        workers = {p: [Worker(p, limits) for _ in range(pool)] for p in paths}
        for _ in range(rounds):  # paths take turns, a slice of the actions each
            for p in paths:
                n = max(1, per_worker // rounds // (3 if p.startswith("cold") else 1))
                lat, wall = run_pool(workers[p], n)
                samples.setdefault((p, pool), []).extend(lat)
                walls[(p, pool)] = walls.get((p, pool), 0.0) + wall
        for ws in workers.values():
            for w in ws:
                w.close()
    pools = ", ".join(map(str, POOLS))
    table = Table(title=f"One action ('print(1)' in a fresh python3), pools of {pools} containers", box=box.MARKDOWN)
    for col in ("path", "pool", "actions", "p50 ms", "p95 ms", "actions/s", "p50 vs bare exec", "actions/s vs bare"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for pool in POOLS:
        bare_p50 = statistics.median(samples[(BARE, pool)])
        bare_rate = len(samples[(BARE, pool)]) / walls[(BARE, pool)]
        for p in paths:
            lat = samples[(p, pool)]
            p50, p95 = percentiles(lat)
            rate = len(lat) / walls[(p, pool)]
            table.add_row(p, str(pool), str(len(lat)), f"{p50 * 1000:.1f}", f"{p95 * 1000:.1f}", f"{rate:.1f}",
                          f"{bare_p50 / p50:.2f}x", f"{rate / bare_rate:.2f}x")
        if pool != POOLS[-1]:
            table.add_section()
    console.print(table)
    if FAILED:
        console.print(f"failed actions (not timed): {FAILED}")


ENGINE = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2"}


def engine_cpu() -> dict[int, int]:
    """CPU ticks used so far by each of the engine's processes (with the children they waited for: runc)."""
    ticks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                name, fields = f.read().split(" (", 1)[1].rsplit(") ", 1)
        except OSError:
            continue
        if name in ENGINE:
            ticks[int(pid)] = sum(int(v) for v in fields.split()[11:15])
    return ticks


def engine_cpu_s(before: dict[int, int]) -> float:
    """CPU seconds the engine used since ``before``, process by process: a shim that exits meanwhile (the
    container of an earlier path being removed) takes its past with it, which a plain total would subtract."""
    after = engine_cpu()
    return sum(max(0, t - before.get(pid, 0)) for pid, t in after.items()) / os.sysconf("SC_CLK_TCK")


def container_cpu_s(cid: str) -> float | None:
    """CPU seconds used so far by a container's processes (its cgroup), None when not readable."""
    for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage", f"/sys/fs/cgroup/docker/{cid}/cpu.stat",
                 f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        return int(text.split()[1 if "usage_usec" in text else 0]) / (1e6 if "usage_usec" in text else 1e9)
    return None


def bench_cpu(actions: int) -> None:
    """CPU time one action costs, wherever it is spent: less sensitive to load than latency."""
    limits = Limits()
    table = Table(title=f"CPU per action ({actions} actions, one container)", box=box.MARKDOWN)
    for col in ("path", "engine ms", "container ms", "client ms", "total ms", "vs bare exec"):
        table.add_column(col, justify="left" if col == "path" else "right")
    rows = {}
    for name in (BARE, *SANDBOX_PATHS):
        worker = Worker(name, limits)
        cid = worker.cid or worker.session.container_id
        engine, container, client = engine_cpu(), container_cpu_s(cid), os.times()
        for _ in range(actions):
            worker.action()
        after = os.times()
        spent = (after.user + after.system + after.children_user + after.children_system
                 - client.user - client.system - client.children_user - client.children_system)
        in_container = container_cpu_s(cid)
        rows[name] = [engine_cpu_s(engine) / actions,
                      (in_container - container) / actions if container is not None else float("nan"),
                      spent / actions]
        worker.close()
    bare = sum(rows[BARE])
    for name, parts in rows.items():
        total = sum(parts)
        table.add_row(name, *(f"{v * 1000:.1f}" for v in parts), f"{total * 1000:.1f}", f"{bare / total:.2f}x")
    console.print(table)


def bench_e2e(tasks: int, concurrency: int) -> None:
    from mulligan.runner.runner import RunConfig, run

    title = f"HumanEval canonical solutions, expert agent, {tasks} tasks, {concurrency} in flight (Docker)"
    table = Table(title=title, box=box.MARKDOWN)
    for col in ("path", "solved", "wall s", "episodes/s", "speed-up"):
        table.add_column(col, justify="left" if col == "path" else "right")
    base = None
    for name, options in E2E_PATHS.items():
        configure_shared("docker", **options)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            config = RunConfig(env="mulligan/Code-v0", suite="humaneval", split="test", tasks=tasks, agent="expert",
                               concurrency=concurrency, out=os.path.join(tmp, "run"))
            result = run(config)
            wall = time.perf_counter() - started
        close_shared()
        base = base or wall
        solved = round(result.summary["success_rate"] * result.summary["episodes"])
        table.add_row(name, f"{solved}/{result.summary['episodes']}", f"{wall:.1f}", f"{tasks / wall:.2f}",
                      f"{base / wall:.2f}x")
    configure_shared("docker")
    console.print(table)


def timed_part(name: str, fn: Callable[[], None]) -> None:
    started = time.perf_counter()
    fn()
    console.print(f"({name}: {time.perf_counter() - started:.0f} s, load now {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "actions", "cpu", "e2e"), default="all")
    parser.add_argument("--actions", type=int, default=60, help="Actions per container and path (a third for cold).")
    parser.add_argument("--rounds", type=int, default=3, help="Turns the paths take at each pool size.")
    parser.add_argument("--tasks", type=int, default=164, help="HumanEval tasks end to end.")
    parser.add_argument("--concurrency", type=int, default=4, help="Episodes in flight end to end.")
    args = parser.parse_args()
    console.print(f"machine: {machine()}")
    if args.part in ("all", "actions"):
        timed_part("actions", lambda: bench_actions(args.actions, args.rounds))
    if args.part in ("all", "cpu"):
        timed_part("cpu", lambda: bench_cpu(args.actions))
    if args.part in ("all", "e2e"):
        timed_part("end to end", lambda: bench_e2e(args.tasks, args.concurrency))


if __name__ == "__main__":
    main()
