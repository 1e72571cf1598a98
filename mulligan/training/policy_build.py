"""Building the household policy from its recipe: demonstrations, SFT, then DAgger rounds.

1. **Demonstrations** on ``train``: the expert (a share of its turns perturbed and masked out, so
   the recoveries are trained), some with worked examples retrieved from a memory of other expert
   wins in the prompt, and some retrying a task after a failed attempt with that attempt's lesson in
   the prompt (the expert then goes where the lesson says). Object numbers are renumbered at random
   in every conversation (:mod:`mulligan.training.relabel`).
2. **SFT** of a fresh tokenizer and tiny Llama on them (TRL, loss on the policy's turns only).
3. **DAgger rounds**: the policy runs on fresh ``train`` tasks while the expert labels every state
   it reaches (agent ``dagger``), retries the tasks it failed with its own lesson in the prompt
   (``dagger-reflexion``), and runs with worked examples in the prompt; the labelled episodes join
   the data and the policy is fine-tuned on them with a replay of the earlier data.

Every stage leaves its output in the build directory (``data-*.jsonl``, ``stage-*/``), so an
interrupted build resumes at the first unfinished stage.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from mulligan.agents.base import AgentConfig, EpisodeState
from mulligan.agents.expert import ExpertAgent
from mulligan.agents.reflexion import ReflexionAgent, ReflexionConfig
from mulligan.llm.base import Completion
from mulligan.records import Message, Trajectory
from mulligan.training.relabel import renumber

if TYPE_CHECKING:
    from mulligan.runner.runner import RunConfig
    from mulligan.training.default_policy import Recipe

HOUSEHOLD = "mulligan/Household-v0"
Conversation = list[Message]
Say = Callable[[str], None]

# Disjoint ranges of train task indices for each use, so no stage repeats another's tasks.
MEMORY_FILL_START = 5_000_000
LESSON_START = 6_000_000
MEMORY_DEMO_START = 7_000_000
DAGGER_START = 10_000_000
DAGGER_STRIDE = 1_000_000


def run_collection(config: "RunConfig", *, llm: Any = None, label: str = "", progress: bool = True) -> list[Trajectory]:
    """Run ``config`` into a temporary directory and return its trajectories (a bar while it runs)."""
    from mulligan.runner.rundir import RunDir
    from mulligan.runner.report import episode_progress
    from mulligan.runner.runner import run_suite

    with tempfile.TemporaryDirectory() as tmp:
        config = config.model_copy(update={"out": tmp})
        with episode_progress(config.tasks or 0, label or config.agent, enabled=progress) as on_episode:
            asyncio.run(run_suite(config, llm=llm, on_episode=on_episode))
        return RunDir(tmp).trajectories()


def train_conversations(trajs: Iterable[Trajectory], rng: random.Random, recipe: "Recipe", *,
                        first_trial: int = 0) -> list[Conversation]:
    """The transcripts of ``trajs`` that hold a trained turn, renumbered as the recipe says; trials
    before ``first_trial`` (a Reflexion agent's failed attempts by the plain policy) are left out."""
    out = []
    for t in trajs:
        if t.trial < first_trial or t.end_reason == "error":
            continue
        if not any(m.role == "assistant" and m.train is not False for m in t.messages):
            continue
        if recipe.renumber:
            out.append(renumber(t.messages, rng, receptacles=rng.random() < recipe.renumber_receptacles))
        else:
            out.append(list(t.messages))
    return out


def save_conversations(path: Path, conversations: list[Conversation]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for conv in conversations:
            f.write(json.dumps([m.model_dump(mode="json", exclude_none=True) for m in conv]) + "\n")
    tmp.rename(path)


def load_conversations(path: Path) -> list[Conversation]:
    with open(path) as f:
        return [[Message(**m) for m in json.loads(line)] for line in f if line.strip()]


def _stage_data(path: Path, make: Callable[[], list[Conversation]]) -> list[Conversation]:
    """The conversations of a stage: read back when a finished build left them, else made and saved."""
    if path.exists():
        return load_conversations(path)
    conversations = make()
    save_conversations(path, conversations)
    return conversations


def _config(recipe: "Recipe", **fields: Any) -> "RunConfig":
    from mulligan.runner.runner import RunConfig

    base = dict(env=HOUSEHOLD, split="train", concurrency=recipe.concurrency, seed=recipe.seed)
    return RunConfig(**{**base, **fields})


def collect(recipe: "Recipe", *, tasks: int, start: int = 0, label: str, llm: Any = None, progress: bool = True,
            **fields: Any) -> list[Trajectory]:
    """Run ``tasks`` train tasks from ``start``: the recipe's share of them in shuffled rooms."""
    shuffled = round(tasks * recipe.shuffled_rooms)
    parts = [(tasks - shuffled, start, {}, label),
             (shuffled, start + tasks, {"shuffle_receptacles": True}, f"{label} (shuffled rooms)")]
    out: list[Trajectory] = []
    for n, first, env_options, text in parts:
        if n:
            config = _config(recipe, tasks=n, start=first, env_options=env_options, **fields)
            out += run_collection(config, llm=llm, label=text, progress=progress)
    return out


def demonstrations(recipe: "Recipe", work: Path, *, progress: bool = True) -> list[Conversation]:
    """Stage 1: expert demonstrations, with lessons and with worked examples in some prompts."""
    rng = random.Random(recipe.seed)
    expert = {"noise": recipe.noise, "noise_seed": recipe.seed}
    trajs = collect(recipe, tasks=recipe.demos, agent="expert", agent_options=expert,
                    label="expert demonstrations", progress=progress)
    conversations = train_conversations((t for t in trajs if t.success), rng, recipe)
    if recipe.lesson_demos:
        retries = collect(recipe, tasks=recipe.lesson_demos, start=LESSON_START,
                          agent="mulligan.training.policy_build:FailThenRetry", agent_options={"seed": recipe.seed},
                          label="retries after a lesson", progress=progress)
        conversations += train_conversations((t for t in retries if t.success), rng, recipe, first_trial=1)
    if recipe.memory_demos:
        memory = work / "memory"
        fill_memory(recipe, memory, progress=progress)
        with_memory = collect(recipe, tasks=recipe.memory_demos, start=MEMORY_DEMO_START, agent="expert",
                              agent_options=expert, memory=str(memory), memory_options=MEMORY_READ,
                              label="demonstrations with memory", progress=progress)
        conversations += train_conversations((t for t in with_memory if t.success), rng, recipe)
    return conversations


MEMORY_READ = {"write": False, "dense": False, "lessons": 0}
"""How the build reads its memory: BM25 retrieval (no embedding model needed to build), examples only."""


def fill_memory(recipe: "Recipe", path: Path, *, progress: bool = True) -> None:
    """A memory of the expert's wins on train tasks of their own, for prompts with worked examples."""
    if path.exists():
        return
    tmp = path.with_name(path.name + ".filling")
    shutil.rmtree(tmp, ignore_errors=True)
    run_collection(
        _config(recipe, agent="expert", tasks=recipe.memory_fill, start=MEMORY_FILL_START,
                memory=str(tmp), memory_options={"write": True, "dense": False, "k": 0, "lessons": 0}),
        label="filling the memory", progress=progress,
    )
    tmp.rename(path)


def dagger_round(recipe: "Recipe", policy: Path, work: Path, round_index: int, *,
                 progress: bool = True) -> list[Conversation]:
    """Stage 3 (one round): the policy at ``policy`` acts, the expert labels what it reaches."""
    from mulligan.llm import make_llm
    from mulligan.runner.runner import _batched

    rng = random.Random(recipe.seed * 1000 + round_index)
    start = DAGGER_START + round_index * DAGGER_STRIDE
    policy_options = {"params": {"max_tokens": recipe.max_new_tokens}}
    dagger = {**policy_options, "beta": recipe.dagger_beta, "seed": recipe.seed + round_index}
    llm = _batched(make_llm(f"transformers:{policy}"))
    try:
        trajs = collect(recipe, tasks=recipe.dagger_tasks, start=start, agent="dagger", agent_options=dagger,
                        llm=llm, label=f"DAgger round {round_index + 1}", progress=progress)
        conversations = train_conversations(trajs, rng, recipe)
        if recipe.dagger_lesson_tasks:
            retries = collect(recipe, tasks=recipe.dagger_lesson_tasks, start=start + 500_000,
                              agent="dagger-reflexion", agent_options={**dagger, "trials": 3}, llm=llm,
                              label=f"DAgger round {round_index + 1}, retries with lessons", progress=progress)
            conversations += train_conversations(retries, rng, recipe, first_trial=1)
        if recipe.dagger_memory_tasks:
            fill_memory(recipe, work / "memory", progress=progress)
            with_memory = collect(recipe, tasks=recipe.dagger_memory_tasks, start=start + 800_000, agent="dagger",
                                  agent_options=dagger, memory=str(work / "memory"), memory_options=MEMORY_READ,
                                  llm=llm, label=f"DAgger round {round_index + 1}, with memory", progress=progress)
            conversations += train_conversations(with_memory, rng, recipe)
    finally:
        llm.close()
    return conversations


def with_replay(new: list[Conversation], earlier: list[Conversation], ratio: float, seed: int) -> list[Conversation]:
    """``new`` plus a random sample of ``earlier`` of ``ratio`` times its size (all of it if smaller)."""
    rng = random.Random(seed)
    k = min(len(earlier), int(len(new) * ratio))
    return new + rng.sample(earlier, k)


class FailThenRetryConfig(ReflexionConfig):
    """Options of :class:`FailThenRetry`: Reflexion's (two trials), and the seed of its draws."""

    trials: int = 2
    seed: int = 0
    """Seed of the wandering and of the expert's slips."""


class FailThenRetry(ReflexionAgent):
    """Build-only agent: a failed attempt, then the expert's retry with that attempt's lesson.

    Trial 0 is the noisy expert until a random turn, then random admissible commands until the step
    cap: a failure whose lesson holds real facts (where it looked, what it saw). Trial 1 is the
    expert reading that lesson in Reflexion's memory message, so it goes where the lesson says.
    """

    name = "fail-then-retry"
    needs_llm = False
    config_class = FailThenRetryConfig
    config: FailThenRetryConfig

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(None, config, **overrides)
        self.expert = ExpertAgent(noise=0.2, noise_seed=self.config.seed)
        self.rng = random.Random(self.config.seed)
        self.wander_from: dict[str, int] = {}

    @property
    def model_name(self) -> str:
        return "expert"

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        traj = state.traj
        if traj.trial == 0:
            start = self.wander_from.setdefault(traj.id, self.rng.randint(2, 25))
            if len(traj.steps) >= start:
                return Completion(text=f"Action: {self.rng.choice(state.info['admissible_actions'])}")
        return await self.expert.reply(messages, state)


def _train(conversations: list[Conversation], init: Any, tokenizer: Any, out: Path, *, epochs: float, lr: float,
           recipe: "Recipe", progress: bool) -> Path:
    """SFT into ``out`` unless a finished stage is already there."""
    from mulligan.training.sft import train_sft

    if (out / "DONE").exists():
        return out
    train_sft(conversations, init, tokenizer, out, epochs=epochs, lr=lr, batch_size=recipe.batch_size,
              max_length=recipe.max_length, seed=recipe.seed, progress=progress, logging_steps=25)
    (out / "DONE").write_text("ok\n")
    return out


def build_policy(work: Path, recipe: "Recipe", *, progress: bool = True,
                 say: Say | None = None) -> tuple[Path, dict[str, Any]]:
    """Run every stage of ``recipe`` in ``work`` (resuming finished stages); returns the last
    stage's checkpoint folder and counts (conversations per stage, parameters)."""
    from transformers import AutoTokenizer

    from mulligan.training.tiny import build_tiny_model, build_tokenizer

    say = say or (print if progress else (lambda _: None))
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    data = _stage_data(work / "data-0.jsonl", lambda: demonstrations(recipe, work, progress=progress))
    say(f"stage 0: {len(data)} demonstrations")
    stage = work / "stage-0"
    if (stage / "DONE").exists():
        tokenizer = AutoTokenizer.from_pretrained(stage)
        init: Any = stage
    else:
        tokenizer = build_tokenizer([m.content for conv in data for m in conv if m.content], recipe.vocab_size)
        init = build_tiny_model(tokenizer, hidden_size=recipe.hidden_size, num_layers=recipe.num_layers,
                                num_heads=recipe.num_heads, seed=recipe.seed)
    current = _train(data, init, tokenizer, stage, epochs=recipe.epochs, lr=recipe.lr, recipe=recipe,
                     progress=progress)
    counts: dict[str, Any] = {"demonstrations": len(data)}
    for r in range(recipe.dagger_rounds):
        new = _stage_data(work / f"data-{r + 1}.jsonl",
                          lambda: dagger_round(recipe, current, work, r, progress=progress))
        say(f"DAgger round {r + 1}: {len(new)} labelled episodes")
        counts[f"dagger_round_{r + 1}"] = len(new)
        current = _train(with_replay(new, data, recipe.replay, recipe.seed + r), current, tokenizer,
                         work / f"stage-{r + 1}", epochs=recipe.dagger_epochs, lr=recipe.dagger_lr, recipe=recipe,
                         progress=progress)
        data = data + new
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(current)
    counts["conversations"] = len(data)
    counts["parameters"] = _parameters(config)
    counts["stages_s"] = time.perf_counter() - started
    return current, counts


def _parameters(config: Any) -> int:
    from transformers import AutoModelForCausalLM

    return sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())


def evaluate_policy(checkpoint: Path, *, tasks: int, splits: Iterable[str] = ("unseen", "seen"),
                    admissible: str = "off", concurrency: int = 16, progress: bool = True) -> list[dict[str, Any]]:
    """Greedy ReAct runs of ``checkpoint`` on the first ``tasks`` tasks of each household split.

    Returns:
        One row per split: ``split``, ``admissible``, ``tasks``, ``success``, ``avg_steps``,
        ``invalid`` (share of actions with no effect), ``wall_s``.
    """
    from mulligan.runner.runner import RunConfig

    rows = []
    for split in splits:
        options: dict[str, Any] = {"admissible": admissible} if admissible != "off" else {}
        started = time.perf_counter()
        trajs = run_collection(
            RunConfig(env=HOUSEHOLD, split=split, tasks=tasks, model=f"transformers:{checkpoint}",
                      concurrency=concurrency, agent_options=options),
            label=f"evaluating on {split}", progress=progress,
        )
        steps = sum(t.num_steps for t in trajs)
        rows.append({
            "split": split, "admissible": admissible, "tasks": len(trajs),
            "success": sum(t.success for t in trajs) / max(1, len(trajs)),
            "avg_steps": steps / max(1, len(trajs)),
            "invalid": sum(t.invalid_steps for t in trajs) / max(1, steps),
            "wall_s": round(time.perf_counter() - started, 1),
        })
    return rows
