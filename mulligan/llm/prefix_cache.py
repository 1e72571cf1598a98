"""Key/value caches of earlier prompts, reused when a new prompt starts with the same tokens.

An agent's next prompt is its previous prompt plus the reply and one new observation, so nearly
every token of it was already run through the model on the previous turn. :class:`PrefixCache`
keeps the per-layer keys and values of recent sequences; :meth:`PrefixCache.take` finds the entry
sharing the longest token prefix with a new prompt and hands it over, and the backend only runs the
remaining tokens. Entries are found by content, so no episode id has to reach the backend, and a
prompt that diverges early (another task, a retried turn) simply reuses less.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class CachedPrefix:
    """The token ids of one sequence and, per layer, its keys and values (``[heads, len, dim]``)."""

    ids: np.ndarray
    layers: list[tuple[Any, Any]]


def common_prefix_len(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading tokens two id arrays share."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


class PrefixCache:
    """A bounded LRU of cached sequences, looked up by longest shared token prefix.

    Args:
        capacity: Most sequences kept; the least recently used goes first. 0 keeps none.
        min_reuse: A shared prefix shorter than this is not worth a lookup hit.
    """

    def __init__(self, capacity: int = 64, *, min_reuse: int = 16):
        self.capacity = max(0, int(capacity))
        self.min_reuse = min_reuse
        self._entries: OrderedDict[int, CachedPrefix] = OrderedDict()
        self._next_key = 0
        self.hits = 0
        self.reused_tokens = 0
        self.lookups = 0

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, ids: list[int]) -> tuple[CachedPrefix | None, int]:
        """Remove and return the entry sharing the longest prefix with ``ids``, and that length.

        The length is capped at ``len(ids) - 1``: the model must run at least one new token to
        produce the next-token logits. Returns ``(None, 0)`` when nothing shares ``min_reuse`` tokens.
        """
        key, shared = self._best(ids)
        return (None, 0) if key is None else (self._entries.pop(key), shared)

    def peek(self, ids: list[int]) -> tuple[CachedPrefix | None, int]:
        """Like :meth:`take`, but the entry stays (a side computation such as scoring reads it)."""
        key, shared = self._best(ids)
        return (None, 0) if key is None else (self._entries[key], shared)

    def _best(self, ids: list[int]) -> tuple[int | None, int]:
        self.lookups += 1
        if not self._entries or len(ids) < 2:
            return None, 0
        query = np.asarray(ids, dtype=np.int64)
        best_key, best_len = None, 0
        for key, entry in self._entries.items():
            shared = common_prefix_len(entry.ids, query)
            if shared > best_len:
                best_key, best_len = key, shared
        best_len = min(best_len, len(ids) - 1)
        if best_key is None or best_len < self.min_reuse:
            return None, 0
        self.hits += 1
        self.reused_tokens += best_len
        return best_key, best_len

    def put(self, ids: list[int], layers: list[tuple[Any, Any]]) -> None:
        """Keep a sequence's keys and values (``layers[i] = (keys, values)``, each ``[heads, len, dim]``)."""
        if self.capacity == 0:
            return
        self._entries[self._next_key] = CachedPrefix(np.asarray(ids, dtype=np.int64), layers)
        self._next_key += 1
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
