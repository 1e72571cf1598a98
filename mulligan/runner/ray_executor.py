"""Episodes on a Ray cluster: workers run them, engines answer their model calls, the driver writes.

``run_suite`` hands the pending episodes here when ``RunConfig.ray`` is set:

- **Workers** are Ray actors (one per node with CPUs by default), each running many episodes at
  once with its own env instances, sandboxes included.
- **Engines** are Ray actors holding a local model (``transformers:``, ``vllm:``, ``default``;
  ``engine_gpus`` of a GPU each). Every episode is pinned to one engine for all its calls, so the
  engine's prefix cache holds its transcript; the engine batches the calls of all episodes (vLLM
  schedules them itself). API and scripted backends are built in each worker instead.
- **The driver** alone writes the run directory: a worker sends each finished episode back and
  the driver appends it, so resume, no-duplicate and torn-line guarantees hold as in process.
- A worker or engine that dies (its node lost, its process killed) takes its episodes with it:
  they rerun on a live one, and the trajectory lists why in ``retries``. An episode is recorded
  exactly once, when its result reaches the driver; after ``max_attempts`` losses it is recorded
  as a failed episode with the reasons, never dropped.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from mulligan.agents import agent_needs_llm, make_agent
from mulligan.errors import ConfigError, DependencyNotInstalled
from mulligan.records import Trajectory
from mulligan.runner.runner import RunConfig, _batched, _run_one, episode_key, episode_seed

ENGINE_BACKENDS = ("transformers", "vllm", "default")
"""Spec backends that hold a model in memory: they run as engine actors, not in every worker."""


class RayOptions(BaseModel):
    """How the run uses the cluster (``--ray-option KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    workers: int | None = None
    """Episode workers; None: one per alive node with CPUs."""
    engines: int | None = None
    """Model engines for a local-model spec; None: one per alive node with CPUs (or GPUs)."""
    engine_gpus: float = 0.0
    """GPUs per engine (0.5 puts two engines on a GPU; 0 runs them on CPU)."""
    engine_cpus: float = 1.0
    worker_cpus: float = 1.0
    max_attempts: int = 3
    """Tries per episode when the worker or engine running it dies."""


def ray_options(options: dict[str, Any]) -> RayOptions:
    """Validate ``--ray-option`` pairs; a misspelt or ill-typed one is a ConfigError naming it."""
    try:
        return RayOptions(**options)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"bad Ray option ({problems}); options: {', '.join(RayOptions.model_fields)}") from None


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise DependencyNotInstalled("ray", "ray", "needed by --ray") from e
    return ray


