"""The embedded default policy: a tiny transformer trained here from expert demonstrations.

On first use, :func:`ensure_default_policy` runs the household expert agent on the ``train``
split (through the same ReAct transcript builder every agent uses, so prompts hold only what an
agent may see), trains a byte-level BPE tokenizer and a tiny Llama on those transcripts with
TRL (loss on assistant turns only), and caches the checkpoint under ``$MULLIGAN_HOME`` (default
``~/.cache/mulligan``). The model spec ``default`` resolves to that checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel

from mulligan.records import Message, Trajectory

HOUSEHOLD = "mulligan/Household-v0"


class Recipe(BaseModel):
    """How the default policy is built; any change gives a new cache directory."""

    demos: int = 2000
    noise: float = 0.15
    """Share of expert turns perturbed during collection (masked out; the recoveries are trained)."""
    vocab_size: int = 1024
    hidden_size: int = 192
    num_layers: int = 3
    num_heads: int = 4
    epochs: float = 5.0
    lr: float = 2e-3
    batch_size: int = 8
    max_length: int = 2048
    seed: int = 0
    version: int = 1

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:10]


RECIPE = Recipe()


def cache_root() -> Path:
    """Where mulligan caches built artefacts (``$MULLIGAN_HOME`` or ``~/.cache/mulligan``)."""
    return Path(os.environ.get("MULLIGAN_HOME") or Path.home() / ".cache" / "mulligan")


def default_policy_dir(recipe: Recipe = RECIPE) -> Path:
    return cache_root() / f"default-policy-{recipe.digest()}"


def is_built(path: Path) -> bool:
    return (path / "READY").exists()


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """One builder at a time across processes (tests and a CLI run may race on first use)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def collect_demonstrations(n: int, *, split: str = "train", seed: int = 0, noise: float = 0.0) -> list[Trajectory]:
    """Run the expert agent on ``n`` tasks of ``split`` and return its (winning) trajectories.

    ``noise`` perturbs that share of the expert's turns (see :class:`~mulligan.agents.expert.ExpertAgent`).
    """
    from mulligan.runner.rundir import RunDir
    from mulligan.runner.runner import RunConfig, run_suite

    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            env=HOUSEHOLD, split=split, tasks=n, agent="expert", concurrency=1, seed=seed, out=tmp,
            agent_options={"noise": noise, "noise_seed": seed},
        )
        asyncio.run(run_suite(config))
        trajs = RunDir(tmp).trajectories()
    return [t for t in trajs if t.success]


def demonstration_conversations(trajs: list[Trajectory]) -> list[list[Message]]:
    """The transcripts as training conversations; the expert's perturbed turns already carry train=False."""
    return [list(t.messages) for t in trajs]


def build_default_policy(out: Path, recipe: Recipe = RECIPE, *, progress: bool = True) -> dict:
    """Build the policy into ``out``; returns build metadata (also written to ``meta.json``)."""
    from rich.console import Console

    from mulligan.training.sft import train_sft
    from mulligan.training.tiny import build_tiny_model, build_tokenizer

    console = Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    console.print(f"[bold]Building the default policy[/bold] (first use; cached in {out})")
    with console.status(f"collecting {recipe.demos} expert demonstrations on household train"):
        trajs = collect_demonstrations(recipe.demos, seed=recipe.seed, noise=recipe.noise)
    conversations = demonstration_conversations(trajs)
    corpus = [m.content for conv in conversations for m in conv]
    tokenizer = build_tokenizer(corpus, vocab_size=recipe.vocab_size)
    model = build_tiny_model(
        tokenizer,
        hidden_size=recipe.hidden_size,
        num_layers=recipe.num_layers,
        num_heads=recipe.num_heads,
        seed=recipe.seed,
    )
    train_sft(
        conversations,
        model,
        tokenizer,
        out,
        epochs=recipe.epochs,
        lr=recipe.lr,
        batch_size=recipe.batch_size,
        max_length=recipe.max_length,
        seed=recipe.seed,
        progress=progress,
    )
    meta = {
        "recipe": recipe.model_dump(),
        "demonstrations": len(conversations),
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_s": time.perf_counter() - started,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    console.print(f"default policy built in {meta['build_s']:.0f} s ({meta['parameters']:,} parameters)")
    return meta


def ensure_default_policy(*, force: bool = False, progress: bool = True, recipe: Recipe = RECIPE) -> Path:
    """Path of the cached default policy, building it first if needed."""
    path = default_policy_dir(recipe)
    with _build_lock(path):
        if is_built(path) and not force:
            return path
        tmp = path.with_name(path.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build_default_policy(tmp, recipe, progress=progress)
        (tmp / "READY").write_text("ok\n")
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    return path


def resolve_default_policy() -> str:
    """The checkpoint path the model spec ``default`` runs (built on first use, with progress)."""
    return str(ensure_default_policy())


def register_default_policy() -> None:
    """Make the model spec ``default`` resolve to this policy (it does by default; this restores it)."""
    from mulligan.llm.spec import register_resolver

    register_resolver("mulligan.training.default_policy:resolve_default_policy", name="default")
