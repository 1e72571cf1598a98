"""Counting what an export wrote: rows, tokens and trainable tokens, per source.

With a tokenizer the counts are exact (the same masks the trainer uses, from
:func:`~mulligan.training.masking.tokenize_conversation`); without one they are whitespace words.
DPO rows count both sides (prompt + chosen, prompt + rejected); their trainable tokens are the
two replies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from mulligan.training.masking import ChatTemplateError, tokenize_conversation


@dataclass
class Counts:
    """Rows, tokens and trainable tokens of one source (or of all)."""

    rows: int = 0
    tokens: int = 0
    trainable: int = 0

    def add(self, tokens: int, trainable: int) -> None:
        """Count one more row."""
        self.rows += 1
        self.tokens += tokens
        self.trainable += trainable


@dataclass
class ExportStats:
    """What one export wrote.

    Attributes:
        format: The format name.
        path: The JSONL file written.
        unit: ``"tokens (<tokenizer>)"`` or ``"whitespace words"``.
        by_source: Counts per row source.
        note: Why the counts are words, or how many rows the template could not render exactly.
    """

    format: str
    path: str
    unit: str
    by_source: dict[str, Counts] = field(default_factory=dict)
    note: str = ""

    @property
    def total(self) -> Counts:
        """The counts over all sources."""
        out = Counts()
        for c in self.by_source.values():
            out.rows, out.tokens, out.trainable = out.rows + c.rows, out.tokens + c.tokens, out.trainable + c.trainable
        return out

    def to_dict(self) -> dict[str, Any]:
        """The stats as JSON-ready data, with the totals."""
        return {**asdict(self), "total": asdict(self.total)}


def conversations_of(row: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The conversations a row trains on, with ``train`` flags (a DPO row: one per side)."""
    if "messages" in row:
        return [row["messages"]]
    prompt = [{**m, "train": False} for m in row["prompt"]]
    return [prompt + [{**m, "train": True} for m in row[side]] for side in ("chosen", "rejected")]


def _words(conversation: list[dict[str, Any]]) -> tuple[int, int]:
    tokens = sum(len(m["content"].split()) for m in conversation)
    trainable = sum(len(m["content"].split()) for m in conversation if m.get("train") and m["role"] == "assistant")
    return tokens, trainable


def count_rows(rows: Iterable[dict[str, Any]], fmt: str, path: str, tokenizer: Any = None,
               note: str = "") -> ExportStats:
    """Count ``rows`` with ``tokenizer`` (exact) or in whitespace words when it is None."""
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    stats = ExportStats(fmt, path, f"tokens ({name})" if tokenizer is not None else "whitespace words", note=note)
    failed = 0
    for row in rows:
        tokens = trainable = 0
        for conv in conversations_of(row):
            if tokenizer is None:
                n, t = _words(conv)
            else:
                try:
                    tc = tokenize_conversation(conv, tokenizer)
                    n, t = len(tc.input_ids), sum(tc.mask)
                except ChatTemplateError:
                    failed += 1
                    n, t = 0, 0
            tokens, trainable = tokens + n, trainable + t
        stats.by_source.setdefault(row.get("source", "?"), Counts()).add(tokens, trainable)
    if failed:
        problem = f"{failed} conversation(s) could not be tokenized exactly with the chat template (counted as 0)"
        stats.note = f"{note}; {problem}" if note else problem
    return stats
