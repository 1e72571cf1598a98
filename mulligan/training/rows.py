"""What every export format shares: message dicts with ``train`` flags, rows, and turn boundaries.

A row is TRL's conversational format plus metadata::

    {"messages": [{"role": ..., "content": ..., "train": ...}, ...],
     "format": "sft", "source": "policy", "task_id": ..., "traj_id": ..., "env": ..., "success": ...}

Memory messages (Reflexion's lessons in the prompt) are never exported: a trained policy must act
well without them (Re-ReST).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from mulligan.records import Message, Step, Trajectory

REVISION_SENTENCE = "I realize my last action was a mistake; I will take a different approach."
"""Agent-R's canned revision thought, used when the error carries no explanation of its own."""


def message_dict(message: Message, train: bool | None = None) -> dict[str, Any]:
    """A message as an exported dict; ``train`` defaults to the message's own flag.

    Non-assistant messages always have ``train=False``; an assistant message whose flag is unset
    (None) is trained.
    """
    out = message.to_openai()
    if message.role == "assistant":
        out["train"] = bool(message.train is not False) if train is None else bool(train)
    else:
        out["train"] = False
    return out


def row(traj: Trajectory, messages: list[dict[str, Any]], fmt: str, *, source: str | None = None,
        **extra: Any) -> dict[str, Any]:
    """A conversational row with the metadata of ``traj`` (the trajectory it mainly comes from)."""
    return {
        "messages": messages,
        "format": fmt,
        "source": source or ("teacher" if teacher_touched(traj) else traj.source),
        "task_id": traj.task_id,
        "traj_id": traj.id,
        "env": traj.env,
        "success": traj.success,
        **extra,
    }


def teacher_touched(traj: Trajectory) -> bool:
    """Whether the teacher (privileged, hidden-state) judged or wrote any part of ``traj``."""
    if traj.source == "teacher":
        return True
    for step in traj.steps:
        critics = step.critique.critic.split("+") if step.critique is not None else []
        if step.info.get("teacher") or "teacher" in critics:
            return True
    return False


def without_memory(messages: Iterable[Message]) -> list[Message]:
    """The transcript with the memory (reflection) messages removed."""
    return [m for m in messages if m.kind != "memory"]


def first_marked_error(steps: list[Step]) -> int | None:
    """Position of the first step whose recorded critique is "bad" (see ``mark_first_error``)."""
    return next((j for j, s in enumerate(steps) if s.critique is not None and s.critique.verdict == "bad"), None)


@dataclass(frozen=True)
class Transcript:
    """A trajectory's messages (memory removed) aligned with its executed steps.

    Every executed env step appends exactly one message of kind ``observation``; the first such
    message is the env's first observation. Steps whose reply could not be parsed executed nothing
    and are left out of ``steps``.

    Attributes:
        traj: The trajectory.
        messages: Its messages without memory.
        steps: The executed steps, in order.
        observations: ``observations[j]`` is the index in ``messages`` of step j's observation.
        prompt_end: Index just past the first observation.
    """

    traj: Trajectory
    messages: list[Message]
    steps: list[Step]
    observations: list[int]
    prompt_end: int

    @classmethod
    def of(cls, traj: Trajectory) -> "Transcript | None":
        """Align a trajectory; None when its messages do not match its steps."""
        messages = without_memory(traj.messages)
        obs = [i for i, m in enumerate(messages) if m.kind == "observation"]
        steps = [s for s in traj.steps if s.action is not None]
        if not obs or len(obs) != len(steps) + 1:
            return None
        return cls(traj, messages, steps, obs[1:], obs[0] + 1)

    def turn_start(self, j: int) -> int:
        """Index of the first message of step j's turn."""
        return self.observations[j - 1] + 1 if j > 0 else self.prompt_end

    def reply(self, j: int) -> int:
        """Index of the assistant message whose action step j executed."""
        return max(i for i in range(self.turn_start(j), self.observations[j]) if self.messages[i].role == "assistant")

    def actions(self) -> list[tuple[str | None, str]]:
        """(action, observation) of each executed step: what two transcripts share in a prefix."""
        return [(s.action, s.observation) for s in self.steps]

    def same_prompt(self, other: "Transcript") -> bool:
        """Whether both start from the same prompt (system message and first observation)."""
        return [m.content for m in self.messages[: self.prompt_end]] == [
            m.content for m in other.messages[: other.prompt_end]
        ]

    def common_prefix(self, other: "Transcript") -> int:
        """How many executed steps this and ``other`` share from the start."""
        k = 0
        for a, b in zip(self.actions(), other.actions()):
            if a != b:
                break
            k += 1
        return k

    def first_error(self) -> int | None:
        """Position (in ``steps``) of the first executed step marked bad."""
        return first_marked_error(self.steps)


def revision_text(step: Step) -> str:
    """The reflection line that opens a revision turn after the wrong ``step``."""
    explanation = step.critique.explanation.strip() if step.critique is not None else ""
    return f"Reflection: {explanation or REVISION_SENTENCE}"
