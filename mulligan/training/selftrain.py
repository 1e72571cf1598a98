"""The self-training loop: collect -> export -> fine-tune -> evaluate, N times.

Each iteration K lives in ``OUT/iter-K/``:

- ``collect/<run>/``: run directories of the current policy on the training tasks, sampled (see
  :mod:`mulligan.training.methods` for what each method runs);
- ``data/rows.jsonl``: this iteration's rows in the method's formats (see
  :mod:`mulligan.training.selftrain_data`: no-effect actions without loss, never expert rows),
  ``data/train.jsonl``: what the trainer sees (``init="base"``: the rows of iterations 1..K);
- ``model/``: the new checkpoint (a plain folder every backend loads);
- ``eval/``: a greedy ReAct run of the new checkpoint on the evaluation split (the ``eval`` stage
  records the checkpoint's path and :func:`weights_digest`, ``policy_weights`` in the metrics);
- ``stages.json``: the stages finished so far, with their results and wall times;
- ``metrics.json``: the iteration's metrics (:mod:`mulligan.training.iteration_metrics`).

``OUT/iter-0/eval`` evaluates the bootstrap policy; ``OUT/metrics.jsonl`` holds every iteration's
metrics and ``OUT/metrics.png`` plots them (when matplotlib is installed). An interrupted loop
resumes at its first unfinished stage: finished stages are skipped, an interrupted collection or
evaluation finishes through the runner's own resume, an interrupted export or training is redone.

Why fine-tune from the bootstrap (``init="base"``) by default: as in STaR, every checkpoint is
trained from the same starting point on all self-generated data so far, so errors do not compound
through repeated fine-tuning on the model's own outputs, and an iteration is reproducible from its
data alone. ``init="previous"`` continues from the last checkpoint on the new data only.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import yaml
from rich.console import Console

from mulligan.errors import RunError
from mulligan.records import Trajectory
from mulligan.registry import resolve
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run_suite
from mulligan.training.export import load_trajectories, write_rows
from mulligan.training.finetune import finetune, resolve_checkpoint
from mulligan.training.iteration_metrics import recovery, sampling_metrics, trial_transitions
from mulligan.training.methods import RESUME_EXEMPT, CollectRun, SelfTrainConfig, get_method
from mulligan.training.rowfile import load_rows
from mulligan.training.selftrain_data import iteration_rows, unique_rows
from mulligan.training.selftrain_report import write_metrics
from mulligan.training.selftrain_views import after_iteration
from mulligan.training.trackers import check_report_to

CONFIG_FILE = "selftrain.yaml"


class Stages:
    """The finished stages of one iteration (``stages.json``), each with its result and wall time."""

    def __init__(self, folder: Path):
        self.path = folder / "stages.json"
        self.done: dict[str, dict[str, Any]] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def run(self, name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The result of stage ``name``: recorded if it finished before, else ``work()`` run now."""
        if name in self.done:
            return self.done[name]
        started = time.perf_counter()
        result = dict(work())
        result["wall_s"] = time.perf_counter() - started
        self.done[name] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name("stages.json.tmp")
        tmp.write_text(json.dumps(self.done, indent=2))
        tmp.replace(self.path)
        return result


LLMFactory = Callable[[Path], Any]
"""Builds the backend of a checkpoint folder (tests swap in scripted policies)."""


def transformers_llm(model: Path) -> Any:
    """The default :data:`LLMFactory`: the checkpoint on the transformers backend."""
    from mulligan.llm import make_llm

    return make_llm(f"transformers:{model}")


