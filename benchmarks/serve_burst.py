"""``mulligan serve`` under bursts of concurrent requests, and the wait behind a maximum-size request.

Starts ``mulligan serve`` as its own process on loopback, then:

1. bursts: N clients (threads, one fresh connection each) send one request each at the same
   moment; per burst size it prints p50 / p95 / max latency and the failures (any answer but 200,
   any connection error: the goal is 0);
2. the wait behind a maximum-size request: one request with the longest prompt the server takes
   and the largest ``max_tokens`` it allows, and, once it runs, one small request; it prints how
   long the small one took, next to the same request on an idle server.

    python benchmarks/serve_burst.py                          # the default policy, bursts 16, 64, 256
    python benchmarks/serve_burst.py --model transformers:CKPT --bursts 16,64 --max-tokens 16
    python benchmarks/serve_burst.py --stand-in /tmp/stand-in --threads 1   # an untrained model of its shape
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

console = Console(width=120)
PROMPT = ("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, "
          "a fridge 1 and a sinkbasin 1.\nYour task is to: put a clean mug in coffeemachine.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STAND_IN_SHAPE = {"hidden_size": 256, "num_layers": 4, "num_heads": 8, "max_position_embeddings": 4096}
"""The default policy's shape (recipe v2): 4 layers of width 256, a 1,024-token vocabulary, 4,096 positions."""


def stand_in_checkpoint(folder: Path) -> str:
    """An untrained Llama of the default policy's shape with a tokenizer trained on household text
    (built once into ``folder``). Untrained, it rarely ends a reply early: every request generates
    about its ``max_tokens``, the server's worst case."""
    from mulligan.envs.household import solve
    from mulligan.training.tiny import build_tiny_model, build_tokenizer

    if not (folder / "config.json").exists():
        texts = [f"{s.subgoal}\n{s.action}" for i in range(200) for s in solve(f"train-{i}").steps]
        tokenizer = build_tokenizer(texts * 3, vocab_size=1024)
        model = build_tiny_model(tokenizer, **STAND_IN_SHAPE)
        folder.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(folder)
        model.save_pretrained(folder)
    return f"transformers:{folder}"


def checkpoint_of(spec: str) -> str:
    """The local folder a spec runs (for counting prompt tokens client-side)."""
    from mulligan.llm.spec import parse_spec, resolve

    parsed = parse_spec(spec)
    return resolve(parsed.target) if parsed.backend == "default" else parsed.target


class Server:
    """``mulligan serve`` in a child process."""

    def __init__(self, spec: str, max_tokens: int, threads: int | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "mulligan.cli", "serve", "--model", spec, "--port", str(self.port),
               "--name", "bench", "--max-tokens", str(max_tokens)]
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, text=True, env=env)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"mulligan serve exited: {self.log.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise SystemExit("mulligan serve did not come up")

    def tail(self, chars: int = 3000) -> str:
        self.log.seek(0)
        return self.log.read()[-chars:]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def one(url: str, body: dict, results: list, index: int, start: threading.Barrier | None = None) -> None:
    if start is not None:
        start.wait()
    began = time.perf_counter()
    try:
        with httpx.Client(timeout=1800) as client:
            response = client.post(f"{url}/v1/chat/completions", json=body)
        ok = response.status_code == 200
        detail = "" if ok else f"{response.status_code}: {response.text[:200]}"
        tokens = response.json()["usage"]["completion_tokens"] if ok else 0
    except httpx.HTTPError as e:
        ok, detail, tokens = False, f"after {time.perf_counter() - began:.1f} s, {type(e).__name__}: {e}", 0
    results[index] = (ok, time.perf_counter() - began, detail, tokens)


def request(content: str, max_tokens: int) -> dict:
    return {"model": "bench", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0}


