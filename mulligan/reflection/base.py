"""The two protocols of reflection: critics judge an action, reflectors turn a failure into a lesson.

Both are plain callables, sync or async; :func:`judge` and :func:`reflect` call either kind. A
critic reads a :class:`Proposal` (what the agent is about to do, or did, and what it knew then); a
reflector reads a failed :class:`~mulligan.records.Trajectory` and optional feedback text.

Hidden environment state reaches only critics marked ``privileged = True`` (teachers): agents put
the live env into :attr:`Proposal.env` for them alone.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence, Union, runtime_checkable

from mulligan.records import Critique, Reflection, Step, Trajectory

REFLECTION_PREFIX = "Reflection:"


@dataclass(frozen=True)
class Proposal:
    """An action an agent proposes (or, with ``outcome``, took) and what it knew when choosing it.

    Attributes:
        action: The parsed action; None when the reply could not be parsed.
        thought: The thought before the action, if any.
        goal: The task's goal sentence.
        history: The steps executed before this one, oldest first.
        first_observation: The episode's first observation (room and task).
        info: The env's latest ``info`` (admissible actions where the env lists them).
        outcome: The executed step, when a step is judged after the fact.
        env: The live env; set only for privileged critics.
        episode: The id of the episode's trajectory (model-backed critics key requests by it).
    """

    action: str | None
    thought: str | None = None
    goal: str = ""
    history: Sequence[Step] = ()
    first_observation: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    outcome: Step | None = None
    env: Any = None
    episode: str = ""

    @property
    def observation(self) -> str:
        """The observation the agent saw last before choosing the action."""
        return self.history[-1].observation if self.history else self.first_observation

    def actions(self) -> list[str]:
        """The executed actions so far, with this one last (format errors left out)."""
        done = [s.action for s in self.history if s.action is not None]
        return done + ([self.action] if self.action is not None else [])

    @classmethod
    def from_step(cls, traj: Trajectory, index: int, *, env: Any = None) -> "Proposal":
        """The proposal of an executed step of ``traj``, judged with its outcome."""
        step = traj.steps[index]
        return cls(
            action=step.action,
            thought=step.thought,
            goal=traj.goal,
            history=tuple(traj.steps[:index]),
            first_observation=first_observation(traj),
            outcome=step,
            env=env,
            episode=traj.id,
        )


@runtime_checkable
class Critic(Protocol):
    """Anything that maps a proposal to a verdict; ``privileged`` critics may read the env."""

    def __call__(self, proposal: Proposal) -> Critique | Awaitable[Critique]: ...


@runtime_checkable
class Reflector(Protocol):
    """Anything that maps a failed trajectory (and feedback) to a lesson."""

    def __call__(self, traj: Trajectory, feedback: str | None = None) -> Reflection | Awaitable[Reflection]: ...


CriticLike = Union[Critic, Callable[[Proposal], Any]]


def is_privileged(critic: Any) -> bool:
    """Whether a critic reads hidden env state (a teacher)."""
    return bool(getattr(critic, "privileged", False))


def critic_name(critic: Any) -> str:
    """A critic's name: its ``name`` attribute, else the function's name."""
    return str(getattr(critic, "name", None) or getattr(critic, "__name__", type(critic).__name__))


async def judge(critic: CriticLike, proposal: Proposal) -> Critique:
    """Call a sync or async critic; the critique is stamped with the critic's name if it has none."""
    out = critic(proposal)
    if inspect.isawaitable(out):
        out = await out
    if not out.critic:
        out.critic = critic_name(critic)
    return out


async def reflect(reflector: Any, traj: Trajectory, feedback: str | None = None) -> Reflection:
    """Call a sync or async reflector; the lesson always starts with ``"Reflection:"``."""
    out = reflector(traj, feedback)
    if inspect.isawaitable(out):
        out = await out
    text = out.text.strip()
    if not text.startswith(REFLECTION_PREFIX):
        text = f"{REFLECTION_PREFIX} {text}"
    return out.model_copy(update={"text": text, "traj_id": out.traj_id or traj.id})


class CriticChain:
    """Several critics as one: the first "bad" verdict wins; all "good" is good, else uncertain.

    Args:
        critics: The critics, asked in order (later ones are skipped after a "bad").
        name: The chain's name (default: the critics' names joined by ``+``).
    """

    def __init__(self, critics: Sequence[CriticLike], name: str | None = None):
        self.critics = list(critics)
        self.name = name or "+".join(critic_name(c) for c in self.critics)
        self.privileged = any(is_privileged(c) for c in self.critics)

    async def __call__(self, proposal: Proposal) -> Critique:
        """Ask each critic in turn (the env goes only to privileged ones)."""
        verdicts = []
        for critic in self.critics:
            seen = proposal if is_privileged(critic) else _without_env(proposal)
            critique = await judge(critic, seen)
            if critique.verdict == "bad":
                return critique
            verdicts.append(critique.verdict)
        verdict = "good" if verdicts and all(v == "good" for v in verdicts) else "uncertain"
        return Critique(verdict=verdict, critic=self.name)


def _without_env(proposal: Proposal) -> Proposal:
    return proposal if proposal.env is None else replace(proposal, env=None)


def first_observation(traj: Trajectory) -> str:
    """The env's first observation in a transcript (the first user message that is not memory)."""
    for m in traj.messages:
        if m.role in ("user", "tool") and m.kind not in ("memory", "feedback"):
            return m.content
    return ""


def episode_feedback(traj: Trajectory) -> str:
    """The env's verdict on an episode, in words (the feedback a reflector gets by default)."""
    if traj.success:
        return f"The task was completed in {traj.num_steps} steps."
    reasons = {
        "step limit": f"The task was not completed within the step limit ({traj.num_steps} steps).",
        "format errors": "The episode ended because the replies could not be parsed into actions.",
        "terminated": "The episode ended without completing the task.",
    }
    return reasons.get(traj.end_reason, f"The task was not completed ({traj.end_reason or 'unknown reason'}).")
