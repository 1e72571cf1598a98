"""Running an agent over a task suite with many episodes in flight.

Agents are plain async code. With a batch backend (transformers) the LLM requests of all
episodes in flight are coalesced by :class:`~mulligan.llm.batching.BatchingLLM`. Each finished
trajectory is appended to the run directory at once; ``resume=True`` finishes an interrupted
run without losing or repeating an episode, and runs again the tasks whose episodes ended in a
provider error (an outage heals on resume). One bad episode never stops the run: its error is
recorded on its trajectory. A run holds its directory's lock while it writes; secrets in the
model spec are masked in everything it writes.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from typing import Any, Callable

from pydantic import BaseModel, Field

from mulligan.agents import agent_needs_llm, check_agent_options, make_agent
from mulligan.envs import default_split, get_suite, import_plugins, make_env, max_concurrency
from mulligan.errors import ConfigError, RunError
from mulligan.records import Trajectory
from mulligan.runner.metrics import summarize
from mulligan.runner.rundir import RunDir

PROVIDER_ERROR = "provider error"
"""The ``end_reason`` of an episode the model's provider failed; such tasks run again on resume."""


class RunConfig(BaseModel):
    """What to run; saved as the run directory's ``config.yaml``."""

    env: str = "mulligan/Household-v0"
    split: str | None = None
    """Task split (None: the suite's default split, e.g. ``unseen`` for the household)."""
    suite: str | None = None
    """Task suite of the env (None: its default suite)."""
    tasks: int | None = 50
    """How many tasks of the split (None: all, for finite suites)."""
    start: int = 0
    """Index of the first task in the split (in the seeded order when ``task_seed`` is set)."""
    task_seed: int | None = None
    """None: the split's tasks in index order; an int: a seeded draw of them (a shuffle of a finite
    split, distinct random indices of an unlimited one)."""
    agent: str = "react"
    model: str | None = None
    """Model spec (``mulligan run --model``); None means the embedded default policy."""
    concurrency: int = 8
    seed: int = 0
    """Seeds env resets (``seed + start + i`` for the i-th task) and the model's sampling."""
    max_steps: int | None = None
    """Env step cap (None: the env's default)."""
    env_options: dict[str, Any] = Field(default_factory=dict)
    """Arguments of the env's constructor (``--env-option KEY=VALUE``)."""
    imports: list[str] = Field(default_factory=list)
    """Modules imported before the env is looked up, for envs they register (``--import``)."""
    agent_options: dict[str, Any] = Field(default_factory=dict)
    memory: str | None = None
    """Memory directory (``--memory``): recalled into every episode's prompt, written back after."""
    memory_options: dict[str, Any] = Field(default_factory=dict)
    """:class:`~mulligan.memory.MemoryConfig` fields (``k``, ``lessons``, ``write``, ``dense``, ...)."""
    out: str = "runs/latest"
    ray: str | None = None
    """Ray cluster (``--ray``): ``auto``, ``local`` or an address; episodes then run in Ray workers
    (:mod:`mulligan.runner.ray_executor`). None runs them in this process."""
    ray_options: dict[str, Any] = Field(default_factory=dict)
    """:class:`~mulligan.runner.ray_executor.RayOptions` fields (``workers``, ``engines``, ``engine_gpus``, ...)."""


class RunResult(BaseModel):
    summary: dict[str, Any]
    new_trajectories: int
    retried: int = 0
    """Tasks run again because their episodes had ended in a provider error."""


ProgressHook = Callable[[Trajectory, int, int, int], None]
"""Called after each episode with (trajectory, done, total, successes)."""


def episode_key(task_id: str) -> str:
    return task_id


async def run_suite(
    config: RunConfig,
    *,
    llm: Any = None,
    resume: bool = False,
    on_episode: ProgressHook | None = None,
    retry_errors: bool = True,
) -> RunResult:
    """Run ``config`` into ``config.out``; returns the run's summary.

    Args:
        llm: The backend to use; built from ``config.model`` when None and the agent needs one.
        resume: Continue a run directory that already holds trajectories.
        on_episode: Progress callback.
        retry_errors: On resume, run again the tasks whose episodes ended in a provider error
            (their old trajectories move to ``retried.jsonl``); False keeps them as they are.

    Raises:
        RunError: The directory holds another run, or another process is writing it.
        ConfigError: A bad agent option, env, suite or split (before any model is loaded).
    """
    import_plugins(config.imports)
    suite = get_suite(config.env, config.suite)
    if config.split is None:
        config = config.model_copy(update={"split": default_split(suite)})
    rundir = RunDir(config.out)
    with rundir.locked():
        return await _run_locked(config, rundir, llm=llm, resume=resume, on_episode=on_episode,
                                 retry_errors=retry_errors)