async def _run_all(configs: list[RunConfig], llm: Any, console: Console | None, label: str) -> None:
    """Run several run configs of one policy at once, their model calls batched together."""
    from mulligan.llm import BatchingLLM

    total = sum(c.tasks or 0 for c in configs)
    done = 0

    def on_episode(traj: Trajectory, *_: Any) -> None:
        nonlocal done
        done += 1
        if console is not None and (done == total or done % max(1, total // 10) == 0):
            console.print(f"  {label}: {done}/{total} tasks", highlight=False)

    if not configs[0].ray:  # on Ray, the engines batch
        llm = BatchingLLM(llm, max_wait_ms=0)
    try:
        await asyncio.gather(*(run_suite(c, llm=llm, resume=True, on_episode=on_episode) for c in configs))
    finally:
        llm.close()


def _policy_llm(config: SelfTrainConfig, model: Path, llm_factory: LLMFactory) -> Any:
    """The backend of ``model``: built here, or as engine actors on the Ray cluster with ``--ray``."""
    if not config.ray:
        return llm_factory(model)
    from mulligan.runner.ray_executor import RayEngines, ray_options

    return RayEngines(functools.partial(llm_factory, model), ray_options(config.ray_options), config.ray)


def _run_config(config: SelfTrainConfig, model: Path, out: Path, *, split: str, tasks: int, start: int = 0,
                agent: str = "react", options: dict[str, Any] | None = None, share: int = 1) -> RunConfig:
    return RunConfig(
        env=config.env, split=split, tasks=tasks, start=start, agent=agent, model=str(model),
        concurrency=max(1, config.concurrency // share), seed=config.seed, max_steps=config.max_steps,
        agent_options={**({"admissible": config.admissible} if config.admissible != "off" else {}), **(options or {})},
        out=str(out), ray=config.ray, ray_options=config.ray_options,
    )


def weights_digest(model: Path) -> str:
    """sha256 (16 hex digits) of a checkpoint's weight files: which weights a run used."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model).iterdir() if p.suffix in (".safetensors", ".bin")):
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def evaluate(config: SelfTrainConfig, model: Path, out: Path, console: Console | None = None,
             llm_factory: LLMFactory = transformers_llm) -> dict[str, Any]:
    """Run ``model`` greedily with ReAct on the evaluation tasks (resuming ``out``); returns its metrics,
    with the checkpoint's path and :func:`weights_digest`."""
    weights = weights_digest(model)
    run = _run_config(config, model, out, split=config.eval_split, tasks=config.eval_tasks)
    asyncio.run(_run_all([run], _policy_llm(config, model, llm_factory), console, f"eval {out.parent.name}"))
    trajs = RunDir(out).trajectories()
    rec = recovery(trajs)
    return {
        "model": str(model),
        "weights": weights,
        "tasks": len(trajs),
        "success": sum(t.success for t in trajs) / len(trajs) if trajs else 0.0,
        "recovery": rec["rate"],
        "errors": rec["errors"],
        "recovered": rec["recovered"],
        "avg_steps": sum(t.num_steps for t in trajs) / len(trajs) if trajs else 0.0,
    }


class SelfTrainer:
    """Runs the loop of one :class:`SelfTrainConfig` (see the module docstring).

    Args:
        config: What to run.
        console: Where stage progress is printed (None: quiet).
        llm_factory: Builds the backend of a checkpoint (default: transformers).
    """

    def __init__(self, config: SelfTrainConfig, console: Console | None = None,
                 llm_factory: LLMFactory = transformers_llm):
        self.config = config
        self.llm_factory = llm_factory
        self.method = get_method(config.method)
        self.out = Path(config.out)
        self.console = console
        self.bootstrap = resolve_checkpoint(config.model)
        check_report_to(config.report_to)

    def _say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, highlight=False)

    def prepare(self, resume: bool) -> None:
        """Write ``selftrain.yaml``, or check it against the config when resuming."""
        path = self.out / CONFIG_FILE
        current = self.config.model_dump(mode="json")
        if path.exists():
            if not resume:
                raise RunError(f"{self.out} already holds a self-training run; pass --resume or choose another --out")
            saved = yaml.safe_load(path.read_text()) or {}
            diffs = [f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in current.items()
                     if k not in RESUME_EXEMPT and saved.get(k) != v]
            if diffs:
                raise RunError(f"cannot resume {self.out}: the config changed ({'; '.join(diffs)})")
        self.out.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(current, sort_keys=False))

    def run(self, *, resume: bool = False) -> list[dict[str, Any]]:
        """Run (or resume) every iteration; returns the metrics records, iteration 0 first."""
        self.prepare(resume)
        records = []
        if self.config.eval_bootstrap:
            folder = self.out / "iter-0"
            result = Stages(folder).run("eval", lambda: self._evaluate(self.bootstrap, folder))
            records.append(self._record(0, self.bootstrap, {"eval": result}, folder))
            after_iteration(self.config, self.out, records, self._say)
        policy = self.bootstrap
        for k in range(1, self.config.iterations + 1):
            record = self.iteration(k, policy)
            records.append(record)
            after_iteration(self.config, self.out, records, self._say)
            policy = Path(record["policy"])
        note = write_metrics(self.out, records)
        if note:
            self._say(f"[yellow]note:[/yellow] {note}")
        return records

    def iteration(self, k: int, policy: Path) -> dict[str, Any]:
        """Run (or finish) iteration ``k`` starting from ``policy``; returns its metrics record."""
        folder = self.out / f"iter-{k}"
        stages = Stages(folder)
        runs = self.method.runs(self.config)
        self._say(f"[bold]{self.method.name} iteration {k}[/bold] ({folder})")
        if self.method.online:
            online = resolve(self.method.name, {self.method.name: self.method.online}, "method")
            results = {"train": stages.run("train", lambda: online(self.config, policy, folder, self.console))}
        else:
            results = {
                "collect": stages.run("collect", lambda: self._collect(runs, policy, folder / "collect")),
                "export": stages.run("export", lambda: self._export(k, runs, folder)),
            }
            results["train"] = stages.run("train", lambda: self._train(results["export"], policy, folder))
        model = folder / "model"
        results["eval"] = stages.run("eval", lambda: self._evaluate(model, folder))
        return self._record(k, model, results, folder, runs)

    def _evaluate(self, model: Path, folder: Path) -> dict[str, Any]:
        return evaluate(self.config, model, folder / "eval", self.console, self.llm_factory)

    def _collect(self, runs: list[CollectRun], policy: Path, folder: Path) -> dict[str, Any]:
        import torch

        torch.manual_seed(self.config.seed)
        configs = [
            _run_config(self.config, policy, folder / r.name, split=self.config.train_split,
                        tasks=self.config.train_tasks, start=self.config.train_start, agent=r.agent,
                        options=r.options, share=len(runs))
            for r in runs
        ]
        llm = _policy_llm(self.config, policy, self.llm_factory)
        asyncio.run(_run_all(configs, llm, self.console, f"collect {folder.parent.name}"))
        return {"runs": [r.name for r in runs]}

    def _export(self, k: int, runs: list[CollectRun], folder: Path) -> dict[str, Any]:
        trajs = load_trajectories([folder / "collect" / r.name for r in runs])
        rows = iteration_rows(trajs, self.method.formats, mask=self.config.mask_no_effect)
        write_rows(rows, folder / "data" / "rows.jsonl")
        train = rows
        if self.config.init == "base":
            files = [self.out / f"iter-{j}" / "data" / "rows.jsonl" for j in range(1, k)]
            earlier = [r for f in files if f.exists() and f.stat().st_size for r in load_rows(f)]
            train = unique_rows(earlier + rows)
        write_rows(train, folder / "data" / "train.jsonl")
        by_source = dict(Counter(r.get("source", "?") for r in rows))
        self._say(f"  export: {len(rows)} new rows {by_source}, {len(train)} to train on")
        return {"rows": len(rows), "train_rows": len(train), "by_source": by_source}

    def _train(self, exported: dict[str, Any], policy: Path, folder: Path) -> dict[str, Any]:
        model = folder / "model"
        shutil.rmtree(model, ignore_errors=True)
        if not exported["train_rows"]:
            # Nothing to learn from: the policy carries over unchanged, so the next iteration has one.
            shutil.copytree(policy, model)
            self._say("  train: no rows; the policy carries over unchanged")
            return {"trained": False, "rows": 0, "loss": None}
        base = self.bootstrap if self.config.init == "base" else policy
        c = self.config
        result = finetune(folder / "data" / "train.jsonl", str(base), model, epochs=c.epochs, lr=c.lr,
                          batch_size=c.batch_size, max_length=c.max_length, lora=c.lora, seed=c.seed,
                          progress=False, report_to=c.report_to, run_name=f"{self.out.name}/{folder.name}")
        self._say(f"  train: {result.rows} rows from {base.name}, loss {result.final_loss}, {result.wall_s:.0f} s")
        return {"trained": True, "rows": result.rows, "loss": result.final_loss}

    def _record(self, k: int, model: Path, results: dict[str, dict[str, Any]], folder: Path,
                runs: list[CollectRun] | None = None) -> dict[str, Any]:
        ev = results["eval"]
        record: dict[str, Any] = {
            "method": self.method.name, "iteration": k, "policy": str(model), "policy_weights": ev.get("weights"),
            "success": ev["success"], "eval_tasks": ev["tasks"], "recovery": ev["recovery"],
            "eval_errors": ev["errors"], "eval_recovered": ev["recovered"],
            "stage_wall_s": {name: r["wall_s"] for name, r in results.items()},
        }
        record["wall_s"] = sum(record["stage_wall_s"].values())
        if runs:
            record.update(collect_metrics(folder / "collect", runs, self.config.samples))
            record.update(rows=results["export"]["rows"], rows_by_source=results["export"]["by_source"],
                          trained=results["train"]["trained"], loss=results["train"]["loss"])
        elif "metrics" in results.get("train", {}):
            record.update(results["train"]["metrics"])
        (folder / "metrics.json").write_text(json.dumps(record, indent=2))
        return record


def collect_metrics(folder: Path, runs: list[CollectRun], k: int) -> dict[str, Any]:
    """Sampling metrics of an iteration's collection: pass@k, diversity, recovery, CL/CS."""
    sample_trajs = [t for r in runs if r.samples for t in RunDir(folder / r.name).trajectories()]
    first = [t for t in sample_trajs if t.trial == 0]
    sampling = sampling_metrics(first, k)
    trials = trial_transitions(sample_trajs)
    rec = recovery(first)
    return {
        "collect_success": sum(t.success for t in first) / len(first) if first else None,
        "pass@1": sampling["pass@1"], "pass@k": sampling[f"pass@{k}"], "k": k, "diversity": sampling["diversity"],
        "collect_recovery": rec["rate"],
        "cl": trials["cl"], "cs": trials["cs"], "cl_pairs": trials["correct"], "cs_pairs": trials["wrong"],
    }


def selftrain(config: SelfTrainConfig, *, resume: bool = False, console: Console | None = None,
              llm_factory: LLMFactory = transformers_llm) -> list[dict[str, Any]]:
    """Run the self-training loop of ``config`` (see the module docstring).

    Args:
        config: The method, iterations, task counts and training settings.
        resume: Continue the run in ``config.out`` at its first unfinished stage.
        console: Where progress is printed (None: quiet).
        llm_factory: Builds the backend of a checkpoint (default: transformers).

    Returns:
        The metrics records (iteration 0, the bootstrap, first when evaluated), also in ``OUT/metrics.jsonl``.

    Raises:
        RunError: ``config.out`` holds a run and ``resume`` is False, or its config differs.
        ConfigError: Unknown method or a bad bootstrap checkpoint.
    """
    return SelfTrainer(config, console, llm_factory).run(resume=resume)
