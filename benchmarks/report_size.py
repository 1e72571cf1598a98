"""Size of the HTML report and time to open it in Chromium, for runs of 100, 1,000 and 10,000 episodes.

The runs are real: the household env's expert with noise 0.3 (slips, recoveries and step-limit
failures) on the ``unseen`` split, 20 steps at most, written by the runner. For each size the
script writes the report, then opens it from disk in headless Chromium (Playwright driving
/usr/bin/chromium) and times: the page ready (summary drawn), the episode table, and one episode
opened turn by turn. Each time is the median of ``--repeats`` fresh page loads.

    python benchmarks/report_size.py [--sizes 100 1000 10000] [--repeats 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mulligan.report import write_report
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run_suite

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def make_run(folder: Path, episodes: int) -> Path:
    """A finished run of ``episodes`` noisy-expert episodes in ``folder`` (reused when already there)."""
    if len(RunDir(folder).trajectories()) == episodes and RunDir(folder).load_summary():
        return folder
    config = RunConfig(env="mulligan/Household-v0", split="unseen", tasks=episodes, agent="expert", max_steps=20,
                       concurrency=64, agent_options={"noise": 0.3, "noise_seed": 0}, out=str(folder))
    asyncio.run(run_suite(config, resume=folder.exists()))
    return folder


def open_times(browser, page_file: Path) -> tuple[float, float, float]:
    """Seconds to the summary, then to the episode table, then to one episode's turns."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        started = time.perf_counter()
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-ready='1'][data-view='summary']", timeout=120_000)
        ready = time.perf_counter() - started
        started = time.perf_counter()
        page.click("[data-tab=episodes]")
        page.wait_for_selector("[data-testid=episode-row]")
        table = time.perf_counter() - started
        started = time.perf_counter()
        page.locator("[data-testid=episode-row]").last.click()
        page.wait_for_selector("[data-testid=step]")
        episode = time.perf_counter() - started
    finally:
        page.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    return ready, table, episode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="Folder for the runs (kept; default: a temporary one).")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = args.work or Path(tempfile.mkdtemp(prefix="report-size-"))
    table = Table(title="mulligan report: size and time to open in Chromium (median of "
                        f"{args.repeats} loads)")
    for col in ("episodes", "trajectories.jsonl", "report.html", "ratio", "write", "open (summary)",
                "episode table", "one episode"):
        table.add_column(col, justify="right")
    reports = []
    for n in args.sizes:  # runs and pages first: Playwright's sync API holds an event loop of its own
        run = make_run(work / f"run-{n}", n)
        started = time.perf_counter()
        result = write_report([run], run / "report.html")
        reports.append((n, run, result, time.perf_counter() - started))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        for n, run, result, written in reports:
            times = [open_times(browser, result.out) for _ in range(args.repeats)]
            ready, tab, episode = (statistics.median(t[i] for t in times) for i in range(3))
            jsonl = RunDir(run).trajectories_path.stat().st_size
            table.add_row(f"{n:,}", f"{jsonl / 1e6:.1f} MB", f"{result.bytes / 1e6:.2f} MB",
                          f"{jsonl / result.bytes:.0f}x", f"{written:.1f} s", f"{ready:.2f} s", f"{tab:.2f} s",
                          f"{episode:.2f} s")
        browser.close()
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