async def _run_locked(config: RunConfig, rundir: RunDir, *, llm: Any, resume: bool,
                      on_episode: ProgressHook | None, retry_errors: bool) -> RunResult:
    from mulligan.llm.spec import redact

    suite = get_suite(config.env, config.suite)
    cfg = redact(config.model_dump(mode="json"))
    cfg["suite"] = suite.name
    if rundir.trajectories_path.exists() and rundir.trajectories_path.stat().st_size:
        if not resume:
            raise RunError(
                f"{rundir.path} already holds trajectories; pass --resume to finish that run or choose another --out"
            )
        rundir.check_resumable(cfg, defaults={"suite": suite.name, "env_options": {}})
        rundir.repair()
    else:
        resume = False
    task_ids = choose_tasks(suite, config)
    check_agent_options(config.agent, config.agent_options)
    _check_memory_options(config)
    previous = rundir.load_summary() if resume else {}
    rundir.write_config(cfg)

    earlier = rundir.trajectories() if resume else []
    failed_keys = {t.key for t in earlier if t.end_reason == PROVIDER_ERROR} if retry_errors else set()
    rundir.set_aside([t for t in earlier if t.key in failed_keys])
    earlier = [t for t in earlier if t.key not in failed_keys]
    done_keys = {t.key for t in earlier}
    won_keys = {t.key for t in earlier if t.success}
    pending = {tid for tid in task_ids if episode_key(tid) not in done_keys}

    memory = _open_memory(config)
    started = time.perf_counter()
    successes = sum(1 for tid in task_ids if episode_key(tid) in won_keys)
    done = len(task_ids) - len(pending)
    written = 0

    def record(trajs: list[Trajectory]) -> None:
        # Never awaits: one event loop thread, so the appends never interleave.
        nonlocal done, successes, written
        rundir.append(trajs)
        if memory is not None:
            memory.remember(trajs)
        written += len(trajs)
        done += 1
        successes += int(any(t.success for t in trajs))
        if on_episode:
            on_episode(trajs[-1], done, len(task_ids), successes)

    todo = [(i, tid) for i, tid in enumerate(task_ids) if tid in pending]
    try:
        if config.ray:
            from mulligan.runner.ray_executor import run_on_ray

            await run_on_ray(config, todo, llm=llm, record=record, memory=memory)
        else:
            await _run_in_process(config, todo, llm=llm, record=record, memory=memory)
    finally:
        if memory is not None:
            memory.close()

    trajectories = rundir.trajectories()
    summary = summarize(trajectories)
    summary.update(
        env=config.env,
        split=config.split,
        agent=config.agent,
        model=cfg["model"] or ("default" if agent_needs_llm(config.agent) else None),
        wall_s=previous.get("wall_s", 0.0) + (time.perf_counter() - started),
        resumed=resume,
        retried_provider_errors=len(failed_keys),
    )
    summary["episodes_per_s"] = summary["episodes"] / summary["wall_s"] if summary["wall_s"] else 0.0
    rundir.write_summary(summary)
    return RunResult(summary=summary, new_trajectories=written, retried=len(failed_keys))


DEFAULT_TASKS = 50
"""Tasks of an unlimited (generated) split run when no count is given."""


def default_task_count(env: str, suite: str | None, split: str) -> int | None:
    """No count given: None (all tasks) for a finite split, :data:`DEFAULT_TASKS` for an unlimited one."""
    try:
        get_suite(env, suite).task_ids(split, None)
    except ConfigError:
        return DEFAULT_TASKS
    return None


def choose_tasks(suite: Any, config: RunConfig) -> list[str]:
    """The task ids a run covers: index order, or a seeded draw with ``config.task_seed``.

    Raises:
        ConfigError: Bad split, counts past a finite split's end, or no count for an unlimited one.
    """
    n, start = config.tasks, config.start
    if config.task_seed is None:
        return suite.task_ids(config.split, n, start=start)
    rng = random.Random(f"tasks|{config.task_seed}")
    try:
        pool = suite.task_ids(config.split, None)
    except ConfigError:
        pool = None
    if pool is not None:
        rng.shuffle(pool)
        end = len(pool) if n is None else start + n
        if start < 0 or end > len(pool):
            raise ConfigError(f"split {config.split!r} has {len(pool)} tasks; asked for {start}..{end}")
        return pool[start:end]
    if n is None:
        raise ConfigError(f"split {config.split!r} is unlimited: say how many tasks (--tasks)")
    picked: dict[int, None] = {}
    while len(picked) < start + n:
        picked.setdefault(rng.randrange(2**31 - 1))
    return [suite.task_ids(config.split, 1, start=i)[0] for i in list(picked)[start:]]


