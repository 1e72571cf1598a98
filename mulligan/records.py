"""Typed records that flow through mulligan, and crash-safe JSONL files of them.

The transcript the policy saw (``Trajectory.messages``) is the training sequence: each assistant
message carries ``train`` and ``kind``, which the exporters turn into exact loss masks.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mulligan.errors import CorruptFileError

FORMAT = "mulligan-1"
"""Schema version written into every trajectory; bump it when a field changes meaning."""

Role = Literal["system", "user", "assistant", "tool"]
MessageKind = Literal["prompt", "observation", "action", "reflection", "revision", "feedback", "memory"]
Source = Literal["policy", "reflexion-retry", "reflector", "teacher", "search", "splice", "expert", "scripted"]
Verdict = Literal["good", "bad", "uncertain"]


def new_id(prefix: str = "") -> str:
    """A short random id, optionally prefixed (``traj-3f9c...``)."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class ToolCall(Record):
    """A native tool call made by the model."""

    id: str = Field(default_factory=lambda: new_id("call_"))
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(Record):
    """One chat message. ``train``/``kind`` matter only on assistant messages."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    train: bool | None = None
    """Whether the exporter puts loss on this message (assistant messages only)."""
    kind: MessageKind | None = None

    def to_openai(self) -> dict[str, Any]:
        """The message as an OpenAI chat-completions dict (no mulligan-only fields)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in self.tool_calls
            ]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


class Usage(Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


class Critique(Record):
    """A critic's verdict on a step or a proposed action."""

    verdict: Verdict
    explanation: str = ""
    suggestion: str | None = None
    critic: str = ""
    step: int | None = None


class Reflection(Record):
    """A lesson written after a failed trial."""

    text: str
    reflector: str = ""
    traj_id: str | None = None
    next_traj_id: str | None = None
    return_before: float | None = None
    return_after: float | None = None


class Retrieved(Record):
    """One thing a memory gave an episode: a worked example or a lesson, with its retrieval score."""

    id: str = ""
    """Id of the memory entry (``exp-...`` or ``lesson-...``)."""
    kind: Literal["experience", "lesson"] = "experience"
    score: float = 0.0
    """Fused reciprocal-rank score (experience) or 1.0 (lessons of the same task)."""
    dense_rank: int | None = None
    bm25_rank: int | None = None


class Step(Record):
    """One turn of an episode: what the agent did and what the environment answered."""

    t: int
    thought: str | None = None
    action: str | None = None
    """The parsed action sent to the env; None when the reply could not be parsed."""
    raw: str = ""
    """The model's reply as generated."""
    observation: str = ""
    reward: float = 0.0
    valid: bool = True
    """False for format errors and for actions the env rejected or that had no effect."""
    done: bool = False
    critique: Critique | None = None
    latency_s: float = 0.0
    tokens: Usage = Field(default_factory=Usage)
    info: dict[str, Any] = Field(default_factory=dict)
    token_ids: list[int] | None = None
    """The token ids the backend generated for ``raw``, end-of-sequence token included, exactly as sampled
    (vLLM and transformers backends; None where the backend does not say). RL trains on these, never on
    a re-tokenisation of ``raw``."""
    logprobs: list[float] | None = None
    """One log-probability per ``token_ids`` entry, under the distribution it was sampled from."""


class Trajectory(Record):
    """One episode of one agent on one task."""

    format: str = FORMAT
    id: str = Field(default_factory=lambda: new_id("traj-"))
    key: str = ""
    """Unique key of the episode inside a run (task id, plus trial where an agent retries)."""
    env: str
    task_id: str
    split: str | None = None
    task_type: str | None = None
    """The env's kind of task (its ``info["task_type"]``), where the env says."""
    goal: str = ""
    agent: str = ""
    model: str = ""
    source: Source = "policy"
    messages: list[Message] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    success: bool = False
    recovered: bool = False
    """Won after a failed attempt in the same episode (a failed test, a corrected step)."""
    reward: float = 0.0
    end_reason: str = ""
    error: str | None = None
    trial: int = 0
    parent_id: str | None = None
    iteration: int | None = None
    reflections: list[Reflection] = Field(default_factory=list)
    retrieved: list[Retrieved] = Field(default_factory=list)
    """What a memory put in this episode's prompt (empty without ``--memory``)."""
    usage: Usage = Field(default_factory=Usage)
    wall_s: float = 0.0
    retries: list[str] = Field(default_factory=list)
    """Why earlier attempts at this episode were lost and it ran again (a Ray worker or engine died)."""
    created: float = Field(default_factory=time.time)

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def invalid_steps(self) -> int:
        return sum(1 for s in self.steps if not s.valid)


class PreferencePair(Record):
    """A DPO row: at the same state, a chosen continuation preferred over a rejected one."""

    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    margin: float = 1.0


R = TypeVar("R", bound=BaseModel)


def append_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]], *, fsync: bool = True) -> None:
    """Append records to a JSONL file, each line written whole.

    One ``write`` per line, so a killed process leaves at most one torn last line, which
    :func:`read_jsonl` detects and :func:`repair_jsonl` drops. Written lines survive a killed
    process as soon as this returns; ``fsync`` also makes them survive a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        for rec in records:
            data = rec.model_dump_json() if isinstance(rec, BaseModel) else json.dumps(rec)
            f.write(data.encode("utf-8") + b"\n")
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (line number, line without newline, whether it ended with a newline)."""
    try:
        with open(path, "rb") as f:
            for i, line in enumerate(f, start=1):
                complete = line.endswith(b"\n")
                yield i, line.rstrip(b"\r\n"), complete
    except IsADirectoryError:
        raise CorruptFileError(f"{path}: is a folder, not a JSONL file") from None
    except OSError as e:
        raise CorruptFileError(f"{path}: cannot read it ({e.strerror or e})") from None


def iter_jsonl(path: str | Path, model: type[R] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, record)`` of a JSONL file, as :func:`read_jsonl` reads it.

    Raises:
        CorruptFileError: An unreadable file or line (file and line named).
    """
    path = Path(path)
    if not path.exists():
        return
    entries = list(_lines(path))
    for i, raw, complete in entries:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            record = model.model_validate(obj) if model is not None else obj
        except Exception as e:  # noqa: BLE001 - reported with its place in the file
            if i == len(entries) and not complete:
                continue
            raise CorruptFileError(f"{path}:{i}: unreadable record ({_one_line(e)})") from e
        yield i, record


def _one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ())) or 'record'}: {first.get('msg')}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def read_jsonl(path: str | Path, model: type[R] | None = None) -> list[Any]:
    """Read a JSONL file; a torn last line is dropped, a broken line elsewhere is an error.

    A last line that is unterminated *and* does not parse is the mark of a writer killed
    mid-line: it is skipped. Any other unparseable line raises :class:`CorruptFileError` with
    the file and line number, rather than silently losing records.
    """
    return [record for _, record in iter_jsonl(path, model)]


def repair_jsonl(path: str | Path) -> int:
    """Truncate a torn last line (a writer killed mid-line). Returns the bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    cut = data.rfind(b"\n") + 1
    last = data[cut:]
    try:
        json.loads(last)
        # A whole record that only lacks its newline: keep it.
        with open(path, "ab") as f:
            f.write(b"\n")
        return 0
    except ValueError:
        with open(path, "r+b") as f:
            f.truncate(cut)
        return len(last)
