"""The tree-search collector (Agent-R): MCTS over the policy's own replies, then splices.

Per task, each of ``iterations`` descents starts at the root and, until it reaches a terminal
node, expands the node it stands on (``samples`` replies sampled from the policy, de-duplicated by
parsed action, each run on a copy of the env) and moves to the child with the best UCT score
(:mod:`mulligan.agents.tree`). A node is terminal when its episode ended: won, the env's step
cap, the depth cap, or too many unparseable replies; the leaf value is 1 for a win and 0
otherwise, backed up when the leaf is created.

Path collection (:mod:`mulligan.agents.search_paths`) then returns, as trajectories of the task:

- winning paths (``source="search"``, the shortest ``max_good``): the policy's own successes;
- failed paths (``source="search"``, unmarked, so exporters do not pair them again);
- splices (``source="splice"``): a failed path cut at its first error, a revision turn, and a
  winning path's continuation from the same state, at most ``max_splices``.

The first error is located by ``verifier``: ``env`` (the first action the env answered with no
effect: no model, no hidden state; what a tiny policy can use), ``model`` (the policy as
verifier, Agent-R's choice) or ``teacher`` (the expert replays the path; every splice it locates
is teacher data, which exporters keep apart from policy data).

The search runs its branches on copies of the env: the env's own ``clone()`` where it has one
(TextWorld replays its actions on a fresh game), else ``copy.deepcopy`` (the household).
"""

from __future__ import annotations

import copy
import random
import time
from typing import Any, Literal

import gymnasium as gym
from pydantic import Field

from mulligan.agents.base import AgentConfig, EpisodeState, reset_env
from mulligan.agents.react import ReActAgent
from mulligan.agents.search_paths import closest_win, path_trajectory, splice_point, splice_trajectory
from mulligan.agents.tree import UCT_C, Node, backup, best_child, leaves
from mulligan.errors import ConfigError, FormatError
from mulligan.llm.base import ChatRequest, Completion, GenerationParams
from mulligan.records import Message, Step, Trajectory, Usage
from mulligan.reflection import (
    FirstError,
    first_error_by_env,
    first_error_by_teacher,
    first_error_by_verifier,
    normalize_action,
)


def clone_env(env: Any) -> Any:
    """An independent copy of an env in its current state: its ``clone()`` (the env contract's
    hook for tree search), else a deep copy."""
    return env.clone() if hasattr(env, "clone") else copy.deepcopy(env)


class SearchConfig(AgentConfig):
    """Options of the tree-search collector."""

    iterations: int = 4
    """Root-to-terminal descents per task (Agent-R's ``ITERA``)."""
    samples: int = 4
    """Replies sampled per expansion (``N_GEN``), before de-duplication by parsed action."""
    max_depth: int | None = 30
    """Replies per path at most (``MAX_DEPTH``); None: only the env's step cap."""
    exploration: float = UCT_C
    """The UCT constant."""
    verifier: Literal["env", "model", "teacher"] = "env"
    """Who locates a failed path's first error (see the module docstring)."""
    max_good: int = 3
    """Winning paths returned per task at most (the shortest)."""
    max_splices: int = 4
    """Splices returned per task at most."""
    loose: bool = False
    """Also splice where the continuation starts from another state (Agent-R does)."""
    seed: int = 0
    """Seed of the tie-breaking between equally scored children."""
    use_tools: bool = False
    params: GenerationParams = Field(default_factory=lambda: GenerationParams(temperature=1.0, max_tokens=128))
    """Sampling of the expansions; the temperature must be above 0 (distinct replies)."""


