"""The embedded default policy: a small transformer trained by mulligan's own recipe, shipped ready.

The weights, tokenizer, recipe and checksums live in ``mulligan/training/shipped_policy/``; the
model spec ``default`` runs them with no training. ``MULLIGAN_DEFAULT_POLICY=DIR`` points
``default`` at another checkpoint folder (one ``mulligan bootstrap --rebuild`` wrote, say).

The recipe (:class:`Recipe`, built by :mod:`mulligan.training.policy_build`): expert
demonstrations on household ``train`` whose thoughts carry the state the policy needs (the
task, what it holds, where the things it needs are, the next receptacle to try), object numbers
renumbered at random, some demonstrations with lessons or worked examples in the prompt; SFT of a
fresh byte-level BPE tokenizer and tiny Llama with TRL; then DAgger rounds in which the expert
labels the states the policy itself reaches. ``mulligan bootstrap --rebuild`` reproduces it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel

from mulligan.errors import MulliganError

SHIPPED_DIR = Path(__file__).with_name("shipped_policy")
"""Where the shipped policy lives in the package."""

POLICY_ENV_VAR = "MULLIGAN_DEFAULT_POLICY"
REBUILD_HINT = "rebuild it with `mulligan bootstrap --rebuild`"


class PolicyError(MulliganError):
    """The shipped default policy is missing or does not match its checksums."""


class Recipe(BaseModel):
    """How the default policy is built (:mod:`mulligan.training.policy_build`); its digest names the build."""

    demos: int = 3000
    """Expert demonstrations on ``train``."""
    noise: float = 0.15
    """Share of expert turns perturbed during collection (masked out; the recoveries are trained)."""
    lesson_demos: int = 150
    """Tasks retried by the expert after a failed attempt, with that attempt's lesson in the prompt."""
    memory_demos: int = 150
    """Demonstrations with worked examples retrieved from a memory of other expert wins."""
    memory_fill: int = 200
    """Expert wins that fill that memory."""
    renumber: bool = True
    """Renumber object instances at random in every conversation (the number must be copied)."""
    shuffled_rooms: float = 0.5
    """Share of demonstrations and DAgger tasks played in rooms whose receptacles are listed in a
    random order (``shuffle_receptacles``): the search order can only be read off the description."""
    renumber_receptacles: float = 0.5
    """Share of conversations whose receptacles are renumbered too (the next place must be read off
    the room description, not guessed as the next number)."""
    vocab_size: int = 1024
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 8
    epochs: float = 3.0
    lr: float = 2e-3
    batch_size: int = 8
    max_length: int = 3072
    dagger_rounds: int = 1
    """Rounds of DAgger after the first SFT."""
    dagger_tasks: int = 400
    """Train tasks per round on which the policy acts and the expert labels."""
    dagger_lesson_tasks: int = 100
    """Train tasks per round run as Reflexion: the policy's failures retried with their lessons."""
    dagger_memory_tasks: int = 50
    """Train tasks per round with worked examples in the prompt."""
    dagger_beta: float = 0.5
    """Where the policy's action differs from the expert's, the chance that the expert's runs."""
    dagger_epochs: float = 1.0
    dagger_lr: float = 1e-3
    replay: float = 1.0
    """Earlier conversations replayed in each round's fine-tuning, as a multiple of the new ones."""
    max_new_tokens: int = 128
    """Reply length cap while the policy collects its own data."""
    concurrency: int = 16
    seed: int = 0
    version: int = 2

    def digest(self) -> str:
        """A short hash of the recipe (what the build and its cache directory are named by)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:10]


RECIPE = Recipe()


def cache_root() -> Path:
    """Where mulligan caches built artefacts (``$MULLIGAN_HOME`` or ``~/.cache/mulligan``)."""
    return Path(os.environ.get("MULLIGAN_HOME") or Path.home() / ".cache" / "mulligan")


def rebuild_dir(recipe: Recipe = RECIPE) -> Path:
    """Where ``mulligan bootstrap --rebuild`` writes the policy a recipe builds."""
    return cache_root() / f"default-policy-{recipe.digest()}"


def is_built(path: Path) -> bool:
    return (path / "READY").exists()


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file of a checkpoint folder (``meta.json`` and ``READY`` aside)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in ("meta.json", "READY")
    }


def verify_policy(folder: Path) -> dict[str, Any]:
    """The policy's ``meta.json`` after checking every file against the checksums it lists.

    Raises:
        PolicyError: A file is missing, or differs from its checksum (one line, naming the rebuild).
    """
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        expected: dict[str, str] = meta["checksums"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PolicyError(f"the default policy in {folder} has no readable meta.json ({e}); {REBUILD_HINT}") from None
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise PolicyError(f"the default policy's {name} is missing from {folder}; {REBUILD_HINT}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise PolicyError(f"the default policy's {name} in {folder} is corrupted (checksum mismatch); {REBUILD_HINT}")
    return meta


def shipped_policy() -> Path:
    """The checked folder of the policy shipped with the package (raises :class:`PolicyError`)."""
    verify_policy(SHIPPED_DIR)
    return SHIPPED_DIR


def ensure_default_policy(**_: Any) -> Path:
    """The checkpoint folder the model spec ``default`` runs: ``$MULLIGAN_DEFAULT_POLICY``, else the
    shipped policy (checked against its checksums; never trained on use)."""
    override = os.environ.get(POLICY_ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not (path / "config.json").is_file():
            raise PolicyError(f"{POLICY_ENV_VAR}={override} is not a checkpoint folder (no config.json)")
        if (path / "meta.json").is_file():
            verify_policy(path)
        return path
    return shipped_policy()


def ship_policy(built: Path, evaluation: list[dict[str, Any]] | None = None) -> Path:
    """Copy a policy :func:`build_default_policy` wrote into the package, as the shipped one.

    Its ``meta.json`` keeps the build's facts and gains ``evaluation`` (rows of
    :func:`~mulligan.training.policy_build.evaluate_policy`); checksums are rewritten.
    """
    meta = verify_policy(built)
    staged = SHIPPED_DIR.with_name(SHIPPED_DIR.name + ".staged")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(built, staged, ignore=shutil.ignore_patterns("meta.json", "READY"))
    meta.pop("checksums", None)
    if evaluation is not None:
        meta["evaluation"] = evaluation
    meta["checksums"] = file_checksums(staged)
    (staged / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(SHIPPED_DIR, ignore_errors=True)
    staged.rename(SHIPPED_DIR)
    return SHIPPED_DIR


def resolve_default_policy() -> str:
    """The checkpoint path the model spec ``default`` runs."""
    return str(ensure_default_policy())


def register_default_policy() -> None:
    """Make the model spec ``default`` resolve to this policy (it does by default; this restores it)."""
    from mulligan.llm.spec import register_resolver

    register_resolver("mulligan.training.default_policy:resolve_default_policy", name="default")


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """One builder at a time across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_default_policy(out: Path, recipe: Recipe = RECIPE, *, progress: bool = True) -> Path:
    """Build ``recipe`` into ``out`` (resuming a build a killed run left in ``out.building``).

    Returns:
        ``out``, a checkpoint folder with ``meta.json`` (recipe, digest, data counts, parameters,
        build time, checksums) and a ``READY`` marker.
    """
    from mulligan.training.policy_build import build_policy

    out = Path(out)
    with _build_lock(out):
        if is_built(out):
            return out
        work = out.with_name(out.name + ".building")
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        final, counts = build_policy(work, recipe, progress=progress)
        staged = out.with_name(out.name + ".staged")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(final, staged, ignore=shutil.ignore_patterns("train_log.json", "checkpoint-*", "DONE"))
        write_meta(staged, recipe, **counts, build_s=round(time.perf_counter() - started, 1))
        (staged / "READY").write_text("ok\n")
        shutil.rmtree(out, ignore_errors=True)
        staged.rename(out)
        shutil.rmtree(work, ignore_errors=True)
    return out


def write_meta(folder: Path, recipe: Recipe, **facts: Any) -> dict[str, Any]:
    """Write ``meta.json``: the recipe, its digest, ``facts`` and the checksums of the folder's files."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    meta = {
        "recipe": recipe.model_dump(),
        "digest": recipe.digest(),
        "architecture": f"{config.model_type} {config.num_hidden_layers} layers x {config.hidden_size}",
        **facts,
        "checksums": file_checksums(folder),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
