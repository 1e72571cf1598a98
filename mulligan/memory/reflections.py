"""The per-task reflection buffer (Reflexion's memory): the last few lessons of each task.

Rendered into the prompt of the next trial as one message::

    Your memory for the task below:
    Trial 0: Reflection: ...
    Trial 1: Reflection: ...
"""

from __future__ import annotations

from collections import defaultdict, deque

from mulligan.records import Message, Reflection

MEMORY_HEADER = "Your memory for the task below:"


class ReflectionMemory:
    """Keeps the last ``size`` reflections per task, each with the trial it was written after.

    Args:
        size: Reflections kept per task (Reflexion keeps 3).
    """

    def __init__(self, size: int = 3):
        self.size = size
        self._tasks: dict[str, deque[tuple[int, Reflection]]] = defaultdict(lambda: deque(maxlen=size))

    def add(self, task_id: str, trial: int, reflection: Reflection) -> None:
        """Remember the lesson written after ``trial`` of ``task_id`` (the oldest drops out)."""
        self._tasks[task_id].append((trial, reflection))

    def get(self, task_id: str) -> list[Reflection]:
        """The kept reflections of a task, oldest first."""
        return [r for _, r in self._tasks.get(task_id, ())]

    def render(self, task_id: str) -> str | None:
        """The memory text of a task, or None while it has no reflection."""
        entries = self._tasks.get(task_id)
        if not entries:
            return None
        lines = [f"Trial {trial}: {r.text.strip()}" for trial, r in entries]
        return "\n".join([MEMORY_HEADER, *lines])

    def preamble(self, task_id: str) -> list[Message]:
        """The memory as messages to insert after the system prompt (empty while there is none)."""
        text = self.render(task_id)
        return [Message(role="user", content=text, kind="memory")] if text else []
