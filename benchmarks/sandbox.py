"""Code sandbox benchmarks: the latency of one action and the throughput of a warm pool.

Latency: one action (``print(1)`` in a fresh Python process, supervised) on a warm container,
against a cold ``docker run --rm`` with the same limits, and against the local backend; plus what
a fresh container per episode costs when no warm one is waiting. Throughput: actions/s with 1, 2
and 4 sessions working at once (one thread each). Compare ratios from the same run.

    python benchmarks/sandbox.py                 # everything (needs Docker and the sandbox image)
    python benchmarks/sandbox.py --actions 100   # more samples
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import threading
import time

from rich.console import Console
from rich.table import Table

from mulligan.envs.code.sandbox import Limits, make_sandbox
from mulligan.envs.code.sandbox.containers import (
    DEFAULT_IMAGE,
    SANDBOX_USER,
    connect,
    remove_container,
    start_container,
)

PROGRAM = {"main.py": "print(1)\n"}
console = Console()


def machine() -> str:
    docker = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"Docker engine {docker.stdout.strip() or '?'}")


def percentiles(samples: list[float]) -> tuple[float, float]:
    qs = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), qs[18]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def cold_docker_run(limits: Limits) -> None:
    """What one action costs without a pool: a new container per action (docker CLI)."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", "--security-opt",
         "no-new-privileges", "--user", SANDBOX_USER, "--memory", f"{limits.memory_mb}m", "--pids-limit",
         str(limits.pids), "--tmpfs", "/work:size=64m", "-w", "/work", DEFAULT_IMAGE, "python3", "-c", "print(1)"],
        capture_output=True, text=True,
    )
    assert done.stdout == "1\n", done.stderr


def bench_latency(n: int) -> None:
    limits = Limits()
    docker = make_sandbox("docker", limits, warm=1)
    local = make_sandbox("local", limits)
    warm_session, local_session = docker.session(), local.session()
    for session in (warm_session, local_session):  # first calls pay for imports and caches
        session.run(["python3", "main.py"], files=PROGRAM)
    api = connect()

    def fresh_container() -> None:
        cid, deadman = start_container(api, DEFAULT_IMAGE, limits)
        remove_container(api, cid)
        deadman.close()

    rows = {
        "warm container (docker exec)": timed(lambda: warm_session.run(["python3", "main.py"], files=PROGRAM), n),
        "cold docker run --rm": timed(lambda: cold_docker_run(limits), max(5, n // 3)),
        "local backend (subprocess)": timed(lambda: local_session.run(["python3", "main.py"], files=PROGRAM), n),
        "new container, no action (start + remove)": timed(fresh_container, max(5, n // 3)),
    }
    warm_session.close()
    docker.close()
    local.close()
    warm_p50 = statistics.median(rows["warm container (docker exec)"])
    table = Table(title=f"Latency of one action ({n} samples; 'print(1)' in a fresh supervised process)")
    for col in ("backend", "p50 ms", "p95 ms", "p50 / warm"):
        table.add_column(col, justify="right" if col != "backend" else "left")
    for name, samples in rows.items():
        p50, p95 = percentiles(samples)
        table.add_row(name, f"{p50 * 1000:.0f}", f"{p95 * 1000:.0f}", f"{p50 / warm_p50:.2f}x")
    console.print(table)


def bench_throughput(per_worker: int) -> None:
    table = Table(title=f"Warm pool throughput ({per_worker} actions per session)")
    for col in ("sessions at once", "actions", "wall s", "actions/s", "vs 1 session"):
        table.add_column(col, justify="right")
    base = None
    for workers in (1, 2, 4):
        docker = make_sandbox("docker", Limits(), warm=workers)
        sessions = [docker.session() for _ in range(workers)]
        for s in sessions:
            s.run(["python3", "main.py"], files=PROGRAM)

        def work(session) -> None:
            for _ in range(per_worker):
                assert session.run(["python3", "main.py"], files=PROGRAM).stdout == "1\n"

        threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        docker.close()
        rate = workers * per_worker / wall
        base = base or rate
        table.add_row(str(workers), str(workers * per_worker), f"{wall:.1f}", f"{rate:.1f}", f"{rate / base:.2f}x")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=60, help="Latency samples per backend.")
    parser.add_argument("--per-worker", type=int, default=60, help="Actions per session in the throughput part.")
    args = parser.parse_args()
    console.print(f"machine: {machine()}")
    bench_latency(args.actions)
    bench_throughput(args.per_worker)


if __name__ == "__main__":
    main()