class _Tree:
    """One task's search: the tree, its counters and its expansion."""

    def __init__(self, agent: "SearchAgent", root: Node, state: EpisodeState, cap: int):
        self.agent, self.root, self.state, self.cap = agent, root, state, cap
        self.episode = state.traj.id
        self.config: SearchConfig = agent.config
        self.rng = random.Random(f"{self.config.seed}|{state.traj.task_id}")
        self.nodes = 1
        self.generations = 0
        self.usage = Usage()
        self.error: str | None = None

    async def run(self) -> None:
        for _ in range(self.config.iterations):
            node: Node | None = self.root
            while node is not None and not node.terminal:
                if not node.expanded:
                    await self.expand(node)
                child = best_child(node, self.rng, self.config.exploration)
                if child is None:
                    node.terminal = True
                node = child
            if self.root.terminal:
                return

    async def expand(self, node: Node) -> None:
        """Sample replies at ``node`` and add one child per distinct action."""
        request = ChatRequest(
            messages=node.transcript(), params=self.config.params, episode_id=f"{self.episode}:{node.id}"
        )
        completions = await self.agent.llm.generate([request] * max(1, self.config.samples))
        seen: set[str | None] = set()
        for completion in completions:
            self.generations += 1
            self.usage.add(completion.usage)
            if completion.error or completion.exhausted:
                self.error = completion.error or "script exhausted"
                continue
            try:
                parsed = self.agent._parse(completion, self.state)
                key: str | None = normalize_action(parsed.action)
            except FormatError as e:
                parsed, key = e, None
            if key in seen:
                continue
            seen.add(key)
            child = self.child(node, completion, parsed)
            node.children.append(child)
            if child.terminal:
                backup(child, 1.0 if child.won else 0.0)
        node.expanded = True
        if not node.children:
            node.terminal = True

    def child(self, node: Node, completion: Completion, parsed: Any) -> Node:
        """The node a reply leads to; an unparseable reply (``parsed`` is the FormatError) leaves the env as is."""
        depth, number = node.depth + 1, self.nodes
        self.nodes += 1
        step = Step(t=node.depth, raw=completion.text, latency_s=completion.latency_s, tokens=completion.usage,
                    info={**completion.meta, "node": number}, token_ids=completion.token_ids,
                    logprobs=completion.logprobs)
        end = "depth cap" if depth >= self.cap else None
        if isinstance(parsed, FormatError):
            step.valid, step.observation = False, str(parsed)
            errors = node.format_errors + 1
            turn = [Message(role="assistant", content=completion.text, train=False, kind="action"),
                    Message(role="user", content=str(parsed), kind="feedback")]
            if errors >= self.config.max_format_errors:
                end = "format errors"
            return Node(number, depth, turn, env=node.env, step=step, info=node.info, parent=node,
                        format_errors=errors, terminal=end is not None, end=end)
        env = clone_env(node.env)
        observation, reward, terminated, truncated, info = env.step(parsed.action)
        step.action, step.thought = parsed.action, parsed.thought
        step.observation, step.reward = str(observation), float(reward)
        step.valid, step.done = bool(info.get("valid", True)), bool(terminated or truncated)
        turn = [self.agent._assistant_message(completion),
                self.agent._observation_message(step.observation, completion)]
        if info.get("won"):
            end = "won"
        elif terminated or truncated:
            end = "terminated" if terminated else "step limit"
        return Node(number, depth, turn, env=env, step=step, info=info, parent=node,
                    terminal=end is not None, end=end)


class SearchAgent(ReActAgent):
    """Agent-R's tree-search collector (see the module docstring)."""

    name = "search"
    source = "search"
    config_class = SearchConfig
    config: SearchConfig

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(llm, config, **overrides)
        if self.config.params.temperature <= 0 and self.config.samples > 1:
            raise ConfigError("the search samples several replies per state: give it a temperature above 0")

    async def run_task(self, env: gym.Env, task_id: str, *, key: str, seed: int | None = None) -> list[Trajectory]:
        """Search the task; returns its winning paths, failed paths and splices (module docstring)."""
        if self.llm is None:
            raise ValueError("the search agent needs an LLM (--model)")
        started = time.perf_counter()
        observation, info = await reset_env(env, task_id, seed)
        base = Trajectory(
            key=key, env=env.spec.id if env.spec else type(env.unwrapped).__name__, task_id=task_id,
            split=info.get("split"), goal=str(info.get("goal", "")), agent=self.name, model=self.model_name,
            source="search",
        )
        root = Node(0, 0, self.initial_messages(str(observation), info), env=clone_env(env.unwrapped), info=info)
        cap = int(getattr(env.unwrapped, "max_steps", 50))
        tree = _Tree(self, root, EpisodeState(env, base, info), min(cap, self.config.max_depth or cap))
        await tree.run()
        # A tree without a finished episode (the model gave no usable reply) is still a record of the task.
        trajs = await self._collect(root, base, env) or [
            base.model_copy(update={"messages": list(root.turn), "end_reason": "no replies", "error": tree.error})
        ]
        stats = {"nodes": tree.nodes, "generations": tree.generations, "leaves": len(leaves(root))}
        for t in trajs:
            t.search = stats  # type: ignore[attr-defined]
        trajs[0].usage, trajs[0].wall_s = tree.usage, time.perf_counter() - started
        return trajs

    async def _collect(self, root: Node, base: Trajectory, env: gym.Env) -> list[Trajectory]:
        ends = leaves(root)
        wins = sorted((n for n in ends if n.won), key=lambda n: n.depth)
        fails = sorted((n for n in ends if not n.won), key=lambda n: n.depth)
        good = [path_trajectory(n, base) for n in wins[: self.config.max_good]]
        bad = [path_trajectory(n, base) for n in fails]
        splices: list[Trajectory] = []
        made: set[tuple[int, int]] = set()
        for leaf, traj in zip(fails, bad):
            if len(splices) >= self.config.max_splices or not wins:
                break
            error = await self._first_error(traj, env)
            win = closest_win(leaf, wins)
            point = splice_point(leaf, win, error, loose=self.config.loose) if error and win else None
            if point is None:
                continue
            # Failed paths below the same wrong reply give the same splice onto the same win.
            identity = (leaf.path()[point.error].id, win.id)
            if identity not in made:
                made.add(identity)
                splices.append(splice_trajectory(leaf, win, point, error, base, traj))
        return good + bad + splices

    async def _first_error(self, traj: Trajectory, env: gym.Env) -> FirstError | None:
        if self.config.verifier == "model":
            return await first_error_by_verifier(traj, self.llm)
        if self.config.verifier == "teacher":
            return first_error_by_teacher(traj, env)
        return first_error_by_env(traj)