def burst(url: str, n: int, max_tokens: int) -> list:
    results: list = [None] * n
    start = threading.Barrier(n)
    threads = [threading.Thread(target=one, args=(url, request(f"{PROMPT} ({i})", max_tokens), results, i, start))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def longest_prompt(spec: str, room: int) -> str:
    """A user message whose rendered prompt is as close to ``room`` tokens as possible, not over."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_of(spec))

    def count(text: str) -> int:
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                 tokenize=False)
        return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])

    low, high = 1, 1
    while count(PROMPT * high) <= room:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(PROMPT * mid) <= room else (low, mid)
    text = PROMPT * low
    words = PROMPT.split()
    for word in words:  # fill the last gap a word at a time
        if count(f"{text} {word}") > room:
            break
        text = f"{text} {word}"
    return text


def context_length(spec: str) -> int:
    config = json.loads((Path(checkpoint_of(spec)) / "config.json").read_text())
    return int(config.get("max_position_embeddings") or 4096)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="Model spec to serve (default: the embedded policy).")
    parser.add_argument("--stand-in", nargs="?", const="", default=None, metavar="DIR",
                        help="Serve an untrained model of the default policy's shape (built into DIR, or a "
                             "temporary folder) instead of --model.")
    parser.add_argument("--bursts", default="16,64,256")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens of each burst request.")
    parser.add_argument("--limit", type=int, default=1024, help="The server's --max-tokens (the maximum-size reply).")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the server (1 on a crowded machine: spinning threads cost more).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = stand_in_checkpoint(Path(args.stand_in or tmp)) if args.stand_in is not None else args.model
        if spec == "default":
            from mulligan.training.default_policy import ensure_default_policy

            ensure_default_policy(progress=True)
        load = os.getloadavg()[0]
        console.print(f"machine: {platform.machine()}, {os.cpu_count()} cores (load {load:.1f}), "
                      f"Python {platform.python_version()}; model {spec}; server threads {args.threads or 'default'}")
        server = Server(spec, args.limit, args.threads)
        try:
            burst(server.url, 4, args.max_tokens)  # warm up
            table = Table(title=f"mulligan serve: bursts of concurrent requests (max_tokens {args.max_tokens})")
            for col in ("concurrent", "p50 s", "p95 s", "max s", "failures", "tokens/s"):
                table.add_column(col, justify="right")
            for n in (int(b) for b in args.bursts.split(",")):
                began = time.perf_counter()
                results = burst(server.url, n, args.max_tokens)
                wall = time.perf_counter() - began
                latencies = [r[1] for r in results]
                failures = [r[2] for r in results if not r[0]]
                for detail in failures[:3]:
                    console.print(f"  failure: {detail}", markup=False)
                if failures:
                    console.print(f"  server log: {server.tail()}", markup=False)
                table.add_row(str(n), f"{percentile(latencies, 0.5):.2f}", f"{percentile(latencies, 0.95):.2f}",
                              f"{max(latencies):.2f}", str(len(failures)), f"{sum(r[3] for r in results) / wall:.0f}")
            console.print(table)
            console.print(wait_table(server, spec, args.limit))
            console.print(f"load at the end: {os.getloadavg()[0]:.1f}")
        finally:
            server.stop()
    return 0


def wait_table(server: Server, spec: str, limit: int) -> Table:
    """The small request's latency on an idle server, and behind a running maximum-size request."""
    small = request(PROMPT, 8)
    idle = []
    for _ in range(3):
        out: list = [None]
        one(server.url, small, out, 0)
        idle.append(out[0][1])
    room = context_length(spec) - limit
    big_body = request(longest_prompt(spec, room), limit)
    big: list = [None]
    runner = threading.Thread(target=one, args=(server.url, big_body, big, 0))
    runner.start()
    while not httpx.get(f"{server.url}/health").json().get("busy_s"):
        time.sleep(0.01)
    time.sleep(0.5)  # the big request is well into its generation
    behind: list = [None]
    one(server.url, small, behind, 0)
    runner.join()
    table = Table(title=f"A small request (8 tokens) behind a maximum-size one ({room} prompt + {limit} reply tokens)")
    for col in ("", "s", "x idle"):
        table.add_column(col, justify="right" if col else "left")
    idle_s = statistics.median(idle)
    table.add_row("small request, idle server", f"{idle_s:.2f}", "1.0")
    table.add_row(f"maximum-size request ({big[0][3]} tokens generated, ok={big[0][0]})", f"{big[0][1]:.2f}",
                  f"{big[0][1] / idle_s:.0f}")
    table.add_row(f"small request sent 0.5 s into it (ok={behind[0][0]})", f"{behind[0][1]:.2f}",
                  f"{behind[0][1] / idle_s:.0f}")
    return table


if __name__ == "__main__":
    sys.exit(main())