def connect(address: str) -> Any:
    """Join (``auto``, an address) or start (``local``) a cluster, once per process; returns ``ray``."""
    ray = import_ray()
    if not ray.is_initialized():
        target = None if address == "local" else address
        try:
            ray.init(address=target, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except Exception as e:  # noqa: BLE001 - Ray raises bare Exception when a local raylet times out
            what = "start a local Ray cluster" if target is None else f"reach the Ray cluster {address!r}"
            raise ConfigError(f"cannot {what}: {_first_line(e)}") from e
    return ray


def start_local_cluster(nodes: int, cpus_per_node: float = 1, tries: int = 3) -> Any:
    """A multi-node Ray cluster on this machine (each node a raylet of its own), this process connected.

    The head holds no CPUs, so workers and engines run on the ``nodes`` worker nodes; for tests,
    benchmarks and trying failover (``cluster.remove_node``). Ray gives a starting raylet 30 s to
    register, which a heavily loaded machine can exceed: the cluster is then started again.
    Returns the ``ray.cluster_utils.Cluster``; ``ray.shutdown()`` then ``cluster.shutdown()`` end it.
    """
    ray = import_ray()
    from ray.cluster_utils import Cluster

    for attempt in range(tries):
        cluster = Cluster()
        try:
            cluster.add_node(num_cpus=0, include_dashboard=False)
            for _ in range(nodes):
                cluster.add_node(num_cpus=cpus_per_node)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
            return cluster
        except Exception:
            cluster.shutdown()
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray errors meaning a process or node went away (the episode reruns), not a bug in it."""
    names = ("RayActorError", "WorkerCrashedError", "ObjectLostError", "NodeDiedError", "OwnerDiedError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


def _alive_nodes(ray: Any, resource: str = "CPU") -> int:
    return sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(resource, 0) > 0)


# -- actors (plain classes; ray.remote is applied when a run starts, so importing stays light) --

class EngineActor:
    """One model engine: the backend a factory builds, behind the batching layer where it needs one."""

    def __init__(self, factory: Callable[[], Any]):
        self.llm = _batched(factory())

    def info(self) -> dict[str, Any]:
        from mulligan.llm.base import can_score

        return {"name": self.llm.name, "supports_tools": bool(self.llm.supports_tools),
                "supports_scoring": can_score(self.llm)}

    async def generate(self, requests: list[Any]) -> list[Any]:
        return await self.llm.generate(requests)

    async def score(self, requests: list[Any]) -> list[list[float]]:
        return await self.llm.score(requests)


class EngineLost(RuntimeError):
    """The engine an episode was pinned to died; the episode is rerun elsewhere."""


class EngineClient:
    """An LLM whose calls go to one engine actor (the episode's, so its prefix cache stays warm)."""

    max_batch_size = 1  # the engine batches across episodes; nothing to coalesce here

    def __init__(self, engine: Any, info: dict[str, Any], lost_errors: tuple[type[BaseException], ...]):
        self.engine = engine
        self.name = info["name"]
        self.supports_tools = info["supports_tools"]
        self.supports_scoring = info["supports_scoring"]
        self._lost_errors = lost_errors
        self.lost: str | None = None

    async def _call(self, method: str, requests: list[Any]) -> Any:
        try:
            return await getattr(self.engine, method).remote(requests)
        except self._lost_errors as e:
            self.lost = f"engine died: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            raise EngineLost(self.lost) from e

    async def generate(self, requests: list[Any]) -> list[Any]:
        return await self._call("generate", requests)

    async def score(self, requests: list[Any]) -> list[list[float]]:
        return await self._call("score", requests)

    def close(self) -> None:
        pass


class WorkerActor:
    """Runs episodes of one run config, each with its own env; returns them as JSON for the driver."""

    def __init__(self, config: RunConfig, llm_factory: Callable[[], Any] | None):
        self.config = config
        self.llm = _batched(llm_factory()) if llm_factory is not None else None
        ray = import_ray()
        self._lost = _lost_errors(ray)

    def ready(self) -> bool:
        return True

    async def run(self, index: int, task_id: str, engine: Any = None, info: dict[str, Any] | None = None
                  ) -> tuple[str | None, str | None]:
        """One task: (its trajectories as a JSON list, None), or (None, why it was lost)."""
        llm = EngineClient(engine, info or {}, self._lost) if engine is not None else self.llm
        agent = make_agent(self.config.agent, llm, **self.config.agent_options)
        trajs = await _run_one(agent, self.config, task_id, seed=episode_seed(self.config, index))
        if isinstance(llm, EngineClient) and llm.lost:
            return None, llm.lost
        return "[" + ",".join(t.model_dump_json() for t in trajs) + "]", None


# -- the driver's side --------------------------------------------------------------------------

@dataclass
class _Member:
    """A worker or engine actor and how many episodes it has in flight."""

    actor: Any
    load: int = 0
    alive: bool = True
    info: dict[str, Any] = field(default_factory=dict)


class _Pool:
    """Actors of one kind: the least loaded live one takes the next episode; dead ones are dropped."""

    def __init__(self, start: Callable[[], Any], n: int):
        self._start = start
        self.n = n
        self.members = [_Member(start()) for _ in range(n)]

    def live(self) -> list[_Member]:
        if not any(m.alive for m in self.members):
            # Everything died: start afresh (Ray places them when the cluster has room again).
            self.members = [_Member(self._start()) for _ in range(self.n)]
        return [m for m in self.members if m.alive]

    def pick(self, limit: int | None = None) -> _Member | None:
        member = min(self.live(), key=lambda m: m.load)
        return member if limit is None or member.load < limit else None


class RayEngines:
    """Engine actors built from one model factory; pass one as ``llm`` to share it between runs.

    Args:
        factory: Builds the backend on the engine's node (e.g. ``functools.partial(make_llm, spec)``).
        options: Placement (``engines``, ``engine_gpus``, ``engine_cpus``).
        address: The cluster (``auto``, ``local`` or an address).
    """

    def __init__(self, factory: Callable[[], Any], options: RayOptions, address: str = "local"):
        ray = connect(address)
        n = options.engines or max(1, _alive_nodes(ray, "GPU" if options.engine_gpus else "CPU"))
        actor = ray.remote(num_cpus=options.engine_cpus, num_gpus=options.engine_gpus)(EngineActor)
        self._ray = ray
        self.pool = _Pool(lambda: actor.options(scheduling_strategy="SPREAD").remote(factory), n)
        self._check()

    def _check(self) -> None:
        for m in self.pool.members:
            try:
                m.info = self._ray.get(m.actor.info.remote())
            except Exception as e:  # noqa: BLE001 - the engine could not start: a config error
                raise ConfigError(f"a Ray engine failed to start: {_first_line(e)}") from e

    def pick(self) -> _Member:
        member = self.pool.pick()
        assert member is not None
        if not member.info:
            self._check()
        return member

    def lose(self, member: _Member) -> None:
        member.alive = False
        self._ray.kill(member.actor, no_restart=True)

    def close(self) -> None:
        for m in self.pool.members:
            self._ray.kill(m.actor, no_restart=True)
        self.pool.members = []


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[-1] if text else ''}"[:300]


def _local_factory(config: RunConfig, llm: Any) -> Callable[[], Any] | None:
    """How each worker gets its own (API or scripted) backend, or None where engines answer."""
    if llm is not None:
        import cloudpickle

        try:
            blob = cloudpickle.dumps(llm)
        except Exception as e:  # noqa: BLE001 - e.g. a model holding locks and threads
            raise ConfigError(
                f"cannot ship the backend {getattr(llm, 'name', llm)!r} to Ray workers ({_first_line(e)}); "
                "give a model spec instead (RunConfig.model) so engines are built on the cluster"
            ) from e
        return functools.partial(cloudpickle.loads, blob)
    from mulligan.llm.spec import make_llm

    return functools.partial(make_llm, config.model or "default")


def engine_factory(spec: str | None) -> Callable[[], Any] | None:
    """A factory building ``spec`` on an engine's node, or None when the spec is an API/scripted one."""
    from mulligan.llm.spec import make_llm, parse_spec

    spec = spec or "default"
    if parse_spec(spec).backend not in ENGINE_BACKENDS:
        return None
    return functools.partial(make_llm, spec)


async def run_on_ray(config: RunConfig, todo: list[tuple[int, str]], *, llm: Any, record: Callable[..., None],
                     memory: Any = None) -> None:
    """Run the ``(index, task id)`` episodes of ``config`` on its Ray cluster; ``record`` each result.

    Args:
        llm: None (engines or per-worker backends from ``config.model``), a :class:`RayEngines`
            to share, or a backend object each worker gets a copy of (API or scripted backends).
        record: Called in this process with each episode's trajectories, once per episode.
    """
    if memory is not None:
        raise ConfigError("--memory is not supported with --ray yet: run the memory run in process")
    options = ray_options(config.ray_options)
    ray = connect(config.ray or "local")
    engines: RayEngines | None = None
    owns_engines = False
    local: Callable[[], Any] | None = None
    if agent_needs_llm(config.agent):
        if isinstance(llm, RayEngines):
            engines = llm
        elif llm is None and (factory := engine_factory(config.model)) is not None:
            engines, owns_engines = RayEngines(factory, options, config.ray or "local"), True
        else:
            local = _local_factory(config, llm)
    workers: _Pool | None = None
    try:
        workers = await _start_workers(ray, config, options, local)
        await _dispatch(config, todo, workers, engines, options, _lost_errors(ray), record)
    finally:
        for m in workers.members if workers is not None else []:
            ray.kill(m.actor, no_restart=True)
        if owns_engines and engines is not None:
            engines.close()


async def _start_workers(ray: Any, config: RunConfig, options: RayOptions, local: Callable[[], Any] | None) -> _Pool:
    n = options.workers or max(1, _alive_nodes(ray))
    actor = ray.remote(num_cpus=options.worker_cpus)(WorkerActor)
    workers = _Pool(lambda: actor.options(scheduling_strategy="SPREAD").remote(config, local), n)
    try:
        for m in workers.members:
            await asyncio.wrap_future(m.actor.ready.remote().future())
    except Exception as e:  # noqa: BLE001 - e.g. the backend's constructor failed in the worker
        for m in workers.members:
            ray.kill(m.actor, no_restart=True)
        raise ConfigError(f"a Ray worker failed to start: {_first_line(e)}") from e
    return workers


async def _dispatch(config: RunConfig, todo: list[tuple[int, str]], workers: _Pool, engines: RayEngines | None,
                    options: RayOptions, lost: tuple[type[BaseException], ...], record: Callable[..., None]) -> None:
    """Keep every live worker busy, pin each episode to an engine, record results, rerun the lost."""
    per_worker = max(1, math.ceil(config.concurrency / workers.n))
    queue = deque(todo)
    reasons: dict[str, list[str]] = {}
    running: dict[asyncio.Future[Any], tuple[int, str, _Member, _Member | None]] = {}

    def again(index: int, task_id: str, why: str) -> None:
        reasons.setdefault(task_id, []).append(why)
        if len(reasons[task_id]) < options.max_attempts:
            queue.appendleft((index, task_id))
            return
        record([_failed(config, task_id, f"lost {len(reasons[task_id])} times; last: {why}", reasons[task_id])])

    try:
        while queue or running:
            while queue and (w := workers.pick(per_worker)) is not None:
                index, task_id = queue.popleft()
                e = engines.pick() if engines is not None else None
                ref = w.actor.run.remote(index, task_id, e.actor if e else None, e.info if e else None)
                w.load += 1
                if e is not None:
                    e.load += 1
                running[asyncio.wrap_future(ref.future())] = (index, task_id, w, e)
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for future in finished:
                index, task_id, w, e = running.pop(future)
                w.load -= 1
                if e is not None:
                    e.load -= 1
                try:
                    payload, why = future.result()
                except lost as err:
                    w.alive = False
                    again(index, task_id, f"worker died: {_first_line(err)}")
                    continue
                except Exception as err:  # noqa: BLE001 - a bug in the episode's code: recorded, not fatal
                    record([_failed(config, task_id, _first_line(err), reasons.get(task_id, []))])
                    continue
                if why is not None:
                    if e is not None and e.alive and engines is not None:
                        engines.lose(e)
                    again(index, task_id, why)
                    continue
                trajs = [Trajectory.model_validate(t) for t in _loads(payload)]
                for t in trajs:
                    t.retries = list(reasons.get(task_id, []))
                record(trajs)
    finally:
        for future in running:
            future.cancel()


def _loads(payload: str | None) -> list[dict[str, Any]]:
    import json

    return json.loads(payload or "[]")


def _failed(config: RunConfig, task_id: str, error: str, retries: list[str]) -> Trajectory:
    return Trajectory(
        key=episode_key(task_id), env=config.env, task_id=task_id, split=config.split, agent=config.agent,
        model=config.model or "", end_reason="error", error=error, retries=list(retries),
    )
