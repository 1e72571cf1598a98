"""Retrieval memory benchmarks: vector-index latency, embedding throughput, success with and without memory.

Prints one table per part. Compare ratios taken in the same run; absolute times on a shared
machine are noise.

    python benchmarks/memory.py                                   # all parts
    python benchmarks/memory.py --part latency --sizes 10000,100000,1000000
    python benchmarks/memory.py --part embed
    python benchmarks/memory.py --part success --tasks 20 --fill 100 --sandbox local

latency: 384-dim unit vectors drawn around 2,000 random centres (clustered like sentence
embeddings; embedding a million texts on two cores is not feasible), 200 held-out queries from
the same distribution, k = 10. "exact" is a numpy matrix-vector scan (FlatIndex); "IVF" is faiss
IndexIVFFlat with 2 sqrt(n) cells and nprobe 32 (IVFIndex); recall@10 is against the exact scan.
The hybrid row runs the store's whole query path (BM25 + dense + reciprocal-rank fusion) over
synthetic instructions whose vectors are put in the embedding cache.

success: the expert's wins on ``--fill`` train tasks fill a fresh memory (household train split;
code builtin train split); then the same policy runs the same evaluation tasks (household
``unseen``; code builtin ``test``) without and with that memory (k = 2, read-only, so both arms
see the same memory), in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mulligan.memory.embed import DIM, Embedder, EmbeddingCache
from mulligan.memory.entries import text_hash
from mulligan.memory.index import FlatIndex, IVFIndex
from mulligan.memory.retrieval import IVF_THRESHOLD, Partition
from mulligan.runner.runner import RunConfig, run_suite

console = Console(width=130)
HOUSEHOLD = "mulligan/Household-v0"
CODE = "mulligan/Code-v0"
VERBS = ["put", "heat", "cool", "clean", "examine", "find", "slice", "write", "sort", "count"]
NOUNS = ["apple", "egg", "lettuce", "mug", "plate", "book", "lamp", "pillow", "knife", "list", "string",
         "integer", "matrix", "tomato", "bread", "wine", "fridge", "shelf", "sofa", "desk"]


def machine() -> str:
    load = os.getloadavg()[0]
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {load:.1f}"


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centres[rng.integers(0, len(centres), m)] + 0.7 * rng.standard_normal((m, DIM), dtype=np.float32)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed(fn, queries) -> tuple[list[float], list]:
    fn(queries[0])
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t) * 1e3)
    return times, results


def pct(times: list[float], p: float) -> float:
    return float(np.percentile(times, p))


def bench_latency(sizes: list[int], queries: int = 200) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2000, DIM)).astype(np.float32)
    table = Table(title=f"Vector search, k=10, {queries} queries ({machine()})")
    for col in ("entries", "index", "build s", "p50 ms", "p95 ms", "p50 vs exact", "recall@10"):
        table.add_column(col, justify="right")
    for n in sizes:
        x = clustered(n, rng, centres)
        q = clustered(queries, rng, centres)
        flat = FlatIndex(DIM)
        t = time.perf_counter()
        flat.add(np.arange(n), x)
        flat_build = time.perf_counter() - t
        ivf = IVFIndex(DIM, nprobe=32)
        t = time.perf_counter()
        ivf.build(np.arange(n), x)
        ivf_build = time.perf_counter() - t
        exact_t, exact = timed(lambda v: flat.search(v, 10)[0], q)
        ivf_t, approx = timed(lambda v: ivf.search(v, 10)[0], q)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
        base = pct(exact_t, 50)
        table.add_row(f"{n:,}", "exact (numpy)", f"{flat_build:.1f}", f"{base:.2f}", f"{pct(exact_t, 95):.2f}",
                      "1.00", "1.000")
        table.add_row("", f"IVF ({ivf.nlist} cells, nprobe 32)", f"{ivf_build:.1f}", f"{pct(ivf_t, 50):.3f}",
                      f"{pct(ivf_t, 95):.3f}", f"{pct(ivf_t, 50) / base:.3f}", f"{recall:.3f}")
        if n <= 100_000:
            hybrid_t = bench_hybrid(x, q, rng)
            dense = "IVF" if n >= IVF_THRESHOLD else "exact"
            table.add_row("", f"hybrid query ({dense} + BM25 + RRF)", "", f"{pct(hybrid_t, 50):.2f}",
                          f"{pct(hybrid_t, 95):.2f}", f"{pct(hybrid_t, 50) / base:.3f}", "")
    console.print(table)


def bench_hybrid(x: np.ndarray, q: np.ndarray, rng: np.random.Generator) -> list[float]:
    """The store's query path (Partition.search) with vectors supplied through the embedding cache."""
    def text(i: int) -> str:
        words = [VERBS[i % len(VERBS)], "some", NOUNS[(i // 10) % len(NOUNS)], "and", "put", "it", "in",
                 NOUNS[(i // 200) % len(NOUNS)], str(i % 97)]
        return " ".join(words)

    texts = [text(i) for i in range(len(x))]
    qtexts = [text(int(i)) + " please" for i in rng.integers(0, len(x), len(q))]
    cache = EmbeddingCache(None)
    cache.put([text_hash(t) for t in texts + qtexts], np.concatenate([x, q]))
    partition = Partition(Embedder(cache=cache))
    for i, t in enumerate(texts):
        partition.add(f"e{i}", t)
    partition.ensure_vectors()
    times, _ = timed(lambda t: partition.search(t, 3), qtexts)
    return times


def bench_embed() -> None:
    texts = [f"{v} some {a} and put it in {b} {i}" for i, (v, a, b) in
             enumerate(zip(VERBS * 40, NOUNS * 20, reversed(NOUNS * 20)))][:256]
    table = Table(title=f"Embedding throughput, all-MiniLM-L6-v2 on CPU, {len(texts)} short texts ({machine()})")
    for col in ("torch threads", "batch size", "texts/s", "ms/text"):
        table.add_column(col, justify="right")
    for threads in (1, 2):
        embedder = Embedder(threads=threads)
        embedder.encode_uncached(texts[:8])
        for batch in (1, 8, 32, 128):
            n = 32 if batch == 1 else len(texts)
            t = time.perf_counter()
            embedder.encode_uncached(texts[:n], batch_size=batch)
            rate = n / (time.perf_counter() - t)
            table.add_row(str(threads), str(batch), f"{rate:,.0f}", f"{1000 / rate:.1f}")
    cached = Embedder()
    cached.encode(texts)
    t = time.perf_counter()
    for _ in range(20):
        cached.encode(texts)
    rate = 20 * len(texts) / (time.perf_counter() - t)
    table.add_row("-", "cache hit", f"{rate:,.0f}", f"{1000 / rate:.3f}")
    console.print(table)


async def _run(config: RunConfig) -> dict:
    return (await run_suite(config)).summary


SETUPS = {"household": (HOUSEHOLD, None, "train", "unseen"), "code": (CODE, "builtin", "train", "test")}
"""env name -> (env id, suite, split the memory is filled from, split evaluated on)."""


def bench_success(model: str, tasks: int, fill: int, work: Path, concurrency: int, max_steps: int | None,
                  envs: list[str], agent_options: dict | None = None) -> None:
    """One table per env (printed as soon as its two arms are done)."""
    from mulligan.memory import MemoryStore
    from mulligan.runner.rundir import RunDir

    for env, suite, fill_split, split in (SETUPS[name] for name in envs):
        name = env.split("/")[-1]
        mem = work / f"mem-{name}"
        filled = asyncio.run(_run(RunConfig(env=env, suite=suite, split=fill_split, tasks=fill, agent="expert",
                                            out=str(work / f"fill-{name}"), memory=str(mem), concurrency=concurrency)))
        entries = len(MemoryStore(mem, dense=False))
        table = Table(title=f"{name} {split}: success with and without experience memory, policy {model!r}, react "
                            f"agent {agent_options or ''}; memory: {entries} entries from the expert's {filled['episodes']} {fill_split} "
                            f"wins after merging ({machine()})")
        for col in ("memory", "tasks", "success", "avg steps", "invalid", "shown/episode", "wall s"):
            table.add_column(col, justify="left" if col == "memory" else "right")
        for arm in ("none", "k=2"):
            out = work / f"{name}-{arm}"
            config = RunConfig(env=env, suite=suite, split=split, tasks=tasks, agent="react", model=model,
                               concurrency=concurrency, out=str(out), max_steps=max_steps,
                               memory=str(mem) if arm != "none" else None,
                               memory_options={"k": 2, "write": False}, agent_options=agent_options or {})
            s = asyncio.run(_run(config))
            trajs = RunDir(out).trajectories()
            shown = statistics.mean(len(t.retrieved) for t in trajs) if trajs else 0.0
            table.add_row(arm, str(s["episodes"]), f"{s['success_rate']:.1%}", f"{s['avg_steps']:.1f}",
                          f"{s['invalid_action_rate']:.1%}", f"{shown:.1f}", f"{s['wall_s']:.0f}")
        console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["latency", "embed", "success", "all"], default="all")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Entries for the latency part.")
    parser.add_argument("--model", default="default", help="Policy of the success part (a model spec).")
    parser.add_argument("--tasks", type=int, default=20, help="Evaluation tasks per env (success part).")
    parser.add_argument("--fill", type=int, default=100, help="Expert train tasks put in memory per env.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=None, help="Env step cap in the success part.")
    parser.add_argument("--envs", default="household,code", help="Envs of the success part: household, code.")
    parser.add_argument("--sandbox", choices=["docker", "local"], default=os.environ.get("MULLIGAN_SANDBOX"),
                        help="Code sandbox of the success part (default: the env's, Docker).")
    parser.add_argument("--work", type=Path, default=None, help="Folder for memories and runs (default: a temp dir).")
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="Agent option of both arms, e.g. -o admissible=nearest (repeatable).")
    args = parser.parse_args()
    if args.sandbox:
        os.environ["MULLIGAN_SANDBOX"] = args.sandbox
    if args.part in ("latency", "all"):
        bench_latency([int(s) for s in args.sizes.split(",")])
    if args.part in ("embed", "all"):
        bench_embed()
    if args.part in ("success", "all"):
        if args.model == "default":
            from mulligan.training.default_policy import ensure_default_policy

            ensure_default_policy(progress=True)
        work = args.work or Path(tempfile.mkdtemp(prefix="mulligan-bench-memory-"))
        options = dict(o.split("=", 1) for o in args.option)
        bench_success(args.model, args.tasks, args.fill, work, args.concurrency, args.max_steps, args.envs.split(","),
                      options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