async def _run_in_process(config: RunConfig, todo: list[tuple[int, str]], *, llm: Any, record: Callable[..., None],
                          memory: Any) -> None:
    """Run the ``(index, task id)`` episodes here, ``config.concurrency`` at a time."""
    owns_llm = False
    if llm is None and agent_needs_llm(config.agent):
        llm = make_llm_for(config.model, seed=config.seed)
        owns_llm = True
    agent = make_agent(config.agent, _batched(llm), **config.agent_options)
    agent.memory = memory
    # An env may say how many of it can run at once (ScienceWorld starts a JVM per instance).
    semaphore = asyncio.Semaphore(max(1, min(config.concurrency, max_concurrency(config.env) or config.concurrency)))

    async def one(index: int, task_id: str) -> None:
        async with semaphore:
            trajs = await _run_one(agent, config, task_id, seed=episode_seed(config, index))
        record(trajs)

    try:
        await asyncio.gather(*(one(i, tid) for i, tid in todo))
    finally:
        if owns_llm and hasattr(llm, "close"):
            llm.close()


def episode_seed(config: RunConfig, index: int) -> int:
    """The env/sampling seed of the ``index``-th task of a run (the same on every executor)."""
    return config.seed + config.start + index


async def _run_one(agent: Any, config: RunConfig, task_id: str, *, seed: int) -> list[Trajectory]:
    """One task; any exception becomes a failed trajectory carrying the error."""
    kwargs = {**config.env_options, **({"max_steps": config.max_steps} if config.max_steps else {})}
    env = None
    try:
        env = make_env(config.env, **kwargs)
        trajs = await agent.run_task(env, task_id, key=episode_key(task_id), seed=seed)
    except Exception as e:  # noqa: BLE001 - a bad episode is data, not a crash
        trajs = [
            Trajectory(
                key=episode_key(task_id),
                env=config.env,
                task_id=task_id,
                split=config.split,
                agent=config.agent,
                model=_redacted(config.model) or "",
                end_reason="error",
                error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}",
            )
        ]
    finally:
        if env is not None:
            env.close()
    for t in trajs:
        t.key = episode_key(task_id)
        t.split = t.split or config.split
    return trajs


def _check_memory_options(config: RunConfig) -> None:
    if config.memory:
        from mulligan.memory.episodes import MemoryConfig
        from mulligan.options import build_options

        build_options(MemoryConfig, config.memory_options, "memory")


def _open_memory(config: RunConfig):
    """The run's memory, or None without ``--memory`` (imported here: most runs have none)."""
    if not config.memory:
        return None
    from mulligan.memory import EpisodeMemory

    return EpisodeMemory(config.memory, **config.memory_options)


def make_llm_for(model: str | None, seed: int | None = None):
    """Build the backend for a model spec; None is the embedded default policy.

    ``seed`` seeds the backend's sampling where it takes a ``seed`` option and the spec sets none.
    """
    from mulligan.llm import make_llm
    from mulligan.llm.spec import takes_option

    spec = model or "default"
    return make_llm(spec, **({"seed": seed} if seed is not None and takes_option(spec, "seed") else {}))


def _redacted(model: str | None) -> str | None:
    from mulligan.llm.spec import redact

    return redact(model)


def _batched(llm: Any):
    """Wrap batch-capable backends so concurrent episodes share generate calls."""
    if llm is None or getattr(llm, "max_batch_size", 1) <= 1:
        return llm
    from mulligan.llm.batching import BatchingLLM

    if isinstance(llm, BatchingLLM):
        return llm
    # Episodes in flight share one event loop: every ready episode asks within the same tick,
    # and requests queue while a batch runs, so no wall-clock wait is needed.
    return BatchingLLM(llm, max_wait_ms=0)


def run(config: RunConfig, **kwargs: Any) -> RunResult:
    """Synchronous wrapper of :func:`run_suite`."""
    return asyncio.run(run_suite(config, **kwargs))
